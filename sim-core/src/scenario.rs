//! Scenario format v1: the initial state, the threads and their operations, the kernel, and
//! optional named schedules with expectations and narration. Parsed from JSON with errors
//! that name the JSON path; validated before a [`Machine`] is built from it.

use crate::vec_map::VecMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::flags::{self, mmap_private_anon_flags, vm_flag_by_name, vm_get_page_prot, VM_WRITE};
use crate::kernel::Kernel;
use crate::machine::{Machine, Spec, Thread, ThreadSpec, FIRST_TABLE_PFN, RESERVED_PFNS, ZERO_PFN};
use crate::num::{Hex, Prot};
use crate::ops::OpSpec;
use crate::pte::{self, PAGE_SIZE, PMD_SIZE};
use crate::state::{pmd_index, pte_index, Cpu, Folio, Mm, PageTables, RwSem, TlbEntry, Vma};

/// The only format version so far.
pub const FORMAT: u32 = 1;

/// Limits on everything that grows.
pub mod limits {
    pub const MAX_THREADS: usize = 8;
    pub const MAX_CPUS: usize = 8;
    pub const MAX_VMAS: usize = 16;
    pub const MAX_PAGES: usize = 1024;
    pub const MAX_THPS: usize = 4;
    pub const MAX_OPS_PER_THREAD: usize = 16;
    pub const MAX_ALLOC_PFNS: usize = 1024;
    pub const MAX_SCHEDULES: usize = 32;
    pub const MAX_SCHEDULE_LEN: usize = crate::machine::MAX_STEPS;
    pub const MAX_TEXT: usize = 4000;
    pub const MAX_NAME: usize = 64;
    pub const MAX_NOTES: usize = 1000;
    /// Highest user address (x86-64 4-level: 128 TiB).
    pub const USER_END: u64 = 0x0000_8000_0000_0000;
    /// pfns must fit `SWP_PFN_BITS` (migration entries store them).
    pub const MAX_PFN: u64 = (1 << 34) - 1;
    /// The longest mprotect range: 1 GiB (the model has one PMD lock per GiB).
    pub const MAX_MPROTECT_LEN: u64 = 1 << 30;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Scenario {
    /// Format version (1).
    pub format: u32,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub kernel: Kernel,
    #[serde(default = "one")]
    pub cpus: usize,
    pub vmas: Vec<VmaSpec>,
    /// Order-0 anonymous pages mapped by PTEs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<PageSpec>,
    /// PMD-mapped anonymous THPs (order 9).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thps: Vec<PageSpec>,
    /// Translations cached in TLBs at the start (as a walk of the initial tables gives them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlb: Vec<TlbSpec>,
    /// Frames the page allocator hands out, in order (page faults, COW copies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alloc_pfns: Vec<Hex>,
    pub threads: Vec<ThreadJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<NamedSchedule>,
    /// A condition over the reachable states that the explorer decides, e.g.
    /// `"forall any (~violated(lost-write))"` (see [`crate::condition`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// A private anonymous VMA as `mmap(prot, MAP_PRIVATE|MAP_ANONYMOUS)` creates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VmaSpec {
    pub start: Hex,
    pub end: Hex,
    pub prot: Prot,
    /// Extra `vm_flags` by kernel name, e.g. `["VM_HUGEPAGE"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Whether the VMA already has an anon_vma (it has been faulted); v6.4's per-VMA-lock
    /// faults need one.
    #[serde(default = "yes")]
    pub anon_vma: bool,
}

/// A mapped anonymous page (or THP) with its PTE (PMD) bits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PageSpec {
    pub addr: Hex,
    pub pfn: Hex,
    /// RW set (as after a write fault); needs VM_WRITE.
    #[serde(default = "yes")]
    pub writable: bool,
    #[serde(default = "yes")]
    pub young: bool,
    #[serde(default = "yes")]
    pub dirty: bool,
    /// PageAnonExclusive.
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// Initial data word (for a THP: page i holds data + i).
    #[serde(default)]
    pub data: Hex,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TlbSpec {
    pub cpu: usize,
    pub addr: Hex,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ThreadJson {
    pub name: String,
    #[serde(default)]
    pub cpu: usize,
    pub ops: Vec<OpSpec>,
}

/// A schedule: which thread takes each step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NamedSchedule {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The thread of each step: a list (`[0, 0, 1]`) or the compact form (`"0x2 1*"`, see
    /// [`crate::schedule`]), which is expanded against the scenario when it is validated.
    pub steps: Steps,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectation>,
    /// Narration by step index (0-based).
    #[serde(
        default,
        skip_serializing_if = "VecMap::is_empty",
        deserialize_with = "notes_at_most"
    )]
    pub notes: VecMap<usize, String>,
}

/// `notes`, refused while being read past [`limits::MAX_NOTES`] (see
/// [`VecMap::deserialize_at_most`]).
fn notes_at_most<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<VecMap<usize, String>, D::Error> {
    VecMap::deserialize_at_most(d, limits::MAX_NOTES, "notes")
}

/// A schedule's steps as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Steps {
    List(Vec<usize>),
    Compact(String),
}

/// By hand rather than serde's `untagged`: its only error is "data did not match any variant
/// of untagged enum Steps", which names a Rust type and not the problem.
impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Steps;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a list of thread numbers such as [0, 0, 1] or a compact schedule such as \"0x2 1*\"",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Steps, E> {
                Ok(Steps::Compact(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Steps, A::Error> {
                let mut v = Vec::new();
                while let Some(t) = a.next_element::<usize>()? {
                    if v.len() >= limits::MAX_SCHEDULE_LEN {
                        return Err(serde::de::Error::custom(format!(
                            "at most {} steps",
                            limits::MAX_SCHEDULE_LEN
                        )));
                    }
                    v.push(t);
                }
                Ok(Steps::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl NamedSchedule {
    /// The explicit thread list (expanding the compact form against `initial`).
    pub fn resolve(&self, initial: &Machine) -> Result<Vec<usize>, ScenarioError> {
        self.resolve_metered(initial, &mut Meter::unlimited())
    }

    fn resolve_metered(
        &self,
        initial: &Machine,
        meter: &mut Meter<'_>,
    ) -> Result<Vec<usize>, ScenarioError> {
        match &self.steps {
            Steps::List(v) => Ok(v.clone()),
            Steps::Compact(text) => {
                if text.len() > limits::MAX_TEXT {
                    return Err(err(
                        "steps",
                        format!("is longer than {} characters", limits::MAX_TEXT),
                    ));
                }
                crate::schedule::expand_metered(&mut initial.clone(), text, meter)
                    .map_err(|e| err("steps", e.to_string()))
            }
        }
    }
}

/// What running a schedule must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Expectation {
    /// No invariant is violated at any step.
    Safe,
    /// `invariant` is first violated at step `at_step` (0-based), if given.
    Violates {
        invariant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_step: Option<usize>,
    },
}

/// By hand rather than serde's internally tagged enum, which ignores unknown fields next to
/// `"verdict": "safe"` and words its errors with Rust names ("internally tagged enum").
impl<'de> Deserialize<'de> for Expectation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const FIELDS: &[&str] = &["verdict", "invariant", "at_step"];
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Expectation;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "an object such as {\"verdict\": \"safe\"} or {\"verdict\": \"violates\", \"invariant\": \"lost-write\"}",
                )
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Expectation, A::Error> {
                let mut verdict: Option<String> = None;
                let mut invariant: Option<String> = None;
                let mut at_step: Option<Option<usize>> = None;
                while let Some(key) = a.next_key::<String>()? {
                    let dup = match key.as_str() {
                        "verdict" => verdict.replace(a.next_value()?).is_some(),
                        "invariant" => invariant.replace(a.next_value()?).is_some(),
                        "at_step" => at_step.replace(a.next_value()?).is_some(),
                        other => return Err(A::Error::unknown_field(other, FIELDS)),
                    };
                    if dup {
                        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                }
                match verdict.as_deref() {
                    None => Err(A::Error::missing_field("verdict")),
                    Some("safe") => match (invariant, at_step) {
                        (None, None) => Ok(Expectation::Safe),
                        (Some(_), _) => Err(A::Error::custom(
                            "`invariant` goes with the verdict \"violates\", not \"safe\"",
                        )),
                        (_, Some(_)) => Err(A::Error::custom(
                            "`at_step` goes with the verdict \"violates\", not \"safe\"",
                        )),
                    },
                    Some("violates") => match invariant {
                        None => Err(A::Error::missing_field("invariant")),
                        Some(invariant) => Ok(Expectation::Violates {
                            invariant,
                            at_step: at_step.flatten(),
                        }),
                    },
                    Some(other) => Err(A::Error::unknown_variant(other, &["safe", "violates"])),
                }
            }
        }
        d.deserialize_map(V)
    }
}

/// A validation error: where (a JSON path such as `threads[1].ops[0].to_pfn`) and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        path: path.into(),
        message: message.into(),
    }
}

/// Bounds on the schedule replays of validation ([`Scenario::build_within`]): every named
/// schedule is replayed to check it (a compact one twice: once to expand it, once to check
/// the result), and a scenario may have [`limits::MAX_SCHEDULES`] schedules of
/// [`limits::MAX_SCHEDULE_LEN`] steps each.
pub struct ReplayBudget<'a> {
    /// The most steps taken in total, over all schedules.
    pub max_steps: usize,
    /// Asked every [`REPLAY_CHECK_EVERY`] steps; `false` stops validation at once (sim-core
    /// has no clock: callers turn deadlines and cancellation into this).
    pub keep_going: &'a mut dyn FnMut() -> bool,
}

/// How often (in steps) validation asks [`ReplayBudget::keep_going`].
pub const REPLAY_CHECK_EVERY: usize = 64;

/// Why [`Scenario::build_within`] gave no machine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The scenario is invalid.
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
    /// Checking the schedules needs more steps than the budget allows.
    #[error("replaying the schedules to check them takes more than {limit} steps in total")]
    TooManySteps { limit: usize },
    /// `keep_going` said stop.
    #[error("validation was stopped before it finished")]
    Stopped,
}

/// Counts the steps validation takes against a [`ReplayBudget`].
pub(crate) struct Meter<'a> {
    taken: usize,
    budget: Option<&'a mut ReplayBudget<'a>>,
    stopped: Option<BuildError>,
}

impl<'a> Meter<'a> {
    pub(crate) fn unlimited() -> Meter<'static> {
        Meter {
            taken: 0,
            budget: None,
            stopped: None,
        }
    }

    /// Count one step about to be taken; `false`: stop (the reason is kept).
    pub(crate) fn step(&mut self) -> bool {
        self.taken += 1;
        let Some(b) = self.budget.as_mut() else {
            return true;
        };
        if self.taken > b.max_steps {
            self.stopped = Some(BuildError::TooManySteps { limit: b.max_steps });
            return false;
        }
        if self.taken % REPLAY_CHECK_EVERY == 0 && !(b.keep_going)() {
            self.stopped = Some(BuildError::Stopped);
            return false;
        }
        true
    }
}

/// The frames a scenario uses, each with the path that claimed it.
#[derive(Default)]
struct Pfns(VecMap<u64, String>);

impl Pfns {
    /// Claim `n` frames from `pfn` for `path`: they must exist, not be reserved, and not be
    /// claimed already.
    fn claim(&mut self, pfn: u64, n: u64, path: String) -> Result<(), ScenarioError> {
        if pfn > limits::MAX_PFN {
            return Err(err(
                path,
                format!(
                    "pfn {pfn:#x} is beyond the model's physical memory ({:#x})",
                    limits::MAX_PFN
                ),
            ));
        }
        if pfn < RESERVED_PFNS.end && pfn + n > RESERVED_PFNS.start {
            return Err(err(
                path,
                format!(
                    "pfns {:#x}–{:#x} are reserved for the zero page and page tables",
                    RESERVED_PFNS.start,
                    RESERVED_PFNS.end - 1
                ),
            ));
        }
        for q in pfn..pfn + n {
            if let Some(other) = self.0.get(&q) {
                return Err(err(path, format!("pfn {q:#x} is already used by {other}")));
            }
        }
        for q in pfn..pfn + n {
            self.0.insert(q, path.clone());
        }
        Ok(())
    }
}

/// What an operation's validation ([`crate::ops::Operation::check`]) sees of the scenario
/// being built.
pub struct OpCheck<'a> {
    /// The operation's path (`threads[1].ops[0]`).
    at: String,
    thps: &'a [PageSpec],
    pfns: &'a mut Pfns,
}

impl OpCheck<'_> {
    /// An error in the operation's `field`.
    pub fn err(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        err(format!("{}.{field}", self.at), message)
    }

    /// `field` must be a user address.
    pub fn user_address(&self, field: &str, addr: u64) -> Result<(), ScenarioError> {
        if addr >= limits::USER_END {
            return Err(self.err(field, "is not a user address"));
        }
        Ok(())
    }

    /// Whether `addr` lies in one of the scenario's THPs.
    pub fn in_thp(&self, addr: u64) -> bool {
        self.thps
            .iter()
            .any(|h| h.addr.0 <= addr && addr < h.addr.0 + PMD_SIZE)
    }

    /// Claim `n` frames from `pfn` for the operation's `field` (a migration target): they
    /// must be free in the scenario.
    pub fn claim(&mut self, field: &str, pfn: u64, n: u64) -> Result<(), ScenarioError> {
        self.pfns.claim(pfn, n, format!("{}.{field}", self.at))
    }
}

/// The most bytes of JSON accepted.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

impl Scenario {
    /// Parse JSON; errors name the JSON path (or the line/column for syntax errors).
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        if text.len() > MAX_JSON_BYTES {
            return Err(err(
                "$",
                format!(
                    "the scenario is {} bytes; the limit is {MAX_JSON_BYTES}",
                    text.len()
                ),
            ));
        }
        // serde_json, objects only where structs are read (`strict_json`); the path of an
        // error is found afterwards from its position (`json_path`), which keeps a
        // path-tracking deserialiser out of the wasm app.
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = Scenario::deserialize(crate::strict_json::MapsOnly(&mut de))
            .and_then(|sc| de.end().map(|()| sc));
        parsed.map_err(|e| {
            let msg = strip_position(&e.to_string());
            let bad_json = e.is_syntax() || e.is_eof();
            let path = crate::json_path::error_path(text, e.line(), e.column(), &msg, bad_json);
            let path = crate::strict_json::shorten_path(&path);
            if bad_json {
                let msg = crate::strict_json::plain_words(&e.to_string());
                return err(path, format!("invalid JSON: {msg}"));
            }
            // A member's path from a hand-written deserialiser (`json_path::PATH_MARK`).
            let (path, message) = crate::json_path::splice(path, &msg);
            err(path, crate::strict_json::plain_words(&message))
        })
    }

    /// Canonical JSON (stable key order and number formats).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("scenario serialises")
    }

    /// Validate and build the initial machine.
    pub fn build(&self) -> Result<Machine, ScenarioError> {
        build(self, &mut Meter::unlimited())
    }

    /// [`Scenario::build`] with the schedule replays bounded and stoppable (for servers:
    /// validating an upload must not run longer than the caller allows).
    pub fn build_within<'a>(
        &self,
        budget: &'a mut ReplayBudget<'a>,
    ) -> Result<Machine, BuildError> {
        let mut meter = Meter {
            taken: 0,
            budget: Some(budget),
            stopped: None,
        };
        build(self, &mut meter).map_err(|e| meter.stopped.take().unwrap_or(BuildError::Invalid(e)))
    }

    pub fn schedule(&self, name: &str) -> Option<&NamedSchedule> {
        self.schedules.iter().find(|s| s.name == name)
    }
}

fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Whether a text field may span lines (descriptions and notes) or is one line (titles and
/// names).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// A text field shown to people: at most `max` characters, and nothing that cannot be shown
/// (NUL and the other control characters; line breaks and tabs only where text may span
/// lines). The same rule for every store and every client: PostgreSQL cannot store NUL at
/// all, and no page can show the others.
fn check_text(path: &str, s: &str, max: usize, lines: Lines) -> Result<(), ScenarioError> {
    if s.chars().count() > max {
        return Err(err(path, format!("is longer than {max} characters")));
    }
    for (i, c) in s.chars().enumerate() {
        let allowed = lines == Lines::Many && matches!(c, '\n' | '\t' | '\r');
        if c.is_control() && !allowed {
            return Err(err(
                path,
                format!(
                    "contains the control character U+{:04X} at character {}; {}",
                    c as u32,
                    i + 1,
                    match lines {
                        Lines::One => "a title or name is one line of printable text",
                        Lines::Many =>
                            "text may contain line breaks and tabs, but no other control characters",
                    }
                ),
            ));
        }
    }
    Ok(())
}

fn build(sc: &Scenario, meter: &mut Meter<'_>) -> Result<Machine, ScenarioError> {
    use limits::*;
    if sc.format != FORMAT {
        return Err(err(
            "format",
            format!(
                "unsupported format version {} (this mmrace reads version {FORMAT})",
                sc.format
            ),
        ));
    }
    check_text("title", &sc.title, 200, Lines::One)?;
    check_text("description", &sc.description, MAX_TEXT, Lines::Many)?;
    for (i, h) in sc.kernel.historical.iter().enumerate() {
        if sc.kernel.historical[..i].contains(h) {
            return Err(err(
                format!("kernel.historical[{i}]"),
                format!("`{}` is listed twice", h.id()),
            ));
        }
        if h.info().needs_v64 && !sc.kernel.is_v64() {
            return Err(err(
                format!("kernel.historical[{i}]"),
                format!(
                    "`{}` reverts a v6.4 mechanism; it needs version v6.4",
                    h.id()
                ),
            ));
        }
    }
    if sc.cpus == 0 || sc.cpus > MAX_CPUS {
        return Err(err("cpus", format!("must be between 1 and {MAX_CPUS}")));
    }
    if sc.vmas.is_empty() {
        return Err(err("vmas", "at least one VMA is needed"));
    }
    if sc.vmas.len() > MAX_VMAS {
        return Err(err("vmas", format!("at most {MAX_VMAS} VMAs")));
    }
    // VMAs.
    let mut vmas: Vec<Vma> = Vec::new();
    for (i, v) in sc.vmas.iter().enumerate() {
        let p = format!("vmas[{i}]");
        let (start, end) = (v.start.0, v.end.0);
        if start % PAGE_SIZE != 0 {
            return Err(err(
                format!("{p}.start"),
                format!("{start:#x} is not page-aligned"),
            ));
        }
        if end % PAGE_SIZE != 0 {
            return Err(err(
                format!("{p}.end"),
                format!("{end:#x} is not page-aligned"),
            ));
        }
        if start >= end {
            return Err(err(format!("{p}.end"), "must be above start"));
        }
        if end > USER_END {
            return Err(err(
                format!("{p}.end"),
                format!("{end:#x} is beyond the user address space ({USER_END:#x})"),
            ));
        }
        let mut f = mmap_private_anon_flags(v.prot.0);
        for (j, name) in v.flags.iter().enumerate() {
            match vm_flag_by_name(name) {
                Some(b) if b == flags::VM_SHARED || b == flags::VM_MAYSHARE => {
                    return Err(err(
                        format!("{p}.flags[{j}]"),
                        "shared mappings are not modelled (private anonymous VMAs only)",
                    ))
                }
                Some(b) => f |= b,
                None => {
                    return Err(err(
                        format!("{p}.flags[{j}]"),
                        format!(
                            "unknown vm_flags name `{}`",
                            crate::strict_json::shorten(name)
                        ),
                    ))
                }
            }
        }
        for (j, w) in vmas.iter().enumerate() {
            if start < w.end && w.start < end {
                return Err(err(
                    p.clone(),
                    format!("overlaps vmas[{j}] ({:#x}–{:#x})", w.start, w.end),
                ));
            }
        }
        vmas.push(Vma {
            id: i as u32,
            start,
            end,
            vm_flags: f,
            vm_page_prot: vm_get_page_prot(f),
            anon_vma: v.anon_vma,
            split_by_mprotect: false,
            lock_readers: Default::default(),
            write_locked: false,
            lock_writer_waiting: None,
        });
    }
    crate::vec_map::sort_small_by_key(&mut vmas, |v| v.start);
    let find_vma = |a: u64| vmas.iter().find(|v| v.start <= a && a < v.end);
    let mut pt = PageTables {
        next_table_pfn: FIRST_TABLE_PFN,
        ..PageTables::default()
    };
    let mut folios = VecMap::new();
    let mut zero = Folio::new(ZERO_PFN, 0, false);
    zero.zero_page = true;
    zero.refcount = 1;
    folios.insert(ZERO_PFN, zero);
    let mut pfns = Pfns::default();
    // Pages.
    if sc.pages.len() > MAX_PAGES {
        return Err(err("pages", format!("at most {MAX_PAGES} pages")));
    }
    let mut mapped: VecMap<u64, ()> = VecMap::new();
    let mut table_of_pmd: VecMap<u64, u64> = VecMap::new();
    for (i, pg) in sc.pages.iter().enumerate() {
        let p = format!("pages[{i}]");
        let addr = pg.addr.0;
        if addr % PAGE_SIZE != 0 {
            return Err(err(
                format!("{p}.addr"),
                format!("{addr:#x} is not page-aligned"),
            ));
        }
        let Some(vma) = find_vma(addr) else {
            return Err(err(
                format!("{p}.addr"),
                format!("{addr:#x} is not inside any VMA"),
            ));
        };
        if mapped.insert(addr, ()).is_some() {
            return Err(err(
                format!("{p}.addr"),
                format!("{addr:#x} is mapped twice"),
            ));
        }
        pfns.claim(pg.pfn.0, 1, format!("{p}.pfn"))?;
        if pg.writable && vma.vm_flags & VM_WRITE == 0 {
            return Err(err(
                format!("{p}.writable"),
                "a writable PTE needs a VMA with VM_WRITE",
            ));
        }
        if pg.writable && !pg.exclusive {
            return Err(err(
                format!("{p}.exclusive"),
                "a writable anonymous PTE must map an exclusive page",
            ));
        }
        let mut e = pte::pfn_pte(pg.pfn.0, vma.vm_page_prot);
        if pg.dirty {
            e = pte::pte_mkdirty(e);
        }
        if pg.writable {
            e = pte::pte_mkwrite(e);
        }
        if !pg.young {
            e = pte::pte_mkold(e);
        }
        let table = *table_of_pmd.get_or_insert_with(pmd_index(addr), || pt.alloc_table());
        pt.tables
            .get_mut(&table)
            .expect("allocated")
            .entries_mut()
            .insert(pte_index(addr), e);
        let mut f = Folio::new(pg.pfn.0, 0, pg.exclusive);
        f.refcount = 1;
        f.mapcount[0] = 1;
        f.dirty = pg.dirty;
        f.data[0] = pg.data.0;
        folios.insert(pg.pfn.0, f);
    }
    for (&idx, &t) in &table_of_pmd {
        pt.pmds.insert(idx, pte::pmd_populate(t));
    }
    // THPs.
    if sc.thps.len() > MAX_THPS {
        return Err(err("thps", format!("at most {MAX_THPS} THPs")));
    }
    for (i, h) in sc.thps.iter().enumerate() {
        let p = format!("thps[{i}]");
        let addr = h.addr.0;
        if addr % PMD_SIZE != 0 {
            return Err(err(
                format!("{p}.addr"),
                format!("{addr:#x} is not 2 MiB-aligned"),
            ));
        }
        if h.pfn.0 % 512 != 0 {
            return Err(err(
                format!("{p}.pfn"),
                format!(
                    "{:#x} is not 512-page aligned (a THP is an order-9 folio)",
                    h.pfn.0
                ),
            ));
        }
        let Some(vma) = find_vma(addr).filter(|v| v.end >= addr + PMD_SIZE) else {
            return Err(err(
                format!("{p}.addr"),
                format!("{addr:#x}–{:#x} is not inside one VMA", addr + PMD_SIZE),
            ));
        };
        if pt.pmds.contains_key(&pmd_index(addr)) {
            return Err(err(
                format!("{p}.addr"),
                format!("the 2 MiB at {addr:#x} already has PTE-mapped pages or another THP"),
            ));
        }
        pfns.claim(h.pfn.0, 512, format!("{p}.pfn"))?;
        if h.writable && vma.vm_flags & VM_WRITE == 0 {
            return Err(err(
                format!("{p}.writable"),
                "a writable PMD needs a VMA with VM_WRITE",
            ));
        }
        if h.writable && !h.exclusive {
            return Err(err(
                format!("{p}.exclusive"),
                "a writable anonymous PMD must map an exclusive THP",
            ));
        }
        let mut e = pte::mk_huge_pmd(h.pfn.0, vma.vm_page_prot);
        if h.dirty {
            e = pte::pmd_mkdirty(e);
        }
        if h.writable {
            e = pte::pmd_mkwrite(e);
        }
        if !h.young {
            e = pte::pmd_mkold(e);
        }
        pt.pmds.insert(pmd_index(addr), e);
        // do_huge_pmd_anonymous_page deposits a PTE table for a later split.
        let dep = pt.alloc_table();
        pt.deposited.insert(pmd_index(addr), dep);
        let mut f = Folio::new(h.pfn.0, 9, h.exclusive);
        f.refcount = 1;
        f.entire_mapcount = 1;
        f.dirty = h.dirty;
        for (k, d) in f.data.iter_mut().enumerate() {
            *d = h.data.0.wrapping_add(k as u64);
        }
        folios.insert(h.pfn.0, f);
    }
    // Allocator pool.
    if sc.alloc_pfns.len() > MAX_ALLOC_PFNS {
        return Err(err(
            "alloc_pfns",
            format!("at most {MAX_ALLOC_PFNS} frames"),
        ));
    }
    for (i, a) in sc.alloc_pfns.iter().enumerate() {
        pfns.claim(a.0, 1, format!("alloc_pfns[{i}]"))?;
    }
    // Threads.
    if sc.threads.is_empty() {
        return Err(err("threads", "at least one thread is needed"));
    }
    if sc.threads.len() > MAX_THREADS {
        return Err(err("threads", format!("at most {MAX_THREADS} threads")));
    }
    let mut names = VecMap::new();
    let mut threads = Vec::new();
    for (i, t) in sc.threads.iter().enumerate() {
        let p = format!("threads[{i}]");
        if t.name.trim().is_empty() {
            return Err(err(format!("{p}.name"), "must not be empty"));
        }
        check_text(&format!("{p}.name"), &t.name, MAX_NAME, Lines::One)?;
        if names.insert(t.name.clone(), ()).is_some() {
            return Err(err(
                format!("{p}.name"),
                format!("`{}` is used by another thread", t.name),
            ));
        }
        if t.cpu >= sc.cpus {
            return Err(err(
                format!("{p}.cpu"),
                format!(
                    "CPU {} does not exist (the scenario has {} CPU{})",
                    t.cpu,
                    sc.cpus,
                    if sc.cpus == 1 { "" } else { "s" }
                ),
            ));
        }
        if t.ops.len() > MAX_OPS_PER_THREAD {
            return Err(err(
                format!("{p}.ops"),
                format!("at most {MAX_OPS_PER_THREAD} operations per thread"),
            ));
        }
        for (j, op) in t.ops.iter().enumerate() {
            op.check(&mut OpCheck {
                at: format!("{p}.ops[{j}]"),
                thps: &sc.thps,
                pfns: &mut pfns,
            })?;
        }
        threads.push(ThreadSpec {
            name: t.name.clone(),
            cpu: t.cpu,
            ops: t.ops.clone(),
        });
    }
    // TLBs.
    let mut cpus = vec![Cpu::default(); sc.cpus];
    for (i, t) in sc.tlb.iter().enumerate() {
        let p = format!("tlb[{i}]");
        if t.cpu >= sc.cpus {
            return Err(err(
                format!("{p}.cpu"),
                format!("CPU {} does not exist", t.cpu),
            ));
        }
        let a = t.addr.0;
        let pmd = pt.pmd(a);
        let e = if pmd & pte::PRESENT != 0 && pmd & pte::PSE != 0 {
            TlbEntry {
                vaddr: a & !(PMD_SIZE - 1),
                pfn: pte::pmd_pfn(pmd),
                writable: pmd & pte::RW != 0,
                dirty: pmd & pte::DIRTY != 0,
                huge: true,
            }
        } else {
            let v = pt.table_of(a).map_or(0, |tb| pt.pte(tb, pte_index(a)));
            if v & pte::PRESENT == 0 {
                return Err(err(
                    format!("{p}.addr"),
                    format!("{a:#x} has no present translation to cache"),
                ));
            }
            TlbEntry {
                vaddr: a & !(PAGE_SIZE - 1),
                pfn: pte::pte_pfn(v),
                writable: v & pte::RW != 0,
                dirty: v & pte::DIRTY != 0,
                huge: false,
            }
        };
        let tlb = &mut cpus[t.cpu].tlb;
        tlb.retain(|x| x.vaddr != e.vaddr);
        let pos = tlb.partition_point(|x| x.vaddr < e.vaddr);
        tlb.insert(pos, e);
    }
    // The condition: its thread references must name threads of this scenario.
    let condition = match &sc.condition {
        Some(c) => {
            let names: Vec<String> = threads.iter().map(|t| t.name.clone()).collect();
            Some(Arc::new(
                c.compile(&names).map_err(|e| err("condition", e.0))?,
            ))
        }
        None => None,
    };
    let nthreads = threads.len();
    let next_vma_id = vmas.len() as u32;
    let m = Machine {
        spec: Arc::new(Spec {
            kernel: sc.kernel.clone(),
            threads,
            cpus: sc.cpus,
            condition,
        }),
        mm: Mm {
            mmap_lock: RwSem::default(),
            vmas,
            next_vma_id,
            tlb_flush_pending: 0,
            tlb_flush_batched: false,
        }
        .into(),
        pt: pt.into(),
        folios: folios.into(),
        cpus: cpus.into(),
        threads: vec![
            Thread {
                op_index: 0,
                op: None,
                waiting: None,
                held: Vec::new(),
                killed: None,
                results: Vec::new(),
            }
            .into();
            nthreads
        ],
        alloc_pfns: sc.alloc_pfns.iter().map(|h| h.0).collect(),
        alloc_next: 0,
        last_write: Default::default(),
        flush_owed: Default::default(),
        steps: 0,
        broken: VecMap::new(),
        log: Default::default(),
        inv_cache: None,
        touched_ptes: Vec::new(),
    };
    // Schedules: each must be replayable and its expectation well-formed.
    if sc.schedules.len() > MAX_SCHEDULES {
        return Err(err(
            "schedules",
            format!("at most {MAX_SCHEDULES} schedules"),
        ));
    }
    let mut snames = VecMap::new();
    for (i, s) in sc.schedules.iter().enumerate() {
        let p = format!("schedules[{i}]");
        check_text(&format!("{p}.name"), &s.name, MAX_NAME, Lines::One)?;
        if snames.insert(s.name.as_str(), ()).is_some() {
            return Err(err(
                format!("{p}.name"),
                format!("`{}` is used by another schedule", s.name),
            ));
        }
        check_text(
            &format!("{p}.description"),
            &s.description,
            MAX_TEXT,
            Lines::Many,
        )?;
        let steps = s
            .resolve_metered(&m, meter)
            .map_err(|e| err(format!("{p}.{}", e.path), e.message))?;
        if steps.len() > MAX_SCHEDULE_LEN {
            return Err(err(
                format!("{p}.steps"),
                format!("at most {MAX_SCHEDULE_LEN} steps"),
            ));
        }
        if s.notes.len() > MAX_NOTES {
            return Err(err(
                format!("{p}.notes"),
                format!("at most {MAX_NOTES} notes"),
            ));
        }
        for (k, n) in &s.notes {
            if *k >= steps.len().max(1) {
                return Err(err(
                    format!("{p}.notes.{k}"),
                    format!("step {k} is beyond the schedule's {} steps", steps.len()),
                ));
            }
            check_text(&format!("{p}.notes.{k}"), n, MAX_TEXT, Lines::Many)?;
        }
        if let Some(Expectation::Violates { invariant, .. }) = &s.expect {
            if crate::invariants::by_id(invariant).is_none() {
                return Err(err(
                    format!("{p}.expect.invariant"),
                    format!(
                        "unknown invariant `{}`",
                        crate::strict_json::shorten(invariant)
                    ),
                ));
            }
        }
        check_schedule_metered(&m, &steps, meter)
            .map_err(|(k, msg)| err(format!("{p}.steps[{k}]"), msg))?;
    }
    Ok(m)
}

/// Replay `steps` on a copy of `m`; the first step naming a thread that cannot run is an
/// error (index, message).
pub fn check_schedule(m: &Machine, steps: &[usize]) -> Result<(), (usize, String)> {
    check_schedule_metered(m, steps, &mut Meter::unlimited())
}

fn check_schedule_metered(
    m: &Machine,
    steps: &[usize],
    meter: &mut Meter<'_>,
) -> Result<(), (usize, String)> {
    let mut m = m.clone();
    for (k, &t) in steps.iter().enumerate() {
        if !meter.step() {
            return Err((k, "validation stopped".into()));
        }
        if t >= m.threads.len() {
            return Err((
                k,
                format!(
                    "there is no thread {t} (threads are 0–{})",
                    m.threads.len() - 1
                ),
            ));
        }
        m.step_quiet(t).map_err(|e| {
            (
                k,
                format!("{} cannot take this step: {e}", m.thread_name(t)),
            )
        })?;
    }
    Ok(())
}
