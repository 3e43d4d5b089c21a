//! The explorer's verdict on an uploaded scenario: computed once, at upload, natively and
//! within a budget, and stored with the scenario (the `verdict` column, JSON text).
//!
//! [`verdict`] is the one place that calls sim-core's explorer
//! ([`sim_core::explore::explore_with`], exhaustive breadth-first search). sim-core has no
//! clock: the wall-time budget and the cancellation of abandoned uploads are a progress
//! callback here. The stored JSON is this module's [`Verdict`], not the explorer's own result
//! type, so that a stored verdict keeps its meaning when the explorer's internals change.
//!
//! A violation found is definitive even if the budget ran out before the search finished;
//! "safe" needs a complete search; otherwise the outcome is "budget" (and `exhausted` says
//! which budget).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sim_core::explore::{explore_with, Control, ExploreOptions, StopReason};
use sim_core::{Machine, Scenario};

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
    /// Every reachable state was visited: `safe` is then a proof for this scenario.
    pub complete: bool,
    /// When the budget ran out: which one (`states`, `time` or `depth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<String>,
    /// Distinct states visited.
    pub states: u64,
    /// Transitions taken.
    pub transitions: u64,
    /// The longest shortest path, in steps.
    pub max_depth: u64,
    /// Wall time spent, in milliseconds.
    pub elapsed_ms: u64,
    /// Per violated invariant, a shortest counterexample schedule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// The budget it ran under.
    pub max_states: u64,
    pub max_time_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: String,
    /// The thread of each step from the initial state, replayable with `sim_core::replay`;
    /// the invariant is violated after its last step.
    pub schedule: Vec<usize>,
    /// The step (0-based) after which the invariant is violated: `schedule.len() - 1`.
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

/// How often (in discovered states) the explorer comes back to check the clock and the
/// cancel flag.
const CHECK_EVERY: usize = 32;

/// Run the exhaustive explorer on `sc` within `budget`. `cancel` set to true stops it early
/// (the upload was abandoned): then `None`, as for a scenario that does not build.
pub fn verdict(sc: &Scenario, budget: &Budget, cancel: &AtomicBool) -> Option<Verdict> {
    verdict_for(&sc.build().ok()?, budget, cancel)
}

/// [`verdict`] for an already built initial machine (`scenario.build()`).
pub fn verdict_for(initial: &Machine, budget: &Budget, cancel: &AtomicBool) -> Option<Verdict> {
    verdict_until(initial, budget, Instant::now() + budget.max_time, cancel)
}

/// [`verdict_for`] with the wall-time budget as a deadline shared with work done before
/// (an upload's validation): the explorer gets what is left of it.
pub fn verdict_until(
    initial: &Machine,
    budget: &Budget,
    deadline: Instant,
    cancel: &AtomicBool,
) -> Option<Verdict> {
    let opts = ExploreOptions {
        max_states: usize::try_from(budget.max_states).unwrap_or(usize::MAX),
        progress_every: CHECK_EVERY,
        ..ExploreOptions::default()
    };
    let start = Instant::now();
    let mut timed_out = false;
    let result = explore_with(initial, &opts, |_| {
        if cancel.load(Ordering::Relaxed) {
            Control::Cancel
        } else if Instant::now() >= deadline {
            timed_out = true;
            Control::Cancel
        } else {
            Control::Continue
        }
    });
    let elapsed = start.elapsed();
    let exhausted = match result.stop_reason {
        StopReason::Complete => None,
        StopReason::MaxStates => Some("states"),
        StopReason::MaxDepth => Some("depth"),
        StopReason::Cancelled if timed_out => Some("time"),
        StopReason::Cancelled => return None,
    };
    let violations: Vec<Violation> = result
        .per_invariant
        .iter()
        .filter(|v| v.violated)
        .filter_map(|v| {
            let schedule = v.counterexample.clone()?;
            Some(Violation {
                invariant: v.id.clone(),
                step: schedule.len().saturating_sub(1),
                schedule,
            })
        })
        .collect();
    let outcome = if result.any_violated() {
        Outcome::Violated
    } else if result.complete {
        Outcome::Safe
    } else {
        Outcome::Budget
    };
    Some(Verdict {
        outcome,
        complete: result.complete,
        exhausted: exhausted.map(str::to_owned),
        states: result.states as u64,
        transitions: result.transitions as u64,
        max_depth: result.max_depth as u64,
        elapsed_ms: elapsed.as_millis() as u64,
        violations,
        max_states: budget.max_states,
        max_time_ms: budget.max_time.as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(path: &str, budget: Budget) -> Option<Verdict> {
        let sc = Scenario::from_json(sim_core::library::get(path).unwrap()).unwrap();
        verdict(&sc, &budget, &AtomicBool::new(false))
    }

    const GENEROUS: Budget = Budget {
        max_states: 1_000_000,
        max_time: Duration::from_secs(60),
    };

    #[test]
    fn real_kernels_are_safe_and_what_ifs_violate() {
        let v = run("seed-mprotect-vs-migration-v6.4.json", GENEROUS).unwrap();
        assert_eq!(v.outcome, Outcome::Safe, "{v:?}");
        assert!(v.complete && v.exhausted.is_none() && v.violations.is_empty());
        assert!(v.states > 1);

        let v = run("whatif-a-mprotect-no-ptl-v6.4.json", GENEROUS).unwrap();
        assert_eq!(v.outcome, Outcome::Violated, "{v:?}");
        let sc = Scenario::from_json(
            sim_core::library::get("whatif-a-mprotect-no-ptl-v6.4.json").unwrap(),
        )
        .unwrap();
        for violation in &v.violations {
            // The counterexample replays, and the invariant is broken at its last step.
            let (m, _) = sim_core::replay(&sc, &violation.schedule).unwrap();
            assert_eq!(
                m.broken.get(violation.invariant.as_str()),
                Some(&violation.step),
                "{violation:?}"
            );
        }
    }

    #[test]
    fn budgets_are_verdicts_and_cancel_is_none() {
        let tiny = Budget {
            max_states: 3,
            max_time: Duration::from_secs(60),
        };
        let v = run("seed-mprotect-vs-migration-v6.4.json", tiny).unwrap();
        assert_eq!(v.outcome, Outcome::Budget, "{v:?}");
        assert_eq!(v.exhausted.as_deref(), Some("states"));
        assert!(!v.complete);

        let sc = Scenario::from_json(
            sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap(),
        )
        .unwrap();
        assert_eq!(verdict(&sc, &GENEROUS, &AtomicBool::new(true)), None);

        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains("\"outcome\":\"budget\""), "{json}");
        assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
    }
}
