//! Step throughput: replays every named schedule of every shipped scenario, quietly (as the
//! explorer steps) and with full step records (as the UI and `mmrace run` step), and prints
//! steps per second. Run with `cargo run --release -p sim-core --example bench_step`.
//! (The clock lives here, in the bench binary; sim-core itself has none.)

use std::time::Instant;

use sim_core::{library, Scenario};

fn main() {
    let min_secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1.0);
    let mut work = Vec::new();
    for (path, text) in library::SCENARIOS {
        let sc = Scenario::from_json(text).expect("valid");
        let m = sc.build().expect("valid");
        for s in &sc.schedules {
            work.push((
                path.to_string(),
                s.name.clone(),
                m.clone(),
                s.resolve(&m).unwrap(),
            ));
        }
    }
    let total: usize = work.iter().map(|w| w.3.len()).sum();
    println!("{} schedules, {} steps per pass", work.len(), total);
    println!(
        "{:<10} {:>12} {:>14} {:>12}",
        "mode", "passes", "steps", "steps/s"
    );
    for recording in [false, true] {
        let start = Instant::now();
        let mut passes = 0u64;
        let mut steps = 0u64;
        while start.elapsed().as_secs_f64() < min_secs || passes == 0 {
            for (_, _, m0, sched) in &work {
                let mut m = m0.clone();
                for &t in sched {
                    if recording {
                        std::hint::black_box(m.step(t).unwrap());
                    } else {
                        std::hint::black_box(m.step_quiet(t).unwrap());
                    }
                }
                steps += sched.len() as u64;
            }
            passes += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:<10} {:>12} {:>14} {:>12.0}",
            if recording { "recorded" } else { "quiet" },
            passes,
            steps,
            steps as f64 / secs
        );
    }
    // Per-scenario detail for the heaviest schedules (THP split: 512-entry tables).
    println!("\n{:<58} {:>7} {:>12}", "schedule", "steps", "steps/s");
    for (path, name, m0, sched) in &work {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < 0.2 {
            let mut m = m0.clone();
            for &t in sched {
                std::hint::black_box(m.step_quiet(t).unwrap());
            }
            n += sched.len() as u64;
        }
        println!(
            "{:<58} {:>7} {:>12.0}",
            format!("{path} / {name}"),
            sched.len(),
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
}
