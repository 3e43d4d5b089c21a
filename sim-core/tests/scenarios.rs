//! Data-driven: every scenario in assets/scenarios (and below; `sim_core::library`) is valid,
//! and every named schedule meets its expectation.

use sim_core::scenario::Expectation;
use sim_core::{library, Scenario};

#[test]
fn every_schedule_meets_its_expectation() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, text) in library::SCENARIOS {
        let sc = Scenario::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let initial = sc.build().unwrap_or_else(|e| panic!("{name}: {e}"));
        for s in &sc.schedules {
            let steps = s.resolve(&initial).unwrap();
            let mut m = initial.clone();
            let mut first: Vec<(&'static str, usize)> = Vec::new();
            for (i, &t) in steps.iter().enumerate() {
                let r = m
                    .step(t)
                    .unwrap_or_else(|e| panic!("{name}/{}: step {i}: {e}", s.name));
                for v in r.violations {
                    first.push((v, i));
                }
            }
            checked += 1;
            let ok = match &s.expect {
                None => true,
                Some(Expectation::Safe) => first.is_empty(),
                Some(Expectation::Violates { invariant, at_step }) => first
                    .iter()
                    .any(|(v, i)| v == invariant && at_step.is_none_or(|a| a == *i)),
            };
            if !ok {
                failures.push(format!(
                    "{name} / {}: expected {:?}, got first violations {first:?}",
                    s.name, s.expect
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 10, "only {checked} schedules checked");
}
