//! `cargo xtask fuzz`: the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer)
//! and schemathesis against the server's OpenAPI document.
//!
//! - installs what it needs when missing: cargo-fuzz [`CARGO_FUZZ_VERSION`] (`cargo install
//!   --locked`), and schemathesis into a project-local virtualenv
//!   (`target/schemathesis-venv`, versions pinned in `fuzz/schemathesis-requirements.txt`);
//! - builds the targets on the stable toolchain: cargo-fuzz passes unstable `-Z` flags, which
//!   stable rustc takes with `RUSTC_BOOTSTRAP=1`; `--sanitizer none` (sim-core has no
//!   `unsafe`; without AddressSanitizer the targets run several times faster);
//! - seeds each target's corpus from the shipped scenarios, the golden corpus, the bad inputs
//!   of the tests (`fuzz/seeds/`), the conditions and compact schedules found in the shipped
//!   scenarios, and links printed by `mmrace check` (`target/fuzz-seeds/<target>/`);
//! - runs the targets under `nice -n 15`, two at a time, each until it has run `--runs`
//!   inputs or for `--seconds` (default 10,000,000 or 3,600 s: whichever comes first), and
//!   prints a table (executions, corpus, coverage, crashes), also written to
//!   `target/fuzz-report.md`. A crash leaves its input in `fuzz/artifacts/<target>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{run, Result, Workspace};

/// The cargo-fuzz release the targets are built with.
pub const CARGO_FUZZ_VERSION: &str = "0.13.1";

/// Every fuzz target (a file in `fuzz/fuzz_targets/`), and which seeds it starts from.
pub const TARGETS: &[(&str, Seeds)] = &[
    ("litmus", Seeds::Litmus),
    ("scenario_json", Seeds::Json),
    ("link", Seeds::Links),
    ("condition", Seeds::Conditions),
    ("schedule", Seeds::Schedules),
    ("explore", Seeds::Scenarios),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Seeds {
    /// The shipped `.litmus` files.
    Litmus,
    /// The shipped and golden JSON scenarios, and the bad inputs of `fuzz/seeds/json/`.
    Json,
    /// Links (`#v1.`) printed by `mmrace check`, plus the scenarios (round-trip mode).
    Links,
    /// The conditions of the shipped scenarios, and `fuzz/seeds/condition/`.
    Conditions,
    /// The compact schedules of the shipped scenarios.
    Schedules,
    /// Scenarios in both forms.
    Scenarios,
}

struct Options {
    targets: Vec<&'static str>,
    seconds: u64,
    runs: u64,
    jobs: usize,
    schemathesis: bool,
    fuzz: bool,
    max_examples: u32,
}

const USAGE: &str = "\
usage: cargo xtask fuzz [--targets a,b,...] [--seconds N] [--runs N] [--jobs N]
                        [--smoke] [--no-schemathesis] [--schemathesis-only] [--max-examples N]
  --seconds N          time limit per target (default 3600)
  --runs N             inputs per target (default 10000000); a target stops at whichever
                       limit comes first
  --jobs N             targets at a time (default 2)
  --smoke              60 s per target
  --max-examples N     schemathesis examples per operation (default 200)";

pub fn main(ws: &Workspace, args: &[String]) -> Result {
    let mut o = Options {
        targets: TARGETS.iter().map(|(t, _)| *t).collect(),
        seconds: 3600,
        runs: 10_000_000,
        jobs: 2,
        schemathesis: true,
        fuzz: true,
        max_examples: 200,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match a.as_str() {
            "--targets" => {
                let list = value("--targets")?;
                o.targets = list
                    .split(',')
                    .map(|t| {
                        TARGETS
                            .iter()
                            .map(|(n, _)| *n)
                            .find(|n| *n == t)
                            .ok_or_else(|| format!("unknown fuzz target `{t}`\n\n{USAGE}"))
                    })
                    .collect::<Result<_>>()?;
            }
            "--seconds" => o.seconds = number(&value("--seconds")?)?,
            "--runs" => o.runs = number(&value("--runs")?)?,
            "--jobs" => o.jobs = number::<usize>(&value("--jobs")?)?.max(1),
            "--max-examples" => o.max_examples = number(&value("--max-examples")?)?,
            "--smoke" => o.seconds = 60,
            "--no-schemathesis" => o.schemathesis = false,
            "--schemathesis-only" => o.fuzz = false,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    if o.fuzz {
        fuzz(ws, &o)?;
    }
    if o.schemathesis {
        schemathesis(ws, o.max_examples)?;
    }
    Ok(())
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a number\n\n{USAGE}"))
}

// ---------------------------------------------------------------------------------------------
// cargo-fuzz

fn ensure_cargo_fuzz(ws: &Workspace) -> Result {
    let version = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if version.as_deref() == Some(&format!("cargo-fuzz {CARGO_FUZZ_VERSION}")) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (found: {})",
        version.as_deref().unwrap_or("none")
    );
    run(ws.cargo().args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]))
}

fn fuzz_dir(ws: &Workspace) -> PathBuf {
    ws.root.join("fuzz")
}

fn fuzz(ws: &Workspace, o: &Options) -> Result {
    ensure_cargo_fuzz(ws)?;
    let dir = fuzz_dir(ws);
    // Stable rustc with the unstable flags cargo-fuzz passes (sancov instrumentation).
    run(ws
        .cargo()
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "build", "--sanitizer", "none", "--fuzz-dir"])
        .arg(&dir))?;
    let seeds = write_seeds(ws)?;
    let bin_dir = dir.join("target/x86_64-unknown-linux-gnu/release");
    let logs = ws.target.join("fuzz-logs");
    fs::create_dir_all(&logs).map_err(|e| format!("creating {}: {e}", logs.display()))?;

    let mut queue: Vec<&'static str> = o.targets.clone();
    queue.reverse();
    let mut running: Vec<(&'static str, Child, Instant)> = Vec::new();
    let mut results = Vec::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < o.jobs {
            let Some(t) = queue.pop() else { break };
            let corpus = dir.join("corpus").join(t);
            let artifacts = dir.join("artifacts").join(t);
            for d in [&corpus, &artifacts] {
                fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
            }
            let log = fs::File::create(logs.join(format!("{t}.log")))
                .map_err(|e| format!("creating the log of {t}: {e}"))?;
            let mut cmd = Command::new("nice");
            cmd.args(["-n", "15"])
                .arg(bin_dir.join(t))
                .arg(&corpus)
                .arg(seeds.join(t))
                .arg(format!("-max_total_time={}", o.seconds))
                .arg(format!("-runs={}", o.runs))
                .args([
                    // Wall time: on a shared, loaded machine (under nice) an input that takes
                    // 0.4 s of CPU has taken over 10 s. Inputs reported slow are re-run and
                    // timed by CPU (docs/fuzzing.md).
                    "-timeout=120",
                    "-rss_limit_mb=2048",
                    "-max_len=262144",
                    "-print_final_stats=1",
                ])
                .arg(format!("-artifact_prefix={}/", artifacts.display()))
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log);
            eprintln!("xtask: fuzzing {t} (log: target/fuzz-logs/{t}.log)");
            let child = cmd
                .spawn()
                .map_err(|e| format!("cannot start the fuzz target {t}: {e}"))?;
            running.push((t, child, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (t, _, started) = running.remove(i);
                    let log = fs::read_to_string(logs.join(format!("{t}.log"))).unwrap_or_default();
                    let crashes = findings(&dir.join("artifacts").join(t));
                    let corpus = count_files(&dir.join("corpus").join(t));
                    results.push(Outcome {
                        target: t,
                        ok: status.success(),
                        took: started.elapsed(),
                        stats: Stats::parse(&log),
                        corpus,
                        crashes,
                    });
                    eprintln!("xtask: {t} finished ({status})");
                }
                Ok(None) => i += 1,
                Err(e) => return Err(format!("waiting for {}: {e}", running[i].0)),
            }
        }
    }
    let table = report(&results);
    println!("{table}");
    let path = ws.target.join("fuzz-report.md");
    let mut text = fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!(
        "\n## {} (limits: {} runs or {} s per target)\n\n{table}\n",
        now(),
        o.runs,
        o.seconds
    ));
    fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let failed: Vec<&str> = results.iter().filter(|r| !r.ok).map(|r| r.target).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/, logs in target/fuzz-logs/)",
            failed.join(", ")
        ))
    }
}

struct Outcome {
    target: &'static str,
    ok: bool,
    took: Duration,
    stats: Stats,
    corpus: usize,
    crashes: usize,
}

/// The numbers libFuzzer prints.
#[derive(Default)]
struct Stats {
    execs: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    execs_per_sec: Option<u64>,
}

impl Stats {
    fn parse(log: &str) -> Stats {
        let mut s = Stats::default();
        for line in log.lines() {
            if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
                s.execs = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
                s.execs_per_sec = v.trim().parse().ok();
            }
            // Status lines: `#1234 NEW cov: 567 ft: 890 corp: ...`.
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                match w {
                    "cov:" => s.cov = words.next().and_then(|v| v.parse().ok()).or(s.cov),
                    "ft:" => s.ft = words.next().and_then(|v| v.parse().ok()).or(s.ft),
                    _ => {}
                }
            }
        }
        s
    }
}

fn report(results: &[Outcome]) -> String {
    let mut t = String::from(
        "| target | executions | execs/s | time | corpus | coverage (edges) | features | crashes | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
    for r in results {
        t.push_str(&format!(
            "| {} | {} | {} | {:.0} s | {} | {} | {} | {} | {} |\n",
            r.target,
            opt(r.stats.execs),
            opt(r.stats.execs_per_sec),
            r.took.as_secs_f64(),
            r.corpus,
            opt(r.stats.cov),
            opt(r.stats.ft),
            r.crashes,
            if r.ok { "ok" } else { "FAILED" }
        ));
    }
    t
}

/// Inputs libFuzzer kept as findings: crashes (panics), timeouts and out-of-memory. Slow
/// units (`slow-unit-*`) are not: they are reported by wall time, which a loaded machine
/// inflates; the log has their time.
fn findings(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| {
        d.flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                ["crash-", "timeout-", "oom-", "leak-"]
                    .iter()
                    .any(|p| name.starts_with(p))
            })
            .count()
    })
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

fn now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Seeds

fn write_seeds(ws: &Workspace) -> Result<PathBuf> {
    let out = ws.target.join("fuzz-seeds");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("clearing {}: {e}", out.display()))?;
    }
    let scenarios = files(&ws.root.join("assets/scenarios"))?;
    let golden: Vec<PathBuf> = files(&ws.root.join("assets/golden"))?
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n == "ids.json" || n == "trace-hashes.json")
        })
        .collect();
    let extra = |kind: &str| files(&ws.root.join("fuzz/seeds").join(kind)).unwrap_or_default();
    let json: Vec<PathBuf> = scenarios
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .chain(&golden)
        .cloned()
        .chain(extra("json"))
        .collect();
    let litmus: Vec<PathBuf> = scenarios
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "litmus"))
        .cloned()
        .chain(extra("litmus"))
        .collect();
    let mut conditions = Vec::new();
    let mut schedules = Vec::new();
    for p in &json {
        let Ok(v) =
            serde_json::from_str::<serde_json::Value>(&fs::read_to_string(p).unwrap_or_default())
        else {
            continue;
        };
        if let Some(c) = v["condition"].as_str() {
            conditions.push(c.to_owned());
        }
        for s in v["schedules"].as_array().into_iter().flatten() {
            if let Some(steps) = s["steps"].as_str() {
                schedules.push(steps.to_owned());
            }
        }
    }
    let links = links(ws, &json)?;
    for (target, kind) in TARGETS {
        let dir = out.join(target);
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut n = 0;
        let mut put = |bytes: &[u8]| -> Result {
            n += 1;
            fs::write(dir.join(format!("seed-{n:04}")), bytes)
                .map_err(|e| format!("writing a seed: {e}"))
        };
        let copy = |put: &mut dyn FnMut(&[u8]) -> Result, paths: &[PathBuf]| -> Result {
            for p in paths {
                put(&fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))?)?;
            }
            Ok(())
        };
        match kind {
            Seeds::Litmus => copy(&mut put, &litmus)?,
            Seeds::Json => copy(&mut put, &json)?,
            Seeds::Scenarios => {
                copy(&mut put, &json)?;
                copy(&mut put, &litmus)?;
            }
            Seeds::Links => {
                for l in &links {
                    put(l.as_bytes())?;
                }
                copy(&mut put, &litmus)?;
            }
            Seeds::Conditions => {
                for c in &conditions {
                    put(c.as_bytes())?;
                }
                for p in extra("condition") {
                    put(&fs::read(&p).map_err(|e| e.to_string())?)?;
                }
            }
            Seeds::Schedules => {
                for s in &schedules {
                    put(s.as_bytes())?;
                }
            }
        }
    }
    Ok(out)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Self-contained links to counterexamples, as `mmrace check` prints them.
fn links(ws: &Workspace, json: &[PathBuf]) -> Result<Vec<String>> {
    run(ws.cargo().args(["build", "-q", "-p", "server"]))?;
    let bin = ws.target.join("debug/mmrace");
    let mut out = Vec::new();
    for p in json.iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("whatif-"))
    }) {
        let Ok(o) = Command::new(&bin)
            .arg("check")
            .arg(p)
            .arg("--max-states")
            .arg("20000")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(i) = line.find("#v1.") {
                out.push(line[i..].trim().to_owned());
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// schemathesis

/// schemathesis (pinned in `fuzz/schemathesis-requirements.txt`, installed into
/// `target/schemathesis-venv`) against a fresh server's `/api/openapi.json`: no 5xx, every
/// response as documented (status, content type, headers, body schema).
fn schemathesis(ws: &Workspace, max_examples: u32) -> Result {
    let venv = ws.target.join("schemathesis-venv");
    let st = venv.join("bin/st");
    let requirements = ws.root.join("fuzz/schemathesis-requirements.txt");
    let stamp = venv.join("requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    if !st.exists() || fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        if !Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .status()
            .is_ok_and(|s| s.success())
        {
            crate::apt_install(&["python3-venv"])?;
        }
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements))?;
        fs::write(&stamp, &wanted).map_err(|e| e.to_string())?;
    }
    run(ws.cargo().args(["build", "-q", "-p", "server"]))?;
    let work = ws.target.join("schemathesis-work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut server = Command::new(ws.target.join("debug/mmrace"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--uploads-per-minute",
            "0",
            "--db",
        ])
        .arg(work.join("st.sqlite3"))
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(work.join("server.log")).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let url = {
        use std::io::BufRead;
        let stdout = server.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim()
            .strip_prefix("mmrace listening on ")
            .map(|u| u.trim_end_matches('/').to_owned())
            .ok_or_else(|| format!("unexpected first line from the server: {line}"))?
    };
    let result = run(Command::new(&st)
        .arg("run")
        .arg(format!("{url}/api/openapi.json"))
        .args([
            "--checks",
            "all",
            // A scenario that matches the schema can still be refused: the schema cannot say
            // that VMAs must not overlap, that a page lies in a VMA, that a schedule replays...
            // (the document lists what it cannot express). So "schema-valid but refused" is
            // no finding for POST /api/scenarios.
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
        ])
        .arg(max_examples.to_string())
        .args(["--seed", "1", "--report", "junit", "--report-dir"])
        .arg(&work)
        // Its cache (`.schemathesis/`) goes there too, not into the source tree.
        .current_dir(&work)
        .env("NO_COLOR", "1"));
    let _ = server.kill();
    let _ = server.wait();
    result
}
