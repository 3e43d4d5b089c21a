//! Build + replay + explore with a small budget on arbitrary scenarios (JSON or litmus): no
//! panic, every named schedule replays as validation promised, the explorer stays within its
//! budget, and every counterexample it reports replays to the violation it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::explore::{explore_with, Control, ExploreOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sc) = sim_core::litmus::load_any(text) else {
        return;
    };
    let Ok(initial) = mmrace_fuzz::build_bounded(&sc) else {
        return;
    };
    for s in &sc.schedules {
        let steps = s.resolve(&initial).expect("a validated schedule resolves");
        sim_core::replay(&sc, &steps).expect("a validated schedule replays");
    }
    let opts = ExploreOptions {
        max_states: 300,
        max_depth: 400,
        progress_every: 16,
        ..ExploreOptions::default()
    };
    let mut calls = 0u32;
    let r = explore_with(&initial, &opts, |_| {
        calls += 1;
        if calls > 100 {
            Control::Cancel
        } else {
            Control::Continue
        }
    });
    assert!(r.states <= opts.max_states + 64, "{} states", r.states);
    for v in r.per_invariant.iter().filter(|v| v.violated) {
        let steps = v.counterexample.as_ref().expect("a violation has a counterexample");
        let (m, _) = sim_core::replay(&sc, steps).expect("a counterexample replays");
        assert!(
            m.broken.get(v.id.as_str()).is_some(),
            "counterexample for {} does not violate it",
            v.id
        );
    }
});
