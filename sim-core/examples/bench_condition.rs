//! What deciding a scenario's condition costs the explorer:
//! `cargo run --release -p sim-core --example bench_condition`
//!
//! For every shipped scenario with a condition, explores all interleavings with the condition
//! and with it removed (plus a costly condition on the THP split: every reachable state checks
//! all 512 PTEs), alternating the two (best of 5 each, so both see the same machine
//! load), and prints both times, their ratio, the states in scope checked and the verdict.
//! The clock lives here only: sim-core itself has none.

use std::time::{Duration, Instant};

use sim_core::explore::{explore, ExploreOptions};
use sim_core::Scenario;

fn best(m: &sim_core::Machine, times: &mut Duration) {
    let t0 = Instant::now();
    let r = explore(m, &ExploreOptions::default());
    std::hint::black_box(r);
    *times = (*times).min(t0.elapsed());
}

fn main() {
    println!(
        "{:<66} {:>8} {:>11} {:>11} {:>7} {:>9}  verdict",
        "scenario", "states", "without", "with", "ratio", "checked"
    );
    let mut ratios = Vec::new();
    // The shipped conditions, then a costly one: every reachable state of the THP split
    // checks all 512 PTEs.
    let stress = "forall any (~mprotect returned \\/ every p in 0x7f0000000000-0x7f0000200000 (~(pte_present(p) /\\ pte_write(p))))";
    let mut cases: Vec<(String, Scenario)> = Vec::new();
    for (path, json) in sim_core::library::SCENARIOS {
        let sc = Scenario::from_json(json).expect("shipped scenarios parse");
        if path.starts_with("seed-mprotect-vs-thp-split") {
            let mut s = sc.clone();
            s.condition = Some(sim_core::condition::Condition::parse(stress).expect("parses"));
            cases.push((format!("{path} (512-PTE forall any)"), s));
        }
        if sc.condition.is_some() {
            cases.push((path.to_string(), sc));
        }
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, sc) in cases {
        let with = sc.build().expect("shipped scenarios build");
        let mut bare = sc.clone();
        bare.condition = None;
        let without = bare.build().expect("builds");
        let (mut t_with, mut t_without) = (Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            best(&without, &mut t_without);
            best(&with, &mut t_with);
        }
        let r = explore(&with, &ExploreOptions::default());
        let c = r.condition.expect("decided");
        let ratio = t_with.as_secs_f64() / t_without.as_secs_f64();
        ratios.push(ratio);
        println!(
            "{:<66} {:>8} {:>8.1} ms {:>8.1} ms {:>6.2}× {:>9}  {}",
            path,
            r.states,
            t_without.as_secs_f64() * 1e3,
            t_with.as_secs_f64() * 1e3,
            ratio,
            c.checked,
            match c.holds {
                Some(true) => "holds",
                Some(false) => "does not hold",
                None => "undecided",
            }
        );
    }
    let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len().max(1) as f64).exp();
    println!(
        "geometric mean with/without: {geo:.3}×, worst {:.3}×",
        ratios.iter().cloned().fold(0.0, f64::max)
    );
}
