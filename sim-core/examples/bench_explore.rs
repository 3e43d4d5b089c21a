//! Explorer benchmark:
//! `cargo run --release -p sim-core --example bench_explore [-- --filter X] [--all] [--max-states N]`
//!
//! For every `seed-*` scenario in assets/scenarios and every scenario in
//! assets/scenarios/bench (`--all`: every scenario file), explores all interleavings natively with reduction off and on and
//! prints states, transitions, model steps, wall time (best of up to 5 runs, or one run if it
//! takes over a second) and states/s, then the targets and the process's peak RSS.
//! The clock lives here only: sim-core itself has none.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sim_core::explore::{explore, ExploreOptions, ExploreResult};
use sim_core::Scenario;

fn files(filter: Option<&str>, all: bool) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenarios");
    let mut out = Vec::new();
    for (dir, seed_only) in [(root.clone(), !all), (root.join("bench"), false)] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                (!seed_only || n.starts_with("seed-")) && filter.is_none_or(|f| n.contains(f))
            })
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}

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
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run with --release for meaningful numbers");
    }
    println!(
        "| {:<40} | {:>3} | {:>8} | {:>9} | {:>9} | {:>9} | {:>5} | {:>10} | {:>10} | {:<8} |",
        "scenario",
        "POR",
        "states",
        "trans",
        "pruned",
        "steps",
        "depth",
        "time",
        "states/s",
        "verdict"
    );
    println!(
        "|{:-<42}|{:-<5}|{:-<10}|{:-<11}|{:-<11}|{:-<11}|{:-<7}|{:-<12}|{:-<12}|{:-<10}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    let mut seed_times = Vec::new();
    let mut four_page = Vec::new();
    for path in files(filter, all) {
        let name = path
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenarios"))
            .unwrap_or(&path)
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read scenario");
        let m = match Scenario::from_json(&text).and_then(|s| s.build()) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let mut by_mode = Vec::new();
        for reduction in [false, true] {
            let opts = ExploreOptions {
                reduction,
                max_states,
                ..ExploreOptions::default()
            };
            let (r, dt) = timed(&m, &opts);
            let verdict = if !r.complete {
                format!("{:?}", r.stop_reason)
            } else if r.any_violated() {
                "VIOLATED".into()
            } else {
                "safe".into()
            };
            println!(
                "| {:<40} | {:>3} | {:>8} | {:>9} | {:>9} | {:>9} | {:>5} | {:>8.1}ms | {:>10.0} | {:<8} |",
                name,
                if reduction { "on" } else { "off" },
                r.states,
                r.transitions,
                r.pruned_by_reduction,
                r.steps,
                r.max_depth,
                dt.as_secs_f64() * 1e3,
                r.states as f64 / dt.as_secs_f64(),
                verdict
            );
            if file_is_seed(&name) {
                seed_times.push((name.clone(), reduction, dt));
            }
            by_mode.push(r.states);
        }
        if name.contains("seed-4p") {
            four_page.push((name.clone(), by_mode[0], by_mode[1]));
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
                format!("misses < 100 ms by {:.0}×", ms / 100.0)
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
    match peak_rss_kib() {
        Some(k) => println!("peak RSS (VmHWM): {:.1} MiB", k as f64 / 1024.0),
        None => println!("peak RSS: not available on this platform"),
    }
}
