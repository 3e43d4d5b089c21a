//! Explorer benchmark:
//! `cargo run --release -p sim-core --example bench_explore [-- --filter X] [--all] [--max-states N]`
//!
//! For every `seed-*` scenario in assets/scenarios and every scenario in
//! assets/scenarios/bench (`--all`: every shipped scenario; `sim_core::library::bench_set`), explores all interleavings natively
//! with reduction off and on and prints one row per scenario with both side by side: states,
//! transitions, transitions pruned, wall time (best of up to 5 runs, or one run if it takes
//! over a second), depth, the peak RSS of that scenario's two searches, and the verdict;
//! then the targets and the peak RSS of the largest case.
//! The clock lives here only: sim-core itself has none.

use std::time::{Duration, Instant};

use sim_core::explore::{explore, ExploreOptions, ExploreResult};
use sim_core::Scenario;

/// Best wall time of up to 5 runs (one if it takes over a second).
fn timed(m: &sim_core::Machine, opts: &ExploreOptions) -> (ExploreResult, Duration) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..5 {
        let t0 = Instant::now();
        let r = explore(m, opts);
        let dt = t0.elapsed();
        best = best.min(dt);
        result = Some(r);
        if dt > Duration::from_secs(1) {
            break;
        }
    }
    (result.expect("ran once"), best)
}

fn file_is_seed(name: &str) -> bool {
    name.starts_with("seed-")
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let all = args.iter().any(|a| a == "--all");
    let max_states = args
        .iter()
        .position(|a| a == "--max-states")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000_000);
    if let Some(p) = args
        .iter()
        .position(|a| a == "--rss-of")
        .and_then(|i| args.get(i + 1))
    {
        rss_of(p, max_states);
        return;
    }
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run with --release for meaningful numbers");
    }
    println!(
        "| {:<36} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9} | {:>5} | {:<8} |",
        "scenario",
        "states",
        "states",
        "trans",
        "trans",
        "pruned",
        "time",
        "time",
        "depth",
        "verdict"
    );
    println!(
        "| {:<36} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9} | {:>5} | {:<8} |",
        "", "POR off", "POR on", "POR off", "POR on", "POR on", "POR off", "POR on", "", ""
    );
    println!(
        "|{:-<38}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<10}|{:-<11}|{:-<11}|{:-<7}|{:-<10}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    let mut seed_times = Vec::new();
    let mut four_page = Vec::new();
    let mut largest: Option<(&str, usize)> = None;
    for (name, text) in sim_core::library::bench_set(filter, all) {
        let m = match Scenario::from_json(text).and_then(|s| s.build()) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let mut runs = Vec::new();
        for reduction in [false, true] {
            let opts = ExploreOptions {
                reduction,
                max_states,
                ..ExploreOptions::default()
            };
            runs.push(timed(&m, &opts));
        }
        let (off, t_off) = &runs[0];
        let (on, t_on) = &runs[1];
        let verdict = |r: &ExploreResult| {
            if !r.complete {
                format!("{:?}", r.stop_reason)
            } else if r.any_violated() {
                "VIOLATED".into()
            } else {
                "safe".into()
            }
        };
        let (v_off, v_on) = (verdict(off), verdict(on));
        println!(
            "| {:<36} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>7.1}ms | {:>7.1}ms | {:>5} | {:<8} |",
            name,
            off.states,
            on.states,
            off.transitions,
            on.transitions,
            on.pruned_by_reduction,
            t_off.as_secs_f64() * 1e3,
            t_on.as_secs_f64() * 1e3,
            off.max_depth,
            if v_off == v_on {
                v_off
            } else {
                format!("{v_off}/{v_on}")
            }
        );
        if file_is_seed(name) {
            seed_times.push((name, false, *t_off));
            seed_times.push((name, true, *t_on));
        }
        if name.contains("seed-4p") {
            four_page.push((name, off.states, on.states));
        }
        if largest.as_ref().is_none_or(|l| off.states > l.1) {
            largest = Some((name, off.states));
        }
    }
    println!();
    println!("targets:");
    for (name, reduction, dt) in &seed_times {
        let ms = dt.as_secs_f64() * 1e3;
        println!(
            "  {name} (reduction {}): {ms:.1} ms — {}",
            if *reduction { "on" } else { "off" },
            if ms < 100.0 {
                "meets < 100 ms".to_string()
            } else {
                format!("misses < 100 ms by {:.1}×", ms / 100.0)
            }
        );
    }
    for (name, off, on) in &four_page {
        let f = *off as f64 / (*on).max(1) as f64;
        println!(
            "  {name}: states off/on = {off}/{on} = {f:.2}× — {}",
            if f >= 10.0 {
                "meets ≥ 10×"
            } else {
                "misses ≥ 10× (sleep sets never cut states; see sim_core::explore docs)"
            }
        );
    }
    // The peak RSS of the largest case alone: this process has run every case (and the
    // allocator keeps freed memory), so measure it in a fresh child process.
    if let Some((name, states)) = largest {
        let out = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .arg("--rss-of")
                .arg(name)
                .arg("--max-states")
                .arg(max_states.to_string())
                .output()
        });
        let rss = out
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        println!(
            "peak RSS of the largest case ({}, {states} states, reduction off then on, own process): {}",
            name,
            match rss.as_deref().and_then(|s| s.parse::<u64>().ok()) {
                Some(k) => format!("{:.1} MiB", k as f64 / 1024.0),
                None => "not available on this platform".to_string(),
            }
        );
    }
}

/// `--rss-of NAME`: explore the shipped scenario NAME with reduction off and on, print the
/// peak RSS in KiB.
fn rss_of(name: &str, max_states: usize) {
    let text = sim_core::library::get(name).expect("a shipped scenario");
    let m = Scenario::from_json(text)
        .and_then(|s| s.build())
        .expect("valid scenario");
    for reduction in [false, true] {
        let opts = ExploreOptions {
            reduction,
            max_states,
            ..ExploreOptions::default()
        };
        std::hint::black_box(explore(&m, &opts));
    }
    match peak_rss_kib() {
        Some(k) => println!("{k}"),
        None => std::process::exit(1),
    }
}
