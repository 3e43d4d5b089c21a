//! Self-contained links: a scenario, a schedule and a cursor in one URL fragment.
//!
//! A link needs no server: everything needed to show a step is in the fragment, so it opens the
//! same way from a static copy of the app, from the server, and in five years (the format is
//! versioned; a later mmrace keeps reading `v1`).
//!
//! # Format `v1`
//!
//! ```text
//! #v1.<payload>
//! payload = base64url( deflate( json ) )
//! json    = {"scenario":<scenario>,"schedule":"<runs>","cursor":<n>[,"schedule_name":"<name>"]}
//! ```
//!
//! - The fragment starts with `v`, the decimal format version, and a `.`; the leading `#` is
//!   optional when decoding. Only version 1 exists.
//! - `base64url` is RFC 4648 §5 (`A–Z a–z 0–9 - _`) **without** `=` padding (padding is
//!   tolerated when decoding, nothing else is).
//! - `deflate` is raw DEFLATE (RFC 1951, no zlib or gzip header), as written by
//!   `miniz_oxide` at level 9 (`DecompressionStream("deflate-raw")` reads it in a browser).
//! - `json` is compact UTF-8 JSON with the keys in this order:
//!   - `scenario`: the scenario in its canonical form — the [`Scenario`] serialised compactly
//!     (struct field order, defaults omitted), exactly what [`Scenario::from_json`] reads;
//!   - `schedule`: the thread of each step as space-separated runs `T` or `TxN` (thread `T`
//!     for `N ≥ 2` steps), e.g. `"0x6 1x9 0 2x4"`; `""` is the empty schedule. This is the
//!     compact schedule syntax of [`crate::schedule`] without `*`;
//!   - `cursor`: how many steps of the schedule are applied (`0..=len`);
//!   - `schedule_name` (optional): the named schedule of the scenario the schedule came from,
//!     so that the author's narration (`notes`) is shown.
//! - Limits: the fragment is at most [`MAX_FRAGMENT`] characters, the inflated JSON at most
//!   [`MAX_DECODED`] bytes, the schedule at most [`crate::machine::MAX_STEPS`] steps.
//!
//! Encoding is deterministic: the same (scenario, schedule, cursor, name) gives the same link
//! natively and in wasm. Decoding validates everything — the scenario (errors name the JSON path
//! inside the link, e.g. `scenario.threads[1].ops[0].to_pfn`), every step of the schedule (each
//! must name a thread that is runnable at that point) and the cursor — and returns a
//! [`LinkError`] that says what is wrong.

use serde::{Deserialize, Serialize};

use crate::scenario::{Scenario, ScenarioError};

/// The format version written by [`Link::encode`].
pub const VERSION: u32 = 1;
/// The most characters of fragment accepted (after the optional `#`).
pub const MAX_FRAGMENT: usize = 64 * 1024;
/// The most bytes the payload may inflate to.
pub const MAX_DECODED: usize = 256 * 1024;
/// The DEFLATE level used by [`Link::encode`] (part of the format's determinism).
const LEVEL: u8 = 9;

/// What a link holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub scenario: Scenario,
    /// The thread of each step.
    pub schedule: Vec<usize>,
    /// Steps applied (`0..=schedule.len()`).
    pub cursor: usize,
    /// The named schedule of `scenario` this schedule came from (for its narration).
    pub schedule_name: Option<String>,
}

/// The JSON inside the link, as written.
#[derive(Serialize)]
struct PayloadOut<'a> {
    scenario: &'a Scenario,
    schedule: String,
    cursor: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_name: Option<&'a str>,
}

/// The JSON inside the link, as read (the scenario is validated separately, so that its
/// errors name their path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// Kept as text: `Scenario::from_json` reads it, so that its errors name their path.
    scenario: Box<serde_json::value::RawValue>,
    schedule: String,
    cursor: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule_name: Option<String>,
}

/// Why a link could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not an mmrace link: it should start with `#v1.` followed by the link data")]
    BadPrefix,
    #[error(
        "this link uses format v{version}, which this mmrace cannot read (it reads v{VERSION})"
    )]
    UnsupportedVersion { version: u32 },
    #[error("the link is damaged at character {position}: {detail}")]
    BadBase64 { position: usize, detail: String },
    #[error("the link is damaged: its data does not decompress ({detail})")]
    BadDeflate { detail: String },
    #[error("the link is too large: its {what} is {size} bytes; the limit is {limit}")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("the link's data is not valid at `{path}`: {message}")]
    BadPayload { path: String, message: String },
    #[error("the link's scenario is invalid at `{}`: {}", .0.path, .0.message)]
    InvalidScenario(ScenarioError),
    #[error("the link's schedule is invalid: {message}")]
    BadSchedule { message: String },
    #[error("step {index} of the link's schedule cannot be taken: {reason}")]
    StepNotRunnable {
        index: usize,
        thread: usize,
        reason: String,
    },
    #[error("the link's cursor {cursor} is beyond its schedule of {len} steps")]
    CursorOutOfRange { cursor: usize, len: usize },
}

impl LinkError {
    /// A stable machine-readable name for the error kind (for JSON APIs and the CLI).
    pub fn kind(&self) -> &'static str {
        match self {
            LinkError::BadPrefix => "bad-prefix",
            LinkError::UnsupportedVersion { .. } => "unsupported-version",
            LinkError::BadBase64 { .. } => "bad-base64",
            LinkError::BadDeflate { .. } => "bad-deflate",
            LinkError::TooLarge { .. } => "too-large",
            LinkError::BadPayload { .. } => "bad-payload",
            LinkError::InvalidScenario(_) => "invalid-scenario",
            LinkError::BadSchedule { .. } => "bad-schedule",
            LinkError::StepNotRunnable { .. } => "step-not-runnable",
            LinkError::CursorOutOfRange { .. } => "cursor-out-of-range",
        }
    }
}

impl Link {
    pub fn new(scenario: Scenario, schedule: Vec<usize>, cursor: usize) -> Link {
        Link {
            scenario,
            schedule,
            cursor,
            schedule_name: None,
        }
    }

    /// The link fragment without the `#`: `v1.<base64url(deflate(json))>`.
    pub fn encode(&self) -> String {
        let payload = PayloadOut {
            scenario: &self.scenario,
            schedule: encode_schedule(&self.schedule),
            cursor: self.cursor,
            schedule_name: self.schedule_name.as_deref(),
        };
        let json = serde_json::to_vec(&payload).expect("payload serialises");
        let packed = miniz_oxide::deflate::compress_to_vec(&json, LEVEL);
        let mut out = format!("v{VERSION}.");
        base64url_encode(&packed, &mut out);
        out
    }

    /// Read a link fragment (with or without the leading `#`), validating everything.
    pub fn decode(fragment: &str) -> Result<Link, LinkError> {
        let s = fragment.strip_prefix('#').unwrap_or(fragment);
        if s.len() > MAX_FRAGMENT {
            return Err(LinkError::TooLarge {
                what: "fragment",
                size: s.len(),
                limit: MAX_FRAGMENT,
            });
        }
        let rest = s.strip_prefix('v').ok_or(LinkError::BadPrefix)?;
        let dot = rest.find('.').ok_or(LinkError::BadPrefix)?;
        let digits = &rest[..dot];
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LinkError::BadPrefix);
        }
        let version: u32 = digits.parse().map_err(|_| LinkError::BadPrefix)?;
        if version != VERSION {
            return Err(LinkError::UnsupportedVersion { version });
        }
        let body = &rest[dot + 1..];
        let prefix_len = s.len() - body.len();
        let packed = base64url_decode(body).map_err(|(i, c)| LinkError::BadBase64 {
            position: prefix_len + i,
            detail: match c {
                Some(c) => format!("{c:?} is not a base64url character"),
                None => "the data stops in the middle of a byte (is the link cut short?)".into(),
            },
        })?;
        if packed.is_empty() {
            return Err(LinkError::BadDeflate {
                detail: "the link has no data".into(),
            });
        }
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_DECODED)
            .map_err(|e| match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => LinkError::TooLarge {
                    what: "decompressed data",
                    size: e.output.len(),
                    limit: MAX_DECODED,
                },
                s => LinkError::BadDeflate {
                    detail: format!("{s:?}"),
                },
            })?;
        let text = std::str::from_utf8(&json).map_err(|e| LinkError::BadPayload {
            path: "$".into(),
            message: format!("not UTF-8 text ({e})"),
        })?;
        let de = &mut serde_json::Deserializer::from_str(text);
        // The error's path comes from its position (`json_path`; no path-tracking
        // deserialiser in the wasm app).
        let payload = Payload::deserialize(de).map_err(|e| {
            let message = e.to_string();
            let bad_json = e.is_syntax() || e.is_eof();
            LinkError::BadPayload {
                path: crate::json_path::error_path(text, e.line(), e.column(), &message, bad_json),
                message,
            }
        })?;
        let scenario_json = payload.scenario.get();
        let in_link = |e: ScenarioError| {
            LinkError::InvalidScenario(ScenarioError {
                path: if e.path == "$" {
                    "scenario".into()
                } else {
                    format!("scenario.{}", e.path)
                },
                message: e.message,
            })
        };
        let scenario = Scenario::from_json(scenario_json).map_err(in_link)?;
        let initial = scenario.build().map_err(in_link)?;
        let schedule = parse_schedule(&payload.schedule)?;
        if let Some(name) = &payload.schedule_name {
            if scenario.schedule(name).is_none() {
                return Err(LinkError::BadPayload {
                    path: "schedule_name".into(),
                    message: format!("the scenario has no schedule named `{name}`"),
                });
            }
        }
        if payload.cursor > schedule.len() {
            return Err(LinkError::CursorOutOfRange {
                cursor: payload.cursor,
                len: schedule.len(),
            });
        }
        let mut m = initial;
        for (index, &thread) in schedule.iter().enumerate() {
            if thread >= m.threads.len() {
                return Err(LinkError::StepNotRunnable {
                    index,
                    thread,
                    reason: format!(
                        "there is no thread {thread} (the scenario has {})",
                        m.threads.len()
                    ),
                });
            }
            m.step_quiet(thread)
                .map_err(|e| LinkError::StepNotRunnable {
                    index,
                    thread,
                    reason: format!("{}: {e}", m.thread_name(thread)),
                })?;
        }
        Ok(Link {
            scenario,
            schedule,
            cursor: payload.cursor,
            schedule_name: payload.schedule_name,
        })
    }
}

/// A schedule as runs: `[0,0,0,1,2,2]` → `"0x3 1 2x2"`.
pub fn encode_schedule(steps: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < steps.len() {
        let t = steps[i];
        let mut j = i + 1;
        while j < steps.len() && steps[j] == t {
            j += 1;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&t.to_string());
        if j - i > 1 {
            out.push('x');
            out.push_str(&(j - i).to_string());
        }
        i = j;
    }
    out
}

/// Parse the runs written by [`encode_schedule`] (at most [`crate::machine::MAX_STEPS`] steps),
/// read as a scenario's compact schedules are ([`crate::schedule::Run`]) but with every
/// run's steps counted: a link's schedule is explicit.
pub fn parse_schedule(text: &str) -> Result<Vec<usize>, LinkError> {
    use crate::schedule::{tokens, Run, RunError};
    let max = crate::machine::MAX_STEPS;
    let mut out = Vec::new();
    for (k, tok) in tokens(text).enumerate() {
        let bad = |why: &str| LinkError::BadSchedule {
            message: format!("run {k} (`{tok}`): {why}"),
        };
        let run = Run::parse(tok).map_err(|e| match e {
            RunError::Thread => bad("expected a thread number, e.g. 0 or 1x3"),
            RunError::Count => bad("expected a step count after x"),
        })?;
        let count = match run.count {
            Some(0) => return Err(bad("a run has at least one step")),
            Some(n) => n,
            None => {
                return Err(bad(
                    "a link's runs count their steps (`*` is for scenarios)",
                ))
            }
        };
        if count > max - out.len() {
            return Err(LinkError::BadSchedule {
                message: format!("more than {max} steps"),
            });
        }
        out.extend(std::iter::repeat_n(run.thread, count));
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(data: &[u8], out: &mut String) {
    out.reserve(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
}

/// Decode base64url without padding (trailing `=` tolerated); the error is the position and
/// character of the first bad input (no character: the input stops mid-byte).
fn base64url_decode(s: &str) -> Result<Vec<u8>, (usize, Option<char>)> {
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 {
        return Err((trimmed.len() + 2, Some('=')));
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, c) in trimmed.char_indices() {
        let v = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '-' => 62,
            '_' => 63,
            _ => return Err((i, Some(c))),
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if trimmed.len() % 4 == 1 {
        // One leftover character carries only 6 bits: not a whole byte.
        return Err((trimmed.len(), None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASIC: &str = include_str!("../../assets/scenarios/mprotect-basic.json");
    const SEED: &str = include_str!("../../assets/scenarios/seed-mprotect-vs-migration-v6.4.json");

    fn basic() -> Scenario {
        Scenario::from_json(BASIC).unwrap()
    }

    fn pack(json: &[u8]) -> String {
        let mut s = "v1.".to_string();
        base64url_encode(&miniz_oxide::deflate::compress_to_vec(json, 6), &mut s);
        s
    }

    fn payload_json(scenario: &str, schedule: &str, cursor: usize) -> String {
        format!(r#"{{"scenario":{scenario},"schedule":"{schedule}","cursor":{cursor}}}"#)
    }

    #[test]
    fn base64url_round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            let mut s = String::new();
            base64url_encode(&data[..n], &mut s);
            assert!(s.bytes().all(|b| B64.contains(&b)));
            assert_eq!(base64url_decode(&s).unwrap(), &data[..n], "length {n}");
        }
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64url_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn schedule_runs_round_trip() {
        let s = vec![0, 0, 0, 1, 2, 2, 0];
        assert_eq!(encode_schedule(&s), "0x3 1 2x2 0");
        assert_eq!(parse_schedule("0x3 1 2x2 0").unwrap(), s);
        assert_eq!(encode_schedule(&[]), "");
        assert_eq!(parse_schedule("").unwrap(), Vec::<usize>::new());
        for bad in ["x3", "0x", "0x0", "a", "0*", "1x-2", "0x1000001"] {
            assert!(
                matches!(parse_schedule(bad), Err(LinkError::BadSchedule { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn round_trip_restores_everything() {
        let sc = basic();
        let schedule = vec![0; 12];
        let link = Link::new(sc.clone(), schedule.clone(), 7);
        let text = link.encode();
        assert!(text.starts_with("v1."));
        assert!(text[3..].bytes().all(|b| B64.contains(&b)));
        let back = Link::decode(&format!("#{text}")).unwrap();
        assert_eq!(back, link);
        assert_eq!(Link::decode(&text).unwrap(), link);
        // Deterministic: encoding the decoded link gives the same text.
        assert_eq!(back.encode(), text);
        // The state at the cursor is the same as replaying directly.
        let (m1, _) = crate::replay(&sc, &schedule[..7]).unwrap();
        let (m2, _) = crate::replay(&back.scenario, &back.schedule[..back.cursor]).unwrap();
        assert_eq!(m1.state_hash(), m2.state_hash());
    }

    #[test]
    fn round_trip_keeps_the_schedule_name() {
        let sc = Scenario::from_json(SEED).unwrap();
        let m = sc.build().unwrap();
        let named = sc.schedule("restore-after-walk").unwrap();
        let steps = named.resolve(&m).unwrap();
        let mut link = Link::new(sc, steps.clone(), steps.len());
        link.schedule_name = Some("restore-after-walk".into());
        let back = Link::decode(&link.encode()).unwrap();
        assert_eq!(back.schedule_name.as_deref(), Some("restore-after-walk"));
        assert_eq!(back.schedule, steps);
    }

    #[test]
    fn seed_scenario_with_30_steps_is_short() {
        let sc = Scenario::from_json(SEED).unwrap();
        let m = sc.build().unwrap();
        let steps = sc
            .schedules
            .iter()
            .map(|s| s.resolve(&m).unwrap())
            .find(|s| s.len() >= 30)
            .expect("a schedule of 30+ steps");
        let link = Link::new(sc, steps[..30].to_vec(), 30);
        let text = link.encode();
        assert!(
            text.len() + 1 < 2000,
            "the seed link is {} characters",
            text.len() + 1
        );
        assert_eq!(Link::decode(&text).unwrap(), link);
    }

    #[test]
    fn bad_prefix() {
        for s in [
            "", "#", "hello", "#x1.abc", "#v.abc", "#vx.abc", "#v1abc", "v-1.abc",
        ] {
            assert_eq!(Link::decode(s), Err(LinkError::BadPrefix), "{s:?}");
        }
        assert_eq!(LinkError::BadPrefix.kind(), "bad-prefix");
    }

    #[test]
    fn unsupported_version() {
        let e = Link::decode("#v2.AAAA").unwrap_err();
        assert_eq!(e, LinkError::UnsupportedVersion { version: 2 });
        assert!(e.to_string().contains("v2"), "{e}");
        assert_eq!(e.kind(), "unsupported-version");
    }

    #[test]
    fn bad_base64() {
        let e = Link::decode("#v1.abc$def").unwrap_err();
        assert_eq!(
            e,
            LinkError::BadBase64 {
                position: 6,
                detail: "'$' is not a base64url character".into()
            }
        );
        let e = Link::decode("v1.abcde").unwrap_err();
        assert!(e.to_string().contains("cut short"), "{e}");
        assert_eq!(e.kind(), "bad-base64");
    }

    #[test]
    fn bad_deflate() {
        // 0xff 0xff... is an invalid block type (11) in DEFLATE.
        let mut s = "v1.".to_string();
        base64url_encode(&[0xff, 0xff, 0xff, 0xff], &mut s);
        let e = Link::decode(&s).unwrap_err();
        assert!(matches!(e, LinkError::BadDeflate { .. }), "{e:?}");
        assert_eq!(e.kind(), "bad-deflate");
        // Truncated data.
        let good = Link::new(basic(), vec![], 0).encode();
        // Cut at a whole number of base64 quads, so that only the deflate stream is broken.
        let cut = 3 + (good.len() - 3) / 2 / 4 * 4;
        let e = Link::decode(&good[..cut]).unwrap_err();
        assert!(matches!(e, LinkError::BadDeflate { .. }), "{e:?}");
        assert!(matches!(
            Link::decode("v1.").unwrap_err(),
            LinkError::BadDeflate { .. }
        ));
    }

    #[test]
    fn too_large() {
        let e = Link::decode(&format!("#v1.{}", "A".repeat(MAX_FRAGMENT))).unwrap_err();
        assert!(
            matches!(
                e,
                LinkError::TooLarge {
                    what: "fragment",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.kind(), "too-large");
        // A zip bomb: small link, huge inflated size.
        let bomb = pack(&vec![b' '; MAX_DECODED + 10]);
        assert!(bomb.len() < MAX_FRAGMENT);
        let e = Link::decode(&bomb).unwrap_err();
        assert!(
            matches!(
                e,
                LinkError::TooLarge {
                    what: "decompressed data",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn bad_payload() {
        let e = Link::decode(&pack(b"not json")).unwrap_err();
        assert!(matches!(e, LinkError::BadPayload { .. }), "{e:?}");
        let e = Link::decode(&pack(br#"{"scenario":{},"schedule":"","cursor":"x"}"#)).unwrap_err();
        assert!(
            matches!(&e, LinkError::BadPayload { path, .. } if path == "cursor"),
            "{e:?}"
        );
        let e = Link::decode(&pack(&[0xff, 0xfe])).unwrap_err();
        assert!(matches!(e, LinkError::BadPayload { .. }), "{e:?}");
        let json = format!(
            r#"{{"scenario":{},"schedule":"","cursor":0,"schedule_name":"nope"}}"#,
            serde_json::to_string(&basic()).unwrap()
        );
        let e = Link::decode(&pack(json.as_bytes())).unwrap_err();
        assert!(
            matches!(&e, LinkError::BadPayload { path, .. } if path == "schedule_name"),
            "{e:?}"
        );
        assert_eq!(e.kind(), "bad-payload");
    }

    #[test]
    fn invalid_scenario_names_the_path_inside_the_link() {
        // A type error (serde) ...
        let mut v = serde_json::to_value(basic()).unwrap();
        v["threads"][0]["cpu"] = serde_json::json!("zero");
        let e = Link::decode(&pack(payload_json(&v.to_string(), "", 0).as_bytes())).unwrap_err();
        match &e {
            LinkError::InvalidScenario(se) => assert_eq!(se.path, "scenario.threads[0].cpu"),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("scenario.threads[0].cpu"), "{e}");
        // ... and a semantic one (validation).
        let mut v = serde_json::to_value(basic()).unwrap();
        v["threads"][0]["cpu"] = serde_json::json!(7);
        let e = Link::decode(&pack(payload_json(&v.to_string(), "", 0).as_bytes())).unwrap_err();
        match &e {
            LinkError::InvalidScenario(se) => {
                assert_eq!(se.path, "scenario.threads[0].cpu");
                assert!(se.message.contains("does not exist"), "{}", se.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.kind(), "invalid-scenario");
    }

    #[test]
    fn bad_schedule_text() {
        let sc = serde_json::to_string(&basic()).unwrap();
        let e = Link::decode(&pack(payload_json(&sc, "0 zz", 0).as_bytes())).unwrap_err();
        assert!(matches!(e, LinkError::BadSchedule { .. }), "{e:?}");
        assert_eq!(e.kind(), "bad-schedule");
    }

    #[test]
    fn step_not_runnable() {
        let sc = serde_json::to_string(&basic()).unwrap();
        // Thread 3 does not exist.
        let e = Link::decode(&pack(payload_json(&sc, "0x2 3", 0).as_bytes())).unwrap_err();
        assert!(
            matches!(
                e,
                LinkError::StepNotRunnable {
                    index: 2,
                    thread: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        // Thread 0 finishes: stepping it past its end is refused.
        let e = Link::decode(&pack(payload_json(&sc, "0x1000", 0).as_bytes())).unwrap_err();
        match &e {
            LinkError::StepNotRunnable {
                thread: 0, reason, ..
            } => {
                assert!(reason.contains("finished"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.kind(), "step-not-runnable");
        // A blocked thread: in the seed scenario, mprotect holds the PT lock after 8 steps
        // and migration spins on it.
        let seed = Scenario::from_json(SEED).unwrap();
        let mut m = seed.build().unwrap();
        let mut steps = vec![0; 8];
        for &t in &steps {
            m.step_quiet(t).unwrap();
        }
        while m.is_runnable(1) {
            m.step_quiet(1).unwrap();
            steps.push(1);
        }
        steps.push(1);
        let json = payload_json(
            &serde_json::to_string(&seed).unwrap(),
            &encode_schedule(&steps),
            0,
        );
        let e = Link::decode(&pack(json.as_bytes())).unwrap_err();
        match &e {
            LinkError::StepNotRunnable {
                thread: 1,
                reason,
                index,
            } => {
                assert_eq!(*index, steps.len() - 1);
                assert!(reason.contains("blocked"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cursor_out_of_range() {
        let sc = serde_json::to_string(&basic()).unwrap();
        let e = Link::decode(&pack(payload_json(&sc, "0x2", 3).as_bytes())).unwrap_err();
        assert_eq!(e, LinkError::CursorOutOfRange { cursor: 3, len: 2 });
        assert_eq!(e.kind(), "cursor-out-of-range");
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    /// A small scenario written inline (not the asset file, which may evolve).
    pub const SCENARIO: &str = r#"{
      "format": 1, "title": "golden", "kernel": { "version": "v6.4" }, "cpus": 1,
      "vmas": [ { "start": "0x7f0000000000", "end": "0x7f0000001000", "prot": "PROT_READ|PROT_WRITE" } ],
      "pages": [ { "addr": "0x7f0000000000", "pfn": "0x12345" } ],
      "threads": [ { "name": "mprotect", "ops": [
        { "op": "mprotect", "addr": "0x7f0000000000", "len": "0x1000", "prot": "PROT_READ" } ] } ]
    }"#;

    pub fn link() -> Link {
        Link::new(Scenario::from_json(SCENARIO).unwrap(), vec![0; 5], 3)
    }

    /// A v1 link as written today. It must keep opening (and, as long as the scenario
    /// serialisation is unchanged, encoding must keep producing it byte for byte).
    const GOLDEN: &str = "v1.dVFNS8NAEP0vcw6S2qqQm2APnpRQ8CBSxuwkXUx2w-xuTIn5785ubKFQdy_z8ea9-ZjAVWSQtYVigtpyhx6KVQZe-5aggMa2igxk8EVsqI2ogdhpayQ53N9sYM6g6oNLVUOHYrxP4DyyEEE-PtT5-QkNGXURXi3hnm2Ev5Yvu325fXz6SdZb-bzbShaNNXvhhsJzoPlD8NjQooRK8TWhvjYpvLpdb-7E_2bt8TPOFDkyONpgmpOjNPvjyaGxaoPTwxmq0GPiyiFq-wMTqkXdYBe31MX-qfKQdgFFnoHtF4TtL_P_9dvSX7_XFyLK8jM514FUSKfJxzhXFdhZYVzPvw";

    #[test]
    fn the_golden_link_opens_and_encodes_the_same() {
        assert_eq!(Link::decode(GOLDEN).unwrap(), link());
        assert_eq!(link().encode(), GOLDEN);
    }

    #[test]
    fn the_payload_is_the_documented_json() {
        let json = miniz_oxide::inflate::decompress_to_vec(
            &base64url_decode(&link().encode()["v1.".len()..]).unwrap(),
        )
        .unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.starts_with(
                r#"{"scenario":{"format":1,"title":"golden","kernel":{"version":"v6.4"}"#
            ),
            "{text}"
        );
        assert!(
            text.ends_with(r#"},"schedule":"0x5","cursor":3}"#),
            "{text}"
        );
        let back: Scenario = serde_json::from_str(
            &serde_json::to_string(
                &serde_json::from_str::<serde_json::Value>(&text).unwrap()["scenario"],
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back, link().scenario);
    }
}
