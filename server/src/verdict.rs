//! The explorer's verdict on an uploaded scenario: computed once, at upload, natively and
//! within a budget, and stored with the scenario (the `verdict` column, JSON text).
//!
//! [`verdict`] is the one place that calls sim-core's explorer. The stored JSON is this
//! module's [`Verdict`], not the explorer's own result type, so that a stored verdict keeps
//! its meaning when the explorer's internals change.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sim_core::Scenario;

/// What the explorer may spend on one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_states: u64,
    pub max_time: Duration,
}

/// The headline answer for a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every interleaving explored; no invariant violated.
    Safe,
    /// At least one invariant violated (see `violations`).
    Violated,
    /// The budget ran out before the search finished (and found no violation so far).
    Budget,
}

/// The stored verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Distinct states visited.
    pub states: u64,
    /// Wall time spent, in milliseconds.
    pub elapsed_ms: u64,
    /// Per violated invariant, the shortest counterexample schedule found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// The budget it ran under.
    pub max_states: u64,
    pub max_time_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: String,
    /// The thread of each step, replayable with `sim_core::replay`.
    pub schedule: Vec<usize>,
    /// The step (0-based) at which the invariant first failed.
    pub step: usize,
}

impl Verdict {
    /// For metrics.
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome {
            Outcome::Safe => "safe",
            Outcome::Violated => "violated",
            Outcome::Budget => "budget",
        }
    }
}

/// Run the explorer on `sc` (already validated) within `budget`. `cancel` set to true stops
/// it early (the upload was abandoned). `None` when this build has no explorer or the run was
/// cancelled: the scenario is then stored without a verdict.
pub fn verdict(sc: &Scenario, budget: &Budget, cancel: &AtomicBool) -> Option<Verdict> {
    let _ = (sc, budget, cancel);
    None
}
