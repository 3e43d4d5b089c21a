//! The explorer for the browser: [`sim_core::explore`]'s exhaustive search, compiled to its
//! own wasm module and run in a Web Worker (`frontend/static/explore-worker.js`) so the page
//! stays responsive while it runs.
//!
//! Why a separate module rather than a function of the app's wasm: the app's first-load
//! payload has a size budget, and the explorer wants the opposite trade-off (optimised for
//! speed, profile `wasm-worker`); the browser fetches this module only when the user asks
//! for an exploration.
//!
//! The interface is strings in, a string out (the scenario and options as JSON, the
//! [`sim_core::explore::ExploreResult`] as JSON), plus a progress callback the worker script
//! uses for its progress messages and its wall-time budget — sim-core has no clock, so the
//! callback is where time limits turn into cancellation.

use sim_core::explore::{self, Control, ExploreOptions, Progress, HARD_MAX_STATES};
use sim_core::machine::MAX_STEPS;
use sim_core::Scenario;
use wasm_bindgen::prelude::*;

/// The most often the progress callback may be asked for: calling into JavaScript for every
/// state would cost more than the states.
pub const MIN_PROGRESS_EVERY: usize = 100;

/// Options the worker accepts: a JSON object with any of `max_states` (1 to
/// [`HARD_MAX_STATES`]), `max_depth` (1 to [`MAX_STEPS`]), `reduction` (bool) and
/// `progress_every` ([`MIN_PROGRESS_EVERY`] to `max_states`). Unknown fields are refused (a
/// typo must not silently run with defaults).
pub fn parse_options(json: &str) -> Result<ExploreOptions, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("options: not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "options: expected a JSON object".to_string())?;
    let mut opts = ExploreOptions {
        progress_every: 2_000,
        ..ExploreOptions::default()
    };
    let count = |key: &str, v: &serde_json::Value, lo: usize, hi: usize| {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| format!("options.{key}: expected an integer from {lo} to {hi}, got {v}"))
    };
    for (key, val) in obj {
        match key.as_str() {
            "max_states" => opts.max_states = count(key, val, 1, HARD_MAX_STATES)?,
            "max_depth" => opts.max_depth = count(key, val, 1, MAX_STEPS)?,
            "reduction" => {
                opts.reduction = val.as_bool().ok_or_else(|| {
                    format!("options.reduction: expected true or false, got {val}")
                })?
            }
            "progress_every" => {
                opts.progress_every = count(key, val, MIN_PROGRESS_EVERY, HARD_MAX_STATES)?
            }
            other => {
                return Err(format!(
                    "options: unknown field `{other}` (known: max_states, max_depth, reduction, \
                     progress_every)"
                ))
            }
        }
    }
    Ok(opts)
}

/// Validate the scenario and the options, explore, and return the result as JSON.
/// `progress` is called every `progress_every` states; returning `false` cancels (the result
/// then says `stop_reason: "cancelled"`).
pub fn run(
    scenario_json: &str,
    options_json: &str,
    mut progress: impl FnMut(&Progress) -> bool,
) -> Result<String, String> {
    let opts = parse_options(options_json)?;
    let scenario = Scenario::from_json(scenario_json).map_err(|e| format!("scenario: {e}"))?;
    let initial = scenario.build().map_err(|e| format!("scenario: {e}"))?;
    let result = explore::explore_with(&initial, &opts, |p| {
        if progress(p) {
            Control::Continue
        } else {
            Control::Cancel
        }
    });
    serde_json::to_string(&result).map_err(|e| format!("serialising the result: {e}"))
}

/// The worker's entry point: [`run`] with a JavaScript progress callback, called as
/// `on_progress(states, transitions, depth, frontier, pruned)`; it returns `false` to cancel
/// (anything else continues; a callback that throws cancels). Errors (bad scenario, bad
/// options) come back as a rejected call with a message naming the field.
#[wasm_bindgen]
pub fn explore(
    scenario_json: &str,
    options_json: &str,
    on_progress: &js_sys::Function,
) -> Result<String, JsValue> {
    run(scenario_json, options_json, |p| {
        let args = js_sys::Array::of5(
            &JsValue::from_f64(p.states as f64),
            &JsValue::from_f64(p.transitions as f64),
            &JsValue::from_f64(p.depth as f64),
            &JsValue::from_f64(p.frontier as f64),
            &JsValue::from_f64(p.pruned as f64),
        );
        match on_progress.apply(&JsValue::NULL, &args) {
            Ok(v) => v != JsValue::FALSE,
            Err(_) => false,
        }
    })
    .map_err(|e| JsValue::from_str(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::explore::ExploreResult;

    fn seed() -> &'static str {
        sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").expect("shipped")
    }

    #[test]
    fn options_are_checked_field_by_field() {
        let o = parse_options(r#"{"max_states": 10, "reduction": true}"#).unwrap();
        assert_eq!((o.max_states, o.reduction), (10, true));
        assert_eq!(parse_options("{}").unwrap().max_states, 1_000_000);
        for (json, field) in [
            (r#"{"max_states": 0}"#, "options.max_states"),
            (r#"{"max_states": "many"}"#, "options.max_states"),
            (r#"{"max_depth": -1}"#, "options.max_depth"),
            (r#"{"reduction": 1}"#, "options.reduction"),
            (r#"{"progress_every": 1}"#, "options.progress_every"),
            (r#"{"max_state": 5}"#, "unknown field `max_state`"),
            ("[]", "expected a JSON object"),
            ("{", "not JSON"),
        ] {
            let e = parse_options(json).unwrap_err();
            assert!(e.contains(field), "{json}: {e}");
        }
    }

    #[test]
    fn bad_scenario_names_the_problem() {
        let e = run("{\"format\": 1}", "{}", |_| true).unwrap_err();
        assert!(e.starts_with("scenario: "), "{e}");
    }

    #[test]
    fn same_result_as_the_native_explorer_and_cancel_works() {
        let sc = Scenario::from_json(seed()).unwrap();
        let native = explore::explore(&sc.build().unwrap(), &ExploreOptions::default());
        let mut calls = 0;
        let json = run(seed(), r#"{"progress_every": 100}"#, |_| {
            calls += 1;
            true
        })
        .unwrap();
        let r: ExploreResult = serde_json::from_str(&json).unwrap();
        assert_eq!(r, native);
        assert!(r.complete && calls >= r.states / 100 - 1, "{calls} calls");

        let json = run(seed(), r#"{"progress_every": 100}"#, |p| p.states < 300).unwrap();
        let r: ExploreResult = serde_json::from_str(&json).unwrap();
        assert!(!r.complete);
        assert_eq!(r.stop_reason, explore::StopReason::Cancelled);
        assert!(r.states < native.states);
    }
}
