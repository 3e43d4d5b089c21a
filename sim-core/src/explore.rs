//! Exploring all interleavings of a scenario: an exhaustive breadth-first search over
//! canonical states with sleep-set partial-order reduction, and a seeded random mode
//! (uniform or PCT) for state spaces too big to exhaust.
//!
//! # What the exhaustive search guarantees
//!
//! [`explore`] runs a breadth-first search from the initial machine. A state is identified
//! by a 128-bit hash of the canonical state (everything [`Machine`]'s `Hash` covers: no
//! step counter, no history), computed with two independent 64-bit lanes (an Fx-style lane
//! and a Murmur3-style lane, each with a 64-bit avalanche at the end) over 128-bit digests
//! of the machine's parts. Each part's digest is memoised in its copy-on-write wrapper
//! (`state::Shared`) until a step writes the part, so a successor rehashes only what its step
//! touched. A PTE table enters as its 128-bit digest, which every write keeps up to date
//! (`state::PteEntries`: a sum of per-entry hashes, so it depends on the entries only), and
//! not as its 512 entries; the owed TLB flushes likewise (`state::FlushOwed`). With
//! 128 bits, the chance that two of even 10⁸ distinct states share a key is below 10⁻²⁰;
//! with 64 bits it would be ~3·10⁻⁴ at that size, and the Fx mix alone is weak on
//! structured input. (A collision would merge two states and could hide a violation.) Only the key, a parent pointer (state index, thread) and — for the current
//! frontier — the machine itself are stored; schedules are rebuilt from parent pointers.
//!
//! Every step is checked: [`Machine::step_quiet`] returns the invariants violated after it
//! (state invariants, this step's events such as a completed store, and the end-of-run
//! checks: deadlock, locks held at exit, lost writes). A violation is attributed to the
//! transition that produced it — also when the transition leads to a state already seen —
//! so the counterexample is the path to the transition's source state plus its thread. Because the search goes level by level and every state is
//! first discovered at its shortest distance (see below), the first violation recorded for
//! an invariant is a *shortest* counterexample — with reduction on or off.
//!
//! # Partial-order reduction: sleep sets, and why they are sound here
//!
//! With `reduction: true`, the search carries a sleep set per state (a bit mask of threads):
//! from a state `s` with sleep set `Z`, the runnable threads not in `Z` are stepped in
//! increasing thread order `t1, t2, …`, and the child via `ti` gets the sleep set
//! `{u ∈ Z ∪ {t1..t(i-1)} : u and ti are independent at s}`. Threads in `Z` are not stepped
//! from `s` (counted in `pruned_by_reduction`).
//!
//! *Independence* is decided dynamically and state-locally: `u` and `t` are independent at
//! `s` iff both are runnable at `s`, `u` is runnable at `s.t` and `t` at `s.u`,
//! `s.t.u` and `s.u.t` have the same state key, **and each step reports the same violated
//! invariants in both orders** (`label(s.t, u) = label(s, u)` and
//! `label(s.u, t) = label(s, t)`). The last clause matters: some invariants are properties of
//! a step, not of a state (`write-after-mprotect-returned` looks at the store that just
//! completed), and without it a store could be "moved" across mprotect's return by the
//! reduction and its violation lost.
//!
//! Soundness in five lines:
//! 1. The argument for the stateless sleep-set tree needs independence only at the state
//!    where a swap happens, which is exactly where it is checked (conditional independence,
//!    Godefroid & Pirottin 1993): every path from the root has an explored equivalent, and
//!    equivalent paths have the same length, end state and multiset of (thread, labels).
//! 2. In a breadth-first search every discovery of a state at level `k+1` happens while level
//!    `k` is expanded, so before it is expanded its sleep set is the *intersection* over all
//!    those edges; by induction along the explored equivalent of a shortest path, each state
//!    is discovered at its true distance with a sleep set no larger than the tree's —
//!    so every reachable state is visited, at its shortest distance.
//! 3. A transition `(y, t)` not taken has `t` asleep for the level edge `(p, b)` into `y`,
//!    so `label(y, t) = label(p, t)` with `p` one level closer; descending, some taken
//!    transition with the same thread and labels starts no deeper than `y`.
//! 4. Hence rediscovering a state at a *later* level never needs a re-expansion (which a
//!    depth-first search with state caching would need), and every invariant violated by
//!    any reachable state or step is found with the same shortest length as without reduction.
//! 5. The test suite checks this on every scenario, and on random small scenarios
//!    (`tests/properties.rs`): the same states, verdicts and counterexample lengths with
//!    reduction on and off.
//!
//! # What the reduction costs and saves — an honest note
//!
//! Sleep sets never reduce the number of *states* (point 2: all are visited); they reduce
//! the transitions taken. But a dynamic commutation test computes `s.t.u` — the very
//! transition it then prunes. A memo keyed by (state key, thread) keeps every step the test
//! computes for the next level, where it is reused as a successor or as the base of the next
//! test (~95% are), so reduction executes about as many model steps as no reduction
//! (`steps` in the result shows it) and saves none; holding those machines a level longer
//! costs 1–2.7× the wall time in our benchmarks. Until the model provides footprints the
//! default is `reduction: false`: identical guarantees, less bookkeeping.
//!
//! Cutting *states* needs persistent (stubborn / ample) sets: at a state, step only a subset
//! of threads such that no step of any other thread, in any future, depends on the subset
//! before it moves (plus invisibility and a cycle proviso). That needs a sound
//! over-approximation of every thread's *future* footprint, and on the shipped scenarios it
//! would buy little, because the dependencies that matter are real: in `bench/seed-4p-*`
//! every page sits in one PTE table, so both migrations and mprotect serialise on its one
//! PT lock; a migration's batched `try_to_unmap_flush` flushes every CPU's TLB, which the
//! writer reads on each access and mprotect flushes; mprotect's walk writes every PTE that
//! the migrations and the writer's hardware walk read; and the folio fields a migration
//! changes (lock, data, freed) are read by the invariants (migration-entry, lost-write,
//! freed-page), so those steps are visible. What remains independent — a migration's
//! `folio_lock`, isolate and copy of a folio no other thread maps — is a few steps per
//! thread. Closing the gap needs per-line read/write footprints declared by the operations
//! (the listings already name each line's kernel function) and invariants that say which
//! state they read.
//!
//! # Budgets and control
//!
//! [`ExploreOptions`] bounds the number of states (hard cap [`HARD_MAX_STATES`]) and the
//! depth; the progress callback is called every `progress_every` discovered states and may
//! cancel. sim-core has no clock: callers turn wall-clock limits into cancellation. A result
//! with `complete: false` is a lower bound: "no violation found" then means "none within the
//! budget".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::condition::{Compiled, Facts, Quantifier};
use crate::hash::KeyHasher;
use crate::invariants;
use crate::machine::{Machine, StepError, MAX_STEPS};
use crate::scenario::{Scenario, ScenarioError};

// ---------------------------------------------------------------------------------- options

/// The most states any search may store: each costs 40–65 bytes (key, index, parent
/// pointer), plus the machines of one breadth-first level at a time.
pub const HARD_MAX_STATES: usize = 16_000_000;

/// Budgets and switches of the exhaustive search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExploreOptions {
    /// Stop (incomplete) once this many distinct states are stored; capped at
    /// [`HARD_MAX_STATES`].
    pub max_states: usize,
    /// Do not step beyond this many steps from the initial state (incomplete if a state at
    /// this depth could still step). Capped at [`MAX_STEPS`].
    pub max_depth: usize,
    /// Sleep-set partial-order reduction (same verdicts and counterexample lengths).
    pub reduction: bool,
    /// Call the progress callback every this many discovered states (0: never).
    pub progress_every: usize,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            max_states: 1_000_000,
            max_depth: MAX_STEPS,
            reduction: false,
            progress_every: 10_000,
        }
    }
}

/// Where a search is, passed to the progress callback.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Distinct states stored (random mode: distinct final states).
    pub states: usize,
    /// Transitions taken (random mode: steps).
    pub transitions: usize,
    /// Transitions skipped because the thread was asleep.
    pub pruned: usize,
    /// The breadth-first level being expanded (random mode: longest run so far).
    pub depth: usize,
    /// States waiting at the next level.
    pub frontier: usize,
    /// Random mode: runs finished.
    pub runs: usize,
}

/// What the progress callback wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Cancel,
}

/// Why a search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every reachable state was visited (random mode: every run was done).
    Complete,
    /// The state budget was used up.
    MaxStates,
    /// Some state at the depth limit could still step.
    MaxDepth,
    /// The progress callback cancelled.
    Cancelled,
}

/// The verdict for one invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantVerdict {
    pub id: String,
    /// A reachable step violates it (in random mode: some run found one).
    pub violated: bool,
    /// The thread of each step, from the initial state; its last step is the one after
    /// which the invariant is violated. Exhaustive search: a shortest one.
    pub counterexample: Option<Vec<usize>>,
    /// `counterexample.len()`: the violation shows after step `length - 1` (0-based).
    pub length: Option<usize>,
}

/// The outcome of [`explore`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExploreResult {
    /// Every reachable state was visited: "not violated" is a proof (for this scenario).
    pub complete: bool,
    pub stop_reason: StopReason,
    /// Distinct states visited (the initial state included).
    pub states: usize,
    /// Transitions taken (edges of the explored graph, including those into known states).
    pub transitions: usize,
    /// Transitions not taken because the thread was asleep (reduction on).
    pub pruned_by_reduction: usize,
    /// Model steps executed, including those done to test independence.
    pub steps: usize,
    /// The deepest breadth-first level reached (the longest shortest path).
    pub max_depth: usize,
    /// One entry per invariant, in [`invariants::ALL`] order.
    pub per_invariant: Vec<InvariantVerdict>,
    /// The scenario's condition, decided (absent when the scenario has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionVerdict>,
}

/// What the search says about the scenario's [`crate::condition`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionVerdict {
    /// The condition's canonical text.
    pub condition: String,
    /// `Some(true)`: the condition holds; `Some(false)`: it does not; `None`: the search
    /// stopped before deciding it.
    pub holds: Option<bool>,
    /// herd7's observation over the states in scope that were checked: "always" (every one
    /// satisfies the predicate), "sometimes", "never".
    pub observation: Observation,
    /// States in scope that were checked, and how many of them satisfy the predicate.
    pub checked: usize,
    pub satisfied: usize,
    /// A shortest schedule to a state in scope where the predicate is true (for `exists`
    /// the witness, for `~exists` the counterexample) ...
    pub satisfying: Option<Vec<usize>>,
    /// ... and to one where it is false (for `forall` the counterexample).
    pub falsifying: Option<Vec<usize>>,
}

impl ConditionVerdict {
    /// The schedule that decided the verdict, if a single state did: the witness of an
    /// `exists` that holds, the counterexample of a `~exists` or `forall` that fails.
    pub fn evidence(&self, q: Quantifier) -> Option<&Vec<usize>> {
        match (q, self.holds) {
            (Quantifier::Exists, Some(true)) | (Quantifier::NotExists, Some(false)) => {
                self.satisfying.as_ref()
            }
            (Quantifier::Forall, Some(false)) => self.falsifying.as_ref(),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Observation {
    Always,
    Sometimes,
    Never,
}

/// The condition's tally during a search.
///
/// A state is evaluated when it is first found. A predicate that reads `violated(...)` is
/// also evaluated again for each different set of invariants that another step into the
/// same state reports (a store that completes after mprotect returned violates an
/// invariant by what the step did, not by the state it leaves), so that it sees what the
/// explorer's own invariant verdicts see; `checked` then counts (state, reported set) pairs.
struct CondTrack {
    compiled: Arc<Compiled>,
    checked: usize,
    satisfied: usize,
    /// Shortest schedules to a state in scope where the predicate is true / false (found
    /// breadth-first, so the first is a shortest).
    first_sat: Option<Vec<usize>>,
    first_unsat: Option<Vec<usize>>,
    /// (state index, reported invariants) pairs evaluated, when the predicate reads them.
    evaluated: std::collections::HashSet<(u32, Labels)>,
}

impl CondTrack {
    fn new(compiled: Arc<Compiled>) -> Self {
        CondTrack {
            compiled,
            checked: 0,
            satisfied: 0,
            first_sat: None,
            first_unsat: None,
            evaluated: Default::default(),
        }
    }

    /// Evaluate state `index` (machine `m`, reached by a step reporting `labels`) unless it
    /// is out of scope or was evaluated with the same labels (`new`: first found). Returns
    /// `Some(value)` when it was evaluated and is the first true / false one, whose path
    /// the caller then records with [`CondTrack::record`].
    fn visit(&mut self, m: &Machine, labels: &Labels, index: u32, new: bool) -> Option<bool> {
        let reads = self.compiled.reads_invariants;
        if !new && !reads {
            return None;
        }
        if !self.compiled.in_scope(m) {
            return None;
        }
        if reads && !self.evaluated.insert((index, labels.clone())) {
            return None;
        }
        let ids: Vec<&'static str> = if reads {
            labels.ids().collect()
        } else {
            Vec::new()
        };
        let ok = self.compiled.holds(&Facts {
            machine: m,
            violated: &ids,
        });
        self.checked += 1;
        if ok {
            self.satisfied += 1;
        }
        let first = if ok {
            self.first_sat.is_none()
        } else {
            self.first_unsat.is_none()
        };
        first.then_some(ok)
    }

    fn record(&mut self, value: bool, path: Vec<usize>) {
        if value {
            self.first_sat = Some(path);
        } else {
            self.first_unsat = Some(path);
        }
    }

    fn verdict(&self, complete: bool) -> ConditionVerdict {
        let c = &self.compiled;
        let holds = match c.quantifier {
            Quantifier::Exists if self.first_sat.is_some() => Some(true),
            Quantifier::NotExists if self.first_sat.is_some() => Some(false),
            Quantifier::Forall if self.first_unsat.is_some() => Some(false),
            Quantifier::Exists => complete.then_some(false),
            Quantifier::NotExists | Quantifier::Forall => complete.then_some(true),
        };
        ConditionVerdict {
            condition: c.text.clone(),
            holds,
            observation: if self.satisfied == 0 {
                Observation::Never
            } else if self.satisfied == self.checked {
                Observation::Always
            } else {
                Observation::Sometimes
            },
            checked: self.checked,
            satisfied: self.satisfied,
            satisfying: self.first_sat.clone(),
            falsifying: self.first_unsat.clone(),
        }
    }
}

impl ExploreResult {
    pub fn verdict(&self, id: &str) -> Option<&InvariantVerdict> {
        self.per_invariant.iter().find(|v| v.id == id)
    }
    /// Whether any invariant is violated.
    pub fn any_violated(&self) -> bool {
        self.per_invariant.iter().any(|v| v.violated)
    }
}

// --------------------------------------------------------------------------------- hashing

/// A 128-bit state key as two words (8-byte aligned: smaller map entries than `u128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key(u64, u64);

/// The key of a machine's canonical state: the same fields as `Machine`'s `Hash`, each part
/// entering as a 128-bit digest — memoised in the part's copy-on-write wrapper
/// ([`crate::state::Shared`]) until a step changes it, so a successor rehashes only what its
/// step touched. Within the page tables each PTE table contributes its digest (kept up to
/// date by every write, see [`crate::state::PteEntries`]), within the folios each per-page
/// vector its memoised digest ([`crate::state::PageVec`]), and the owed flushes their
/// running digest ([`crate::state::FlushOwed`]). Every digest is a fixed function of its
/// part's value, so the key is still a function of the state alone: equal states have
/// equal keys whatever path led to them.
fn key_of(m: &Machine) -> Key {
    let (a, b) = key_words(m);
    Key(a, b)
}

fn key_words(m: &Machine) -> (u64, u64) {
    let mut h = KeyHasher::new();
    let word2 = |h: &mut KeyHasher, (a, b): (u64, u64)| {
        h.write_u64(a);
        h.write_u64(b);
    };
    word2(&mut h, m.mm.memo_digest(crate::hash::digest));
    word2(&mut h, m.pt.memo_digest(page_tables_digest));
    word2(&mut h, m.folios.memo_digest(folios_digest));
    word2(&mut h, m.cpus.memo_digest(crate::hash::digest));
    h.write_u64(m.threads.len() as u64);
    for t in &m.threads {
        word2(&mut h, t.memo_digest(crate::hash::digest));
    }
    m.alloc_next.hash(&mut h);
    word2(&mut h, m.last_write.memo_digest(crate::hash::digest));
    // The owed flushes as their running digest, and their count.
    h.write_u64(m.flush_owed.len() as u64);
    word2(&mut h, m.flush_owed.digest());
    h.words()
}

/// The page tables' share of the key: each PTE table by its running digest.
fn page_tables_digest(pt: &crate::state::PageTables) -> (u64, u64) {
    let mut h = KeyHasher::new();
    pt.pmds.hash(&mut h);
    h.write_u64(pt.tables.len() as u64);
    for (&pfn, t) in &pt.tables {
        h.write_u64(pfn);
        let (a, b) = t.entries.digest();
        h.write_u64(a);
        h.write_u64(b);
        t.ptl.hash(&mut h);
    }
    pt.deposited.hash(&mut h);
    pt.pmd_locks.hash(&mut h);
    pt.next_table_pfn.hash(&mut h);
    h.words()
}

/// The folios' share of the key: each per-page vector by its memoised digest.
fn folios_digest(folios: &crate::vec_map::VecMap<u64, crate::state::Folio>) -> (u64, u64) {
    let mut h = KeyHasher::new();
    h.write_u64(folios.len() as u64);
    for (&pfn, f) in folios {
        h.write_u64(pfn);
        let crate::state::Folio {
            pfn: head,
            order,
            locked,
            waiters,
            isolated,
            refcount,
            entire_mapcount,
            mapcount,
            anon_exclusive,
            dirty,
            data,
            freed,
            zero_page,
        } = f;
        (
            head,
            order,
            locked,
            waiters,
            isolated,
            refcount,
            entire_mapcount,
        )
            .hash(&mut h);
        (dirty, freed, zero_page).hash(&mut h);
        // Per-page vectors as memoised digests (recomputed only after a write to them).
        for (a, b) in [mapcount.digest(), anon_exclusive.digest(), data.digest()] {
            h.write_u64(a);
            h.write_u64(b);
        }
    }
    h.words()
}

/// The 128-bit key the explorer identifies a machine's canonical state by.
pub fn state_key(m: &Machine) -> u128 {
    let k = key_of(m);
    ((k.0 as u128) << 64) | k.1 as u128
}

/// Keys are hashes already: fold them, do not rehash.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 ^= (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, i: u64) {
        // Key words are uniformly distributed already; the mix separates the two words.
        self.0 = (self.0 ^ i)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

type FoldMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

// ------------------------------------------------------------------------------- labels

/// The set of invariants a step reports, as a bit mask over [`invariants::ALL`] (bit 31:
/// an id this module does not know, kept by name in `Labels::other`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Labels {
    mask: u32,
    other: Vec<&'static str>,
}

impl Labels {
    fn from_ids(ids: Vec<&'static str>) -> Labels {
        let mut l = Labels::default();
        for id in ids {
            match invariants::ALL.iter().position(|i| i.id == id) {
                Some(k) if k < 31 => l.mask |= 1 << k,
                _ => {
                    if !l.other.contains(&id) {
                        l.other.push(id);
                        l.other.sort_unstable();
                    }
                }
            }
        }
        l
    }
    fn is_empty(&self) -> bool {
        self.mask == 0 && self.other.is_empty()
    }
    fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        invariants::ALL
            .iter()
            .enumerate()
            .filter(move |(k, _)| self.mask & (1 << k) != 0)
            .map(|(_, i)| i.id)
            .chain(self.other.iter().copied())
    }
}

/// Per-invariant findings, in first-found order.
#[derive(Default)]
struct Findings {
    found: Vec<(&'static str, Vec<usize>)>,
}

impl Findings {
    fn has(&self, id: &str) -> bool {
        self.found.iter().any(|(i, _)| *i == id)
    }
    /// Whether `labels` names an invariant not found yet.
    fn is_new(&self, labels: &Labels) -> bool {
        !labels.is_empty() && labels.ids().any(|id| !self.has(id))
    }
    /// Record the invariants of `labels` not found yet, with `path`.
    fn record(&mut self, labels: &Labels, path: &[usize]) {
        for id in labels.ids() {
            if !self.has(id) {
                self.found.push((id, path.to_vec()));
            }
        }
    }
    /// Keep the shorter schedule per invariant (random mode).
    fn record_shortest(&mut self, labels: &Labels, path: &[usize]) {
        for id in labels.ids() {
            match self.found.iter_mut().find(|(i, _)| *i == id) {
                Some((_, p)) if p.len() <= path.len() => {}
                Some((_, p)) => *p = path.to_vec(),
                None => self.found.push((id, path.to_vec())),
            }
        }
    }
    fn verdicts(&self) -> Vec<InvariantVerdict> {
        let mut out: Vec<InvariantVerdict> = invariants::ALL
            .iter()
            .map(|i| {
                let p = self.found.iter().find(|(id, _)| *id == i.id).map(|x| &x.1);
                InvariantVerdict {
                    id: i.id.to_string(),
                    violated: p.is_some(),
                    counterexample: p.cloned(),
                    length: p.map(Vec::len),
                }
            })
            .collect();
        for (id, p) in &self.found {
            if invariants::by_id(id).is_none() {
                out.push(InvariantVerdict {
                    id: id.to_string(),
                    violated: true,
                    counterexample: Some(p.clone()),
                    length: Some(p.len()),
                });
            }
        }
        out
    }
}

// ------------------------------------------------------------------------ the exhaustive search

/// The sleep-set bit of thread `t` (threads beyond 31 never sleep; reduction is off then).
fn bit(t: usize) -> u32 {
    if t < 32 {
        1 << t
    } else {
        0
    }
}

/// A machine one step after another, with its key and the step's labels.
struct Succ {
    m: Machine,
    key: Key,
    labels: Labels,
}

/// A state waiting to be expanded.
struct Node {
    m: Machine,
    key: Key,
    index: u32,
    sleep: u32,
}

/// Steps remembered for the next levels, by (state key, thread). Every step the
/// independence test computes is one the search would take or test again later.
type Memo = FoldMap<(Key, u8), Option<Box<Succ>>>;

/// The most remembered steps (the memo holds machines); beyond it, tests recompute.
const MEMO_CAP: usize = 1 << 16;

struct Search<'a, F: FnMut(&Progress) -> Control> {
    opts: ExploreOptions,
    progress: &'a mut F,
    next_report: usize,
    /// Per state: (parent index, thread of the step from it). The root's parent is u32::MAX.
    parent: Vec<(u32, u16)>,
    seen: FoldMap<Key, u32>,
    findings: Findings,
    transitions: usize,
    pruned: usize,
    steps: usize,
    /// The memo for states of the level being expanded, and for the level after it.
    memo_cur: Memo,
    memo_next: Memo,
    stop: Option<StopReason>,
    depth: usize,
    /// The scenario's condition, if it has one.
    cond: Option<CondTrack>,
}

impl<F: FnMut(&Progress) -> Control> Search<'_, F> {
    fn path(&self, mut index: u32) -> Vec<usize> {
        let mut p = Vec::new();
        while let Some(&(parent, t)) = self.parent.get(index as usize) {
            if parent == u32::MAX {
                break;
            }
            p.push(t as usize);
            index = parent;
        }
        p.reverse();
        p
    }

    /// The condition at state `index`, reached from state `from` by a step of `t`.
    fn visit_condition(
        &mut self,
        m: &Machine,
        labels: &Labels,
        index: u32,
        new: bool,
        from: u32,
        t: usize,
    ) {
        let Some(c) = &mut self.cond else { return };
        if let Some(value) = c.visit(m, labels, index, new) {
            let mut p = self.path(from);
            p.push(t);
            if let Some(c) = &mut self.cond {
                c.record(value, p);
            }
        }
    }

    /// Step `t` from `base` (whose key is `key`), through the memo when reducing.
    /// `None`: `t` cannot step there.
    fn step(&mut self, base: &Machine, key: Key, t: usize) -> Option<Succ> {
        if self.opts.reduction {
            let k = (key, t as u8);
            if let Some(s) = self.memo_cur.remove(&k) {
                return s.map(|b| *b);
            }
            if let Some(s) = self.memo_next.remove(&k) {
                return s.map(|b| *b);
            }
        }
        self.fresh_step(base, t)
    }

    fn fresh_step(&mut self, base: &Machine, t: usize) -> Option<Succ> {
        let mut m = base.clone();
        self.steps += 1;
        match m.step_quiet(t) {
            Ok(ids) => {
                let key = key_of(&m);
                Some(Succ {
                    m,
                    key,
                    labels: Labels::from_ids(ids),
                })
            }
            Err(StepError::StepLimit(_)) => {
                self.note_depth_limit();
                None
            }
            Err(_) => None,
        }
    }

    fn note_depth_limit(&mut self) {
        if self.stop.is_none() {
            self.stop = Some(StopReason::MaxDepth);
        }
    }

    /// Step `t` from `base` for an independence test and keep the result for later.
    fn test_step(&mut self, base: &Succ, t: usize) -> Option<(Key, Labels)> {
        let k = (base.key, t as u8);
        if let Some(s) = self.memo_cur.get(&k).or_else(|| self.memo_next.get(&k)) {
            return s.as_ref().map(|s| (s.key, s.labels.clone()));
        }
        let s = self.fresh_step(&base.m, t);
        let out = s.as_ref().map(|s| (s.key, s.labels.clone()));
        if self.memo_next.len() < MEMO_CAP {
            self.memo_next.insert(k, s.map(Box::new));
        }
        out
    }

    /// `u` and `t` independent at the state whose successors they are.
    fn independent(&mut self, su: &Succ, u: usize, st: &Succ, t: usize) -> bool {
        let Some((k_tu, l_tu)) = self.test_step(st, u) else {
            return false;
        };
        let Some((k_ut, l_ut)) = self.test_step(su, t) else {
            return false;
        };
        k_tu == k_ut && l_tu == su.labels && l_ut == st.labels
    }

    fn report(&mut self, frontier: usize) {
        if self.opts.progress_every == 0 || self.parent.len() < self.next_report {
            return;
        }
        while self.next_report <= self.parent.len() {
            self.next_report += self.opts.progress_every;
        }
        let p = Progress {
            states: self.parent.len(),
            transitions: self.transitions,
            pruned: self.pruned,
            depth: self.depth,
            frontier,
            runs: 0,
        };
        if (self.progress)(&p) == Control::Cancel {
            self.stop = Some(StopReason::Cancelled);
        }
    }

    /// Expand one state; new states go to `next` (whose first index is `next_start`).
    fn expand(&mut self, node: Node, next: &mut Vec<Node>, next_start: u32) {
        let n = node.m.threads.len();
        let runnable: Vec<usize> = (0..n).filter(|&t| node.m.is_runnable(t)).collect();
        if runnable.is_empty() {
            return;
        }
        if self.depth >= self.opts.max_depth {
            self.note_depth_limit();
            return;
        }
        let reduce = self.opts.reduction;
        let sleeping = runnable
            .iter()
            .filter(|&&t| node.sleep & bit(t) != 0)
            .count();
        self.pruned += sleeping;
        if sleeping == runnable.len() {
            return;
        }
        // Successors of the awake threads, and (for the tests) of the sleeping ones.
        let mut awake: Vec<(usize, Succ)> = Vec::with_capacity(runnable.len());
        let mut asleep: Vec<(usize, Succ)> = Vec::with_capacity(sleeping);
        for &t in &runnable {
            let is_asleep = node.sleep & bit(t) != 0;
            if let Some(s) = self.step(&node.m, node.key, t) {
                if is_asleep {
                    asleep.push((t, s));
                } else {
                    awake.push((t, s));
                }
            }
        }
        // Sleep sets of the children.
        let mut sleeps = vec![0u32; awake.len()];
        if reduce {
            for i in 0..awake.len() {
                let t = awake[i].0;
                let mut z = 0u32;
                // Sleeping threads first, then the awake ones stepped before t.
                let (before, rest) = awake.split_at(i);
                let st = &rest[0].1;
                for (u, su) in asleep.iter().chain(before) {
                    if self.independent(su, *u, st, t) {
                        z |= bit(*u);
                    }
                }
                sleeps[i] = z;
            }
        }
        drop(asleep);
        for ((t, s), sleep) in awake.into_iter().zip(sleeps) {
            self.transitions += 1;
            let from = node.index;
            if self.findings.is_new(&s.labels) {
                let mut p = self.path(from);
                p.push(t);
                self.findings.record(&s.labels, &p);
            }
            match self.seen.get(&s.key).copied() {
                Some(i) => {
                    self.visit_condition(&s.m, &s.labels, i, false, from, t);
                    if i >= next_start {
                        // Rediscovered at the same level: intersect the sleep sets.
                        next[(i - next_start) as usize].sleep &= sleep;
                    }
                    // Rediscovered at a later level than its own: nothing to do (module
                    // docs, point 4).
                }
                None => {
                    if self.parent.len() >= self.opts.max_states {
                        self.stop = Some(StopReason::MaxStates);
                        return;
                    }
                    let index = self.parent.len() as u32;
                    self.parent.push((from, t as u16));
                    self.seen.insert(s.key, index);
                    self.visit_condition(&s.m, &s.labels, index, true, from, t);
                    next.push(Node {
                        m: s.m,
                        key: s.key,
                        index,
                        sleep,
                    });
                }
            }
        }
    }
}

/// Explore every interleaving of `initial` (normally `scenario.build()?`). Schedules in the
/// result are thread ids from `initial`.
pub fn explore(initial: &Machine, opts: &ExploreOptions) -> ExploreResult {
    explore_with(initial, opts, |_| Control::Continue)
}

/// Validate `scenario`, build its initial machine and [`explore`] it.
pub fn explore_scenario(
    scenario: &Scenario,
    opts: &ExploreOptions,
) -> Result<ExploreResult, ScenarioError> {
    Ok(explore(&scenario.build()?, opts))
}

/// [`explore`] with a progress callback, called every `opts.progress_every` states; it may
/// cancel the search.
pub fn explore_with<F>(initial: &Machine, opts: &ExploreOptions, mut progress: F) -> ExploreResult
where
    F: FnMut(&Progress) -> Control,
{
    let mut opts = opts.clone();
    opts.max_states = opts.max_states.clamp(1, HARD_MAX_STATES);
    // Sleep sets are 32-bit masks; scenarios have at most 8 threads (and parent pointers
    // hold 16-bit thread ids).
    let n = initial.threads.len();
    if n > 32 {
        opts.reduction = false;
    }
    if n > u16::MAX as usize {
        return ExploreResult {
            complete: false,
            stop_reason: StopReason::MaxStates,
            states: 0,
            transitions: 0,
            pruned_by_reduction: 0,
            steps: 0,
            max_depth: 0,
            per_invariant: Findings::default().verdicts(),
            condition: None,
        };
    }
    opts.max_depth = opts.max_depth.min(MAX_STEPS);
    let every = opts.progress_every;
    let mut s = Search {
        opts,
        progress: &mut progress,
        next_report: every,
        parent: vec![(u32::MAX, 0)],
        seen: FoldMap::default(),
        findings: Findings::default(),
        transitions: 0,
        pruned: 0,
        steps: 0,
        memo_cur: Memo::default(),
        memo_next: Memo::default(),
        stop: None,
        depth: 0,
        cond: initial
            .spec
            .condition
            .as_ref()
            .map(|c| CondTrack::new(Arc::clone(c))),
    };
    // The initial state itself (normally clean; a scenario cannot start deadlocked).
    let root_labels = Labels::from_ids(
        invariants::check_after_step(initial)
            .into_iter()
            .map(|v| v.id)
            .collect(),
    );
    s.findings.record(&root_labels, &[]);
    if let Some(c) = &mut s.cond {
        if let Some(value) = c.visit(initial, &root_labels, 0, true) {
            c.record(value, Vec::new());
        }
    }
    let key = key_of(initial);
    s.seen.insert(key, 0);
    let mut frontier = vec![Node {
        m: initial.clone(),
        key,
        index: 0,
        sleep: 0,
    }];
    let mut max_level = 0;
    'levels: while !frontier.is_empty() {
        max_level = s.depth;
        let next_start = s.parent.len() as u32;
        let mut next = Vec::new();
        let mut left = frontier.len();
        for node in frontier {
            left -= 1;
            s.expand(node, &mut next, next_start);
            s.report(left + next.len());
            if matches!(s.stop, Some(StopReason::MaxStates | StopReason::Cancelled)) {
                break 'levels;
            }
        }
        frontier = next;
        s.memo_cur = std::mem::take(&mut s.memo_next);
        if !frontier.is_empty() {
            s.depth += 1;
        }
    }
    let stop = s.stop.unwrap_or(StopReason::Complete);
    let condition = s
        .cond
        .as_ref()
        .map(|c| c.verdict(stop == StopReason::Complete));
    ExploreResult {
        condition,
        complete: stop == StopReason::Complete,
        stop_reason: stop,
        states: s.parent.len(),
        transitions: s.transitions,
        pruned_by_reduction: s.pruned,
        steps: s.steps,
        max_depth: max_level.max(s.depth),
        per_invariant: s.findings.verdicts(),
    }
}

// ---------------------------------------------------------------------------- random mode

/// A small seeded generator (splitmix64): deterministic on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`), by rejection (no modulo bias).
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// How random runs pick the next thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum RandomMode {
    /// Each step, a runnable thread uniformly at random.
    Uniform,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random thread
    /// priorities, the highest runnable runs, and at `depth - 1` random steps the running
    /// thread drops to a low priority. Finds any bug of depth `depth` with probability at
    /// least 1/(n·k^(depth-1)) per run (n threads, k steps).
    Pct { depth: usize },
}

/// Options of [`explore_random_with`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomOptions {
    pub runs: usize,
    pub seed: u64,
    pub mode: RandomMode,
    /// The most steps per run (capped at [`MAX_STEPS`]).
    pub max_steps: usize,
    /// Call the progress callback every this many runs (0: never).
    pub progress_every: usize,
}

impl Default for RandomOptions {
    fn default() -> Self {
        RandomOptions {
            runs: 1000,
            seed: 0,
            mode: RandomMode::Uniform,
            max_steps: MAX_STEPS,
            progress_every: 100,
        }
    }
}

/// The outcome of random runs. Findings are the shortest schedule seen per invariant; each
/// replays from the initial state with [`Machine::step`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomResult {
    pub seed: u64,
    pub mode: RandomMode,
    /// Runs done (fewer than asked if cancelled).
    pub runs: usize,
    pub stop_reason: StopReason,
    /// Steps taken over all runs.
    pub steps: usize,
    /// Distinct final states reached.
    pub final_states: usize,
    /// Runs cut at `max_steps`.
    pub truncated_runs: usize,
    pub per_invariant: Vec<InvariantVerdict>,
}

/// `runs` random runs from `initial` with generator seed `seed`.
pub fn explore_random(initial: &Machine, runs: usize, seed: u64, mode: RandomMode) -> RandomResult {
    let opts = RandomOptions {
        runs,
        seed,
        mode,
        ..RandomOptions::default()
    };
    explore_random_with(initial, &opts, |_| Control::Continue)
}

/// Random runs with a progress callback (every `progress_every` runs; may cancel).
pub fn explore_random_with<F>(
    initial: &Machine,
    opts: &RandomOptions,
    mut progress: F,
) -> RandomResult
where
    F: FnMut(&Progress) -> Control,
{
    let max_steps = opts.max_steps.min(MAX_STEPS);
    let mut rng = SplitMix64::new(opts.seed);
    let mut findings = Findings::default();
    let mut finals: FoldMap<Key, ()> = FoldMap::default();
    let n = initial.threads.len();
    let mut steps = 0usize;
    let mut truncated = 0usize;
    let mut longest = 0usize;
    let mut stop = StopReason::Complete;
    // PCT needs an estimate of the run length k: the longest run so far, starting from one
    // run that always picks the lowest runnable thread.
    let mut k_est = {
        let mut m = initial.clone();
        let mut k = 0;
        while k < max_steps {
            let Some(t) = (0..n).find(|&t| m.is_runnable(t)) else {
                break;
            };
            if m.step_quiet(t).is_err() {
                break;
            }
            k += 1;
        }
        k.max(1)
    };
    let mut schedule: Vec<usize> = Vec::new();
    let mut runnable: Vec<usize> = Vec::with_capacity(n);
    let mut done = 0;
    for run in 0..opts.runs {
        let mut m = initial.clone();
        schedule.clear();
        // PCT set-up: priorities d..d+n-1 shuffled, d-1 change points in 1..=k.
        let (mut prio, changes) = match opts.mode {
            RandomMode::Uniform => (Vec::new(), Vec::new()),
            RandomMode::Pct { depth } => {
                let d = depth.max(1);
                let mut p: Vec<usize> = (0..n).map(|i| d + i).collect();
                for i in (1..n).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    p.swap(i, j);
                }
                let c: Vec<(usize, usize)> = (1..d)
                    .map(|j| (1 + rng.below(k_est as u64) as usize, d - j))
                    .collect();
                (p, c)
            }
        };
        loop {
            if schedule.len() >= max_steps {
                truncated += 1;
                break;
            }
            runnable.clear();
            runnable.extend((0..n).filter(|&t| m.is_runnable(t)));
            if runnable.is_empty() {
                break;
            }
            let t = match opts.mode {
                RandomMode::Uniform => runnable[rng.below(runnable.len() as u64) as usize],
                RandomMode::Pct { .. } => {
                    let best = |prio: &[usize]| {
                        *runnable
                            .iter()
                            .max_by_key(|&&t| prio[t])
                            .expect("some thread is runnable")
                    };
                    let mut t = best(&prio);
                    for &(at, low) in &changes {
                        if at == schedule.len() + 1 {
                            prio[t] = low;
                            t = best(&prio);
                        }
                    }
                    t
                }
            };
            let Ok(ids) = m.step_quiet(t) else {
                truncated += 1;
                break;
            };
            schedule.push(t);
            steps += 1;
            if !ids.is_empty() {
                findings.record_shortest(&Labels::from_ids(ids), &schedule);
            }
        }
        longest = longest.max(schedule.len());
        k_est = k_est.max(schedule.len());
        finals.insert(key_of(&m), ());
        done = run + 1;
        if opts.progress_every > 0 && done % opts.progress_every == 0 {
            let p = Progress {
                states: finals.len(),
                transitions: steps,
                pruned: 0,
                depth: longest,
                frontier: 0,
                runs: done,
            };
            if progress(&p) == Control::Cancel {
                stop = StopReason::Cancelled;
                break;
            }
        }
    }
    RandomResult {
        seed: opts.seed,
        mode: opts.mode,
        runs: done,
        stop_reason: stop,
        steps,
        final_states: finals.len(),
        truncated_runs: truncated,
        per_invariant: findings.verdicts(),
    }
}
