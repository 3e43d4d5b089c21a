//! The library page's logic: each shipped scenario's card (title, summary, kernel, the
//! operations it uses, the expectations of its named schedules and its exhaustive verdict
//! from `assets/verdicts.json`), and the search and filters. The view is `crate::gallery`.

use sim_core::ops::{Listing, OpSpec, REGISTRY};
use sim_core::scenario::Expectation;
use sim_core::Scenario;

use crate::state;

/// What a shipped scenario's named schedules are expected to show (checked for every
/// shipped schedule by `sim-core/tests/scenarios.rs`). This is about the named schedules
/// only, not about all interleavings; that is [`Exhaustive`], shown next to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some named schedule is expected to break these invariants.
    Violates(Vec<String>),
    /// Every schedule with an expectation (this many) is expected to be safe.
    Safe(usize),
    /// No schedule states an expectation.
    Unstated,
}

impl Verdict {
    pub fn label(&self) -> String {
        match self {
            Verdict::Violates(v) => format!("expected: violates {}", v.join(", ")),
            Verdict::Safe(1) => "expected: safe (its schedule)".to_string(),
            Verdict::Safe(n) => format!("expected: safe ({n} schedules)"),
            Verdict::Unstated => "no expectation stated".to_string(),
        }
    }
}

/// What the exhaustive explorer says about a shipped scenario under `mmrace check`'s default
/// options: the committed table `assets/verdicts.json`, kept equal to the explorer by
/// `sim-core/tests/verdicts.rs`. The page cannot afford to explore ~20 scenarios itself
/// (seconds each for the THP ones), so it shows this table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhaustive {
    /// Every reachable state was visited: no violation means safe in every interleaving.
    pub complete: bool,
    pub states: usize,
    /// (invariant, steps of a shortest counterexample), sorted by invariant.
    pub violated: Vec<(String, usize)>,
    /// The scenario's condition, decided: `Some(Some(true))` holds, `Some(Some(false))` does
    /// not, `Some(None)` undecided within the budget; `None` when it has no condition.
    pub condition: Option<Option<bool>>,
}

impl Exhaustive {
    pub fn label(&self) -> String {
        if !self.violated.is_empty() {
            let v: Vec<String> = self
                .violated
                .iter()
                .map(|(id, k)| format!("{id} ({k} step{})", if *k == 1 { "" } else { "s" }))
                .collect();
            format!("violated: {}", v.join(", "))
        } else if self.complete {
            format!("all interleavings: safe · {} states", self.states)
        } else {
            format!("no violation in {} states (search incomplete)", self.states)
        }
    }

    /// The badge's CSS class after `verdict`: `bad`, `ok` or `budget`.
    pub fn class(&self) -> &'static str {
        if !self.violated.is_empty() {
            "bad"
        } else if self.complete {
            "ok"
        } else {
            "budget"
        }
    }
}

/// `assets/verdicts.json`, embedded: the explorer never runs for the gallery.
const VERDICTS: &str = include_str!("../../../assets/verdicts.json");

/// Parse a verdicts table (`{path: {"complete", "states", "violated": {invariant: length}}}`)
/// through `serde_json::Value`, which the app links anyway: derives would grow the wasm (so
/// would a map type: ~20 rows are looked up linearly).
pub fn parse_verdicts(text: &str) -> Result<Vec<(String, Exhaustive)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("verdicts: {e}"))?;
    let table = v.as_object().ok_or("verdicts: not an object")?;
    let mut out = Vec::with_capacity(table.len());
    for (path, e) in table {
        let field = |name: &str| {
            e.get(name)
                .ok_or_else(|| format!("verdicts: {path}: missing field `{name}`"))
        };
        let complete = field("complete")?
            .as_bool()
            .ok_or_else(|| format!("verdicts: {path}: `complete` is not a boolean"))?;
        let states = field("states")?
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("verdicts: {path}: `states` is not a count"))?;
        let violated = field("violated")?
            .as_object()
            .ok_or_else(|| format!("verdicts: {path}: `violated` is not an object"))?
            .iter()
            .map(|(id, k)| {
                k.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(|k| (id.clone(), k))
                    .ok_or_else(|| format!("verdicts: {path}: `violated.{id}` is not a length"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let condition = match e.get("condition") {
            None => None,
            Some(c) => Some(
                c.get("holds")
                    .filter(|h| !h.is_null())
                    .map(|h| {
                        h.as_bool().ok_or_else(|| {
                            format!("verdicts: {path}: `condition.holds` is not a boolean")
                        })
                    })
                    .transpose()?,
            ),
        };
        out.push((
            path.clone(),
            Exhaustive {
                complete,
                states,
                violated,
                condition,
            },
        ));
    }
    Ok(out)
}

/// The operation filters of the gallery, one per operation file (`sim_core::ops::Listing`):
/// (label, the operations it matches).
pub fn op_filters() -> Vec<(&'static str, Vec<&'static str>)> {
    Listing::ALL
        .iter()
        .map(|l| {
            let ops = REGISTRY
                .iter()
                .filter(|r| r.listing == *l)
                .map(|r| r.name)
                .collect();
            (l.name(), ops)
        })
        .collect()
}

/// One card of the library page.
#[derive(Clone, Debug)]
pub struct GalleryEntry {
    pub path: &'static str,
    pub title: String,
    /// The description's first sentence.
    pub summary: String,
    /// `v6.4`, `v6.4 + restore-from-stale-entry`.
    pub kernel: String,
    pub hypothetical: bool,
    /// A historical variant (a real kernel before a fix).
    pub historical: bool,
    /// Operation kinds used by some thread (`mprotect`, `read`, ...), sorted.
    pub ops: Vec<&'static str>,
    /// Invariants some schedule's expectation names.
    pub invariants: Vec<String>,
    pub verdict: Verdict,
    /// The exhaustive explorer's verdict (`assets/verdicts.json`); `None` only if the table
    /// lacks the scenario, which a test rules out for the shipped library.
    pub exhaustive: Option<Exhaustive>,
    pub schedules: usize,
    /// The scenario's condition (`exists any (...)`), if it has one.
    pub condition: Option<String>,
}

/// The first sentence of `text` (at most about 200 characters).
pub fn first_sentence(text: &str) -> String {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| c == '.' && t[i + 1..].starts_with(char::is_whitespace))
        .map(|(i, _)| i + 1)
        .unwrap_or(t.len());
    let s = &t[..end];
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(199).collect();
        format!("{}…", cut.trim_end())
    } else {
        s.to_string()
    }
}

/// What-if descriptions open with the same disclaimer, which the card's kernel badge
/// already shows: the summary is the sentence after it.
fn skip_disclaimer(text: &str) -> &str {
    let t = text.trim_start();
    if t.starts_with("Hypothetical kernel") {
        if let Some(i) = t.find(". ") {
            return &t[i + 2..];
        }
    }
    t
}

impl GalleryEntry {
    pub fn of(path: &'static str, sc: &Scenario) -> GalleryEntry {
        let mut kernel = sc.kernel.version.name().to_string();
        for m in &sc.kernel.what_if {
            kernel.push_str(" + ");
            kernel.push_str(m.id());
        }
        for h in &sc.kernel.historical {
            kernel.push_str(" + historical ");
            kernel.push_str(h.id());
        }
        let mut ops: Vec<&'static str> = sc
            .threads
            .iter()
            .flat_map(|t| t.ops.iter().map(OpSpec::name))
            .collect();
        ops.sort_unstable();
        ops.dedup();
        let mut invariants = Vec::new();
        let mut safe = 0;
        for s in &sc.schedules {
            match &s.expect {
                Some(Expectation::Violates { invariant, .. })
                    if !invariants.contains(invariant) =>
                {
                    invariants.push(invariant.clone());
                }
                Some(Expectation::Violates { .. }) => {}
                Some(Expectation::Safe) => safe += 1,
                None => {}
            }
        }
        let verdict = if !invariants.is_empty() {
            Verdict::Violates(invariants.clone())
        } else if safe > 0 {
            Verdict::Safe(safe)
        } else {
            Verdict::Unstated
        };
        GalleryEntry {
            path,
            title: sc.title.clone(),
            summary: first_sentence(skip_disclaimer(&sc.description)),
            kernel,
            hypothetical: !sc.kernel.what_if.is_empty(),
            historical: !sc.kernel.historical.is_empty(),
            ops,
            invariants,
            verdict,
            exhaustive: None,
            schedules: sc.schedules.len(),
            condition: sc.condition.as_ref().map(|c| c.to_string()),
        }
    }

    /// Does the entry pass the filters? `query` is matched (case-insensitively, every word)
    /// against the title, summary, kernel and file name; `op` is an [`op_filters`] label;
    /// `invariant` an invariant id.
    pub fn matches(&self, query: &str, op: &str, invariant: &str) -> bool {
        if !op.is_empty() {
            let filters = op_filters();
            let kinds = filters
                .iter()
                .find(|(l, _)| *l == op)
                .map_or(&[][..], |(_, k)| k.as_slice());
            if !self.ops.iter().any(|o| kinds.contains(o)) {
                return false;
            }
        }
        if !invariant.is_empty()
            && !self.invariants.iter().any(|i| i == invariant)
            && !self.exhaustive_violations().any(|i| i == invariant)
        {
            return false;
        }
        let hay = format!(
            "{} {} {} {} {} {} {}",
            self.title,
            self.summary,
            self.kernel,
            self.path,
            self.invariants.join(" "),
            self.exhaustive_violations().collect::<Vec<_>>().join(" "),
            self.condition.as_deref().unwrap_or("")
        )
        .to_ascii_lowercase();
        query
            .split_whitespace()
            .all(|w| hay.contains(&w.to_ascii_lowercase()))
    }

    /// The condition badge: (CSS class, words), when the scenario has a condition.
    pub fn condition_badge(&self) -> Option<(&'static str, String)> {
        let text = self.condition.as_ref()?;
        let holds = self.exhaustive.as_ref().and_then(|x| x.condition);
        Some(match holds {
            Some(Some(true)) => ("ok", format!("condition holds: {text}")),
            Some(Some(false)) => ("bad", format!("condition fails: {text}")),
            _ => ("budget", format!("condition undecided: {text}")),
        })
    }

    /// The invariants the exhaustive explorer found violated.
    pub fn exhaustive_violations(&self) -> impl Iterator<Item = &str> {
        self.exhaustive
            .iter()
            .flat_map(|x| x.violated.iter().map(|(id, _)| id.as_str()))
    }
}

/// Every shipped scenario (the `bench/` scaling scenarios are not stories to open, so they
/// are left out), in the library's order.
pub fn gallery() -> Vec<GalleryEntry> {
    // The table is checked by a native test; a broken one shows cards without the badge.
    let verdicts = parse_verdicts(VERDICTS).unwrap_or_default();
    state::library()
        .iter()
        .filter(|(p, _)| !p.starts_with("bench/"))
        .filter_map(|(p, json)| {
            let mut e = GalleryEntry::of(p, &Scenario::from_json(json).ok()?);
            e.exhaustive = verdicts
                .iter()
                .find(|(v, _)| v == p)
                .map(|(_, x)| x.clone());
            Some(e)
        })
        .collect()
}

/// The invariants named by some entry's expectations or violated in its exhaustive verdict,
/// sorted.
pub fn gallery_invariants(entries: &[GalleryEntry]) -> Vec<String> {
    let mut v: Vec<String> = entries
        .iter()
        .flat_map(|e| {
            e.invariants
                .iter()
                .cloned()
                .chain(e.exhaustive_violations().map(str::to_string))
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_lists_the_shipped_scenarios_with_their_expectations() {
        let g = gallery();
        assert!(g.len() >= 20, "{}", g.len());
        let c = g
            .iter()
            .find(|e| e.path == "whatif-c-restore-from-stale-entry-v6.4.json")
            .unwrap();
        assert_eq!(
            c.verdict,
            Verdict::Violates(vec!["writable-pte-in-readonly-vma".into()])
        );
        assert!(c.hypothetical);
        assert_eq!(c.kernel, "v6.4 + restore-from-stale-entry");
        assert!(c.ops.contains(&"migrate") && c.ops.contains(&"write"));
        assert!(c.summary.starts_with("The restorer reads"), "{}", c.summary);
        let seed = g
            .iter()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        assert!(matches!(seed.verdict, Verdict::Safe(n) if n >= 2));
        assert!(!seed.summary.is_empty() && seed.summary.len() <= 210);
        assert!(g.iter().all(|e| !e.path.starts_with("bench/")));
    }

    #[test]
    fn every_gallery_entry_has_its_exhaustive_verdict() {
        let table = parse_verdicts(VERDICTS).expect("assets/verdicts.json parses");
        let g = gallery();
        for e in &g {
            assert!(
                e.exhaustive.is_some(),
                "{} has no exhaustive verdict",
                e.path
            );
        }
        // And the table lists nothing else (a renamed scenario would leave a stale row).
        assert_eq!(table.len(), g.len());
        let seed = g
            .iter()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        let x = seed.exhaustive.as_ref().unwrap();
        assert!(x.complete && x.violated.is_empty() && x.states > 1);
        assert_eq!(x.class(), "ok");
        assert_eq!(
            x.label(),
            format!("all interleavings: safe · {} states", x.states)
        );
        let c = g
            .iter()
            .find(|e| e.path == "whatif-c-restore-from-stale-entry-v6.4.json")
            .unwrap();
        let x = c.exhaustive.as_ref().unwrap();
        assert_eq!(x.class(), "bad");
        let k = x
            .violated
            .iter()
            .find(|(id, _)| id == "writable-pte-in-readonly-vma")
            .map(|(_, k)| *k)
            .expect("what-if (c) on v6.4 breaks the read-only PTE invariant");
        assert!(x
            .label()
            .contains(&format!("writable-pte-in-readonly-vma ({k} steps)")));
        assert!(x.label().starts_with("violated: "));
        // Every scenario whose named schedules are expected to break an invariant is also
        // violated exhaustively (the explorer sees every schedule, the named ones included).
        for e in &g {
            if let Verdict::Violates(inv) = &e.verdict {
                for i in inv {
                    assert!(
                        e.exhaustive_violations().any(|v| v == i),
                        "{}: a named schedule violates {i}, the table does not",
                        e.path
                    );
                }
            }
        }
    }

    #[test]
    fn conditions_get_a_badge_from_the_table_and_are_searchable() {
        let g = gallery();
        let badge = |p: &str| g.iter().find(|e| e.path == p).unwrap().condition_badge();
        let (class, words) = badge("whatif-c-restore-from-stale-entry-v6.4.json").unwrap();
        assert_eq!(class, "ok");
        assert!(
            words.starts_with("condition holds: exists any (mprotect returned"),
            "{words}"
        );
        let (class, words) = badge("whatif-c-control-v6.4.json").unwrap();
        assert_eq!(
            (class, words.starts_with("condition holds: ~exists any (")),
            ("ok", true)
        );
        assert!(badge("whatif-e-control-v6.4.json").is_none());
        // Every entry with a condition has its decision in the table.
        for e in &g {
            if e.condition.is_some() {
                let x = e.exhaustive.as_ref().unwrap();
                assert!(
                    x.condition.is_some(),
                    "{}: no condition in the table",
                    e.path
                );
            }
        }
        let hits: Vec<_> = g
            .iter()
            .filter(|e| e.matches("tlb_writable", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(hits.len(), 3, "{hits:?}");
        let bad = parse_verdicts(
            r#"{"a.json": {"complete": true, "states": 2, "violated": {}, "condition": {"holds": 3}}}"#,
        )
        .unwrap_err();
        assert!(bad.contains("`condition.holds`"), "{bad}");
        let undecided = parse_verdicts(
            r#"{"a.json": {"complete": false, "states": 2, "violated": {}, "condition": {"holds": null}}}"#,
        )
        .unwrap();
        assert_eq!(undecided[0].1.condition, Some(None));
    }

    #[test]
    fn a_bad_verdicts_table_names_the_field() {
        let e = parse_verdicts(r#"{"a.json": {"complete": true, "violated": {}}}"#).unwrap_err();
        assert!(e.contains("a.json") && e.contains("`states`"), "{e}");
        let e = parse_verdicts(r#"{"a.json": {"complete": 1, "states": 2, "violated": {}}}"#)
            .unwrap_err();
        assert!(e.contains("`complete`"), "{e}");
        let e = parse_verdicts(
            r#"{"a.json": {"complete": true, "states": 2, "violated": {"x": "long"}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("`violated.x`"), "{e}");
        assert!(parse_verdicts("[]").is_err());
        let ok = parse_verdicts(r#"{"a.json": {"complete": false, "states": 9, "violated": {}}}"#)
            .unwrap();
        assert_eq!(ok[0].0, "a.json");
        assert_eq!(ok[0].1.class(), "budget");
        assert_eq!(
            ok[0].1.label(),
            "no violation in 9 states (search incomplete)"
        );
    }

    #[test]
    fn the_invariant_filter_counts_exhaustive_violations() {
        let mut g = gallery();
        let names = gallery_invariants(&g);
        for e in &g {
            for v in e.exhaustive_violations() {
                assert!(names.iter().any(|n| n == v), "{v} missing from the filter");
            }
        }
        // An entry whose named schedules state nothing about an invariant still matches it
        // when the explorer found it violated.
        let e = g
            .iter_mut()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        assert!(!e.matches("", "", "lost-write"));
        e.exhaustive = Some(Exhaustive {
            complete: true,
            states: 3,
            violated: vec![("lost-write".into(), 4)],
            condition: None,
        });
        assert!(e.matches("", "", "lost-write"));
        assert!(e.matches("lost-write", "", ""));
        // Searching by invariant words still picks one what-if (the e2e test relies on it).
        let q: Vec<_> = gallery()
            .into_iter()
            .filter(|e| e.matches("stale entry (v6.4)", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(q, ["whatif-c-restore-from-stale-entry-v6.4.json"]);
    }

    #[test]
    fn gallery_search_by_operation_invariant_and_text() {
        let g = gallery();
        let split: Vec<_> = g
            .iter()
            .filter(|e| e.matches("", "split_huge_pmd", ""))
            .collect();
        assert!(!split.is_empty());
        assert!(split.iter().all(|e| e.ops.contains(&"split_huge_pmd")));
        assert!(split.len() < g.len());
        let lost: Vec<_> = g
            .iter()
            .filter(|e| e.matches("", "", "lost-write"))
            .collect();
        assert!(lost.iter().all(|e| e.path.starts_with("whatif-e-")));
        assert_eq!(lost.len(), 2);
        let q: Vec<_> = g
            .iter()
            .filter(|e| e.matches("What-if (c) V6.3", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(q, ["whatif-c-restore-from-stale-entry-v6.3.json"]);
        assert!(g.iter().all(|e| !e.matches("no-such-word", "", "")));
    }
}
