//! What the fuzz targets share.

use sim_core::scenario::{BuildError, ReplayBudget};
use sim_core::{Machine, Scenario};

/// The most validation steps a fuzz input may cost (the server's default limit), so that one
/// input cannot take seconds.
pub const MAX_REPLAY_STEPS: usize = 20_000;

/// Validate within the replay budget; a budget stop counts as "not built".
pub fn build_bounded(sc: &Scenario) -> Result<Machine, sim_core::ScenarioError> {
    let mut keep_going = || true;
    let mut budget = ReplayBudget {
        max_steps: MAX_REPLAY_STEPS,
        keep_going: &mut keep_going,
    };
    match sc.build_within(&mut budget) {
        Ok(m) => Ok(m),
        Err(BuildError::Invalid(e)) => Err(e),
        Err(e) => Err(sim_core::ScenarioError {
            path: "schedules".into(),
            message: e.to_string(),
        }),
    }
}

/// An error is short and names no Rust type (unless the input itself has the word: values
/// and keys from the input are quoted back, shortened, and may say anything).
pub fn check_error(input: &str, path: &str, message: &str) {
    assert!(path.len() <= 2_000, "path of {} bytes", path.len());
    assert!(
        message.len() <= 4_000,
        "message of {} bytes: {}",
        message.len(),
        message.chars().take(200).collect::<String>()
    );
    for word in ["usize", "untagged enum", "internally tagged", "expected struct"] {
        if !input.contains(word) {
            assert!(!message.contains(word), "message names `{word}`: {message}");
        }
    }
}
