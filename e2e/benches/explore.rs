//! Explorer benchmark, browser vs native: for the four seed scenarios and the six scaling
//! scenarios (`assets/scenarios/bench/`), reduction off and on, the same exhaustive search
//! (`explore_worker::run`: parse the scenario, build, explore, serialise the result) is timed
//!
//! - natively, in this process (the bench profile), and
//! - in headless Chromium, in the app's own Web Worker (`dist/explore-worker.js` + the
//!   `explore-worker` wasm), timed inside the worker with `performance.now()` around the call
//!   (loading and compiling the wasm excluded; one worker is reused, after a warm-up run).
//!
//! Each side takes the best of 5 runs (native run under 100 ms), 3 (under a second) or 2,
//! native and browser runs alternating.
//! Cases whose native run takes longer than [`NATIVE_CAP`] are reported but not run in the
//! browser. States and transitions must agree between the two (a mismatch is flagged).
//! Target (issue 4): the browser within 2× of native — printed, not asserted (the machine is
//! shared and noisy; compare ratios within one run).
//!
//! Run: `cargo bench -p e2e --bench explore [-- --filter TEXT]` with `MMRACE_BIN` and
//! `MMRACE_DIST` set as for the browser tests (README "Tests"), after
//! `cargo xtask build-frontend` and `cargo build --release -p server --features embed`; or
//! `cargo xtask bench`, which does all of that.

use std::time::{Duration, Instant};

use e2e::{bail, App, Result};
use serde_json::{json, Value};

/// Native runs longer than this are not repeated in the browser (keeps the whole benchmark
/// within a few minutes on two cores).
const NATIVE_CAP: Duration = Duration::from_secs(10);
/// A single browser run may take this long (WebDriver's script timeout).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The state budget (above every benchmarked scenario: all searches complete).
const MAX_STATES: usize = 5_000_000;
const RATIO_TARGET: f64 = 2.0;

/// Runs the worker on `arguments[0]` (scenario JSON) with `arguments[1]` (options JSON) and
/// resolves with `{ms, states, transitions}` or `{error}`. One worker is kept for all runs.
const RUN_SCRIPT: &str = r#"
const [scenario, options, done] = arguments;
let w = window.__mmraceBenchWorker;
if (!w) {
  w = window.__mmraceBenchWorker = new Worker('./explore-worker.js', { type: 'module' });
}
w.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'done') {
    const r = JSON.parse(m.result);
    done({ ms: m.ms, states: r.states, transitions: r.transitions });
  } else if (m.type === 'error') {
    done({ error: m.message });
  }
};
w.onerror = (e) => done({ error: 'worker error: ' + (e.message || 'could not load') });
w.postMessage({ scenario, options, timeLimitMs: 0 });
"#;

struct Run {
    ms: f64,
    states: u64,
    transitions: u64,
}

/// Runs per side: more for short searches, whose times are noisier.
fn runs_for(native_ms: f64) -> usize {
    if native_ms < 100.0 {
        5
    } else if native_ms < 1000.0 {
        3
    } else {
        2
    }
}

fn native_once(scenario: &str, options: &str) -> Result<Run> {
    let t0 = Instant::now();
    let json = explore_worker::run(scenario, options, |_| true).map_err(e2e::Error::msg)?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let v: Value = serde_json::from_str(&json)?;
    Ok(Run {
        ms,
        states: v["states"].as_u64().unwrap_or(0),
        transitions: v["transitions"].as_u64().unwrap_or(0),
    })
}

async fn browser_once(app: &App, scenario: &str, options: &str) -> Result<Run> {
    let v = app
        .client()
        .execute_async(RUN_SCRIPT, vec![json!(scenario), json!(options)])
        .await?;
    if let Some(e) = v.get("error") {
        bail!("the browser worker failed: {e}");
    }
    Ok(Run {
        ms: v["ms"].as_f64().unwrap_or(f64::NAN),
        states: v["states"].as_u64().unwrap_or(0),
        transitions: v["transitions"].as_u64().unwrap_or(0),
    })
}

async fn bench(app: &App, filter: Option<&str>) -> Result<()> {
    app.client()
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(SCRIPT_TIMEOUT),
            None,
            None,
        ))
        .await?;
    app.open("/").await?;
    let cases: Vec<(&str, &str)> = sim_core::library::bench_set(filter, false).collect();
    if cases.is_empty() {
        bail!("no scenario matches the filter {filter:?}");
    }
    // Warm-up: load and compile the worker's wasm, let the engine tier it up.
    let warm = sim_core::library::get("bench/seed-2p-1mig.json")
        .ok_or_else(|| e2e::Error::msg("bench/seed-2p-1mig.json is not shipped"))?;
    let warm_opts = json!({"max_states": MAX_STATES, "reduction": false}).to_string();
    for _ in 0..3 {
        browser_once(app, warm, &warm_opts).await?;
    }

    println!(
        "| {:<40} | POR | {:>8} | {:>9} | {:>10} | {:>10} | {:>6} |",
        "scenario", "states", "trans", "native", "browser", "ratio"
    );
    println!(
        "|{:-<42}|-----|{:-<10}|{:-<11}|{:-<12}|{:-<12}|{:-<8}|",
        "", "", "", "", "", ""
    );
    let mut ratios = Vec::new();
    let mut notes = Vec::new();
    for &(name, scenario) in &cases {
        for reduction in [false, true] {
            let options = json!({
                "max_states": MAX_STATES,
                "reduction": reduction,
                "progress_every": 2000,
            })
            .to_string();
            let first = native_once(scenario, &options)?;

            let por = if reduction { "on" } else { "off" };
            if first.ms > NATIVE_CAP.as_secs_f64() * 1000.0 {
                println!(
                    "| {name:<40} | {por:>3} | {:>8} | {:>9} | {:>8.1}ms | {:>10} | {:>6} |",
                    first.states, first.transitions, first.ms, "skipped", "-"
                );
                notes.push(format!(
                    "{name} (reduction {por}): native run over {NATIVE_CAP:?}, not run in the browser"
                ));
                continue;
            }
            let runs = runs_for(first.ms);
            // Native and browser runs alternate, so that a burst of load from elsewhere on
            // the machine hits both sides alike.
            let mut native = first.ms;
            let mut best: Option<Run> = None;
            for i in 0..runs {
                let r = browser_once(app, scenario, &options).await?;
                if best.as_ref().is_none_or(|b| r.ms < b.ms) {
                    best = Some(r);
                }
                if i + 1 < runs {
                    native = native.min(native_once(scenario, &options)?.ms);
                }
            }
            let b = best.expect("ran at least once");
            if (b.states, b.transitions) != (first.states, first.transitions) {
                notes.push(format!(
                    "MISMATCH {name} (reduction {por}): native {} states / {} transitions, \
                     browser {} / {}",
                    first.states, first.transitions, b.states, b.transitions
                ));
            }
            let ratio = b.ms / native;
            ratios.push(ratio);
            println!(
                "| {name:<40} | {por:>3} | {:>8} | {:>9} | {:>8.1}ms | {:>8.1}ms | {:>5.2}× |",
                first.states, first.transitions, native, b.ms, ratio
            );
        }
    }
    if !ratios.is_empty() {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let max = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "\nbrowser / native: geometric mean {geo:.2}×, worst {max:.2}× — target within \
             {RATIO_TARGET}×: {}",
            if max <= RATIO_TARGET {
                "met for every case"
            } else if geo <= RATIO_TARGET {
                "met on average, missed by some cases"
            } else {
                "missed"
            }
        );
    }
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; the only option of our own is `--filter TEXT`.
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1))
        .cloned();
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run with `cargo bench` for meaningful numbers");
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("explore bench: cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let app = App::start_dist().await?;
        let r = bench(&app, filter.as_deref()).await;
        app.finish("bench_explore", r).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("explore bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
