//! sim-core: the mmrace model.
//!
//! Linux v6.3/v6.4 memory-management operations (mprotect, anonymous page migration, THP
//! PMD split, user loads/stores and the page-fault path) as deterministic step machines over
//! an emulated x86-64 page table with real entry encodings and real lock semantics.
//!
//! Data flows one way: a [`Scenario`] is validated into a [`Machine`]; [`Machine::step`]
//! applies one atomic action of one thread and returns a [`StepRecord`]; a [`Trace`] is the
//! scenario plus the schedule stepped so far. There is no I/O, no clock and no randomness
//! here (the explorer's random mode uses a seeded generator), so the same scenario and
//! schedule give the same trace natively and in wasm.

pub mod condition;
pub mod cow;
pub mod explore;
pub mod flags;
pub mod hash;
pub mod invariants;
mod json_path;
pub mod kernel;
pub mod lex;
pub mod library;
pub mod link;
pub mod litmus;
pub mod lock_view;
pub mod machine;
pub mod num;
pub mod ops;
pub mod pte;
pub mod record;
pub mod runs;
pub mod scenario;
pub mod schedule;
pub mod state;
pub mod strict_json;
pub mod vec_map;

pub use kernel::{Historical, Kernel, Mutation, Version};
pub use machine::{Machine, Status, StepError};
pub use record::StepRecord;
pub use scenario::{Scenario, ScenarioError};

use serde::Serialize;

/// A replayed schedule: every step's record and the state hash after it.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub records: Vec<StepRecord>,
    pub state_hashes: Vec<u64>,
}

impl Trace {
    /// One hash over the whole trace as a user sees it: per step the thread, the pseudo-code
    /// line and kernel function, every state change, lock event and event, and the
    /// invariants broken. Internal representation (program-counter enums, the canonical
    /// state hash) and the wording of explanations are deliberately left out, so a refactor
    /// that changes nothing visible keeps old links' recorded hashes valid.
    pub fn hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = hash::StableHasher::new();
        for r in &self.records {
            (r.thread as u64).hash(&mut h);
            r.line.hash(&mut h);
            r.func.hash(&mut h);
            serde_json::to_string(&r.changes)
                .expect("serialisable")
                .hash(&mut h);
            serde_json::to_string(&r.locks)
                .expect("serialisable")
                .hash(&mut h);
            serde_json::to_string(&r.events)
                .expect("serialisable")
                .hash(&mut h);
            r.violations.hash(&mut h);
        }
        h.finish()
    }
}

/// Replay `schedule` from the scenario's initial state.
pub fn replay(sc: &Scenario, schedule: &[usize]) -> Result<(Machine, Trace), ReplayError> {
    let mut m = sc.build()?;
    let mut t = Trace {
        records: Vec::with_capacity(schedule.len()),
        state_hashes: Vec::with_capacity(schedule.len()),
    };
    for (i, &tid) in schedule.iter().enumerate() {
        let r = m
            .step(tid)
            .map_err(|e| ReplayError::Step { index: i, error: e })?;
        t.records.push(r);
        t.state_hashes.push(m.state_hash());
    }
    Ok((m, t))
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("step {index}: {error}")]
    Step { index: usize, error: StepError },
}
