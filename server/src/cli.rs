//! `mmrace run`: replay a scenario's schedule and print the step table and the invariant
//! results. Exit codes: 0 no invariant violated, 1 violated, 2 invalid input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use sim_core::invariants;
use sim_core::record::Change;
use sim_core::{pte, Scenario, StepRecord};

/// Exit status of the analysis commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Safe = 0,
    Violated = 1,
    Invalid = 2,
    Budget = 3,
    /// The scenario's condition (`exists` / `~exists` / `forall`) does not hold.
    ConditionFails = 4,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario file (JSON, format 1, or the `.litmus` text form), or the name of a shipped
    /// scenario (e.g. `seed-mprotect-vs-migration-v6.4.json`).
    pub scenario: String,
    /// Which schedule: the name of one of the scenario's schedules, or a schedule written
    /// as threads (`0 0 1 2`) or compactly (`0x6 1* 0*`: thread 0 six steps, thread 1 until
    /// it blocks or finishes, ...). Default: the scenario's first schedule, else every
    /// thread in turn until all finish.
    #[arg(long, short)]
    pub schedule: Option<String>,
    /// Print JSON (the step records and invariant results) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A problem with the input: printed as `error: ...`, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Read a scenario from a file or the shipped library.
pub fn load_scenario(arg: &str) -> Result<Scenario, InputError> {
    let path = PathBuf::from(arg);
    let text = if path.exists() {
        read_limited(&path)?
    } else if let Some(s) = sim_core::library::get(arg) {
        s.to_string()
    } else {
        return Err(InputError(format!(
            "{arg}: no such file, and not a shipped scenario (see assets/scenarios/)"
        )));
    };
    // JSON (first non-blank character `{`) or the litmus-style text form.
    sim_core::litmus::load_any(&text).map_err(|e| InputError(format!("{arg}:{e}")))
}

fn read_limited(path: &Path) -> Result<String, InputError> {
    let meta =
        std::fs::metadata(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    if meta.len() > sim_core::scenario::MAX_JSON_BYTES as u64 {
        return Err(InputError(format!(
            "{}: {} bytes; scenarios are limited to {} bytes",
            path.display(),
            meta.len(),
            sim_core::scenario::MAX_JSON_BYTES
        )));
    }
    std::fs::read_to_string(path).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

/// Resolve `--schedule` against the scenario.
pub fn resolve_schedule(
    sc: &Scenario,
    initial: &sim_core::Machine,
    arg: Option<&str>,
) -> Result<Vec<usize>, InputError> {
    match arg {
        Some(a) => {
            if let Some(s) = sc.schedule(a) {
                return s
                    .resolve(initial)
                    .map_err(|e| InputError(format!("schedule `{a}`: {e}")));
            }
            sim_core::schedule::expand(&mut initial.clone(), a)
                .map_err(|e| InputError(format!("--schedule: {e}")))
        }
        None => match sc.schedules.first() {
            Some(s) => s
                .resolve(initial)
                .map_err(|e| InputError(format!("schedule `{}`: {e}", s.name))),
            None => {
                // Round robin until everyone finished (or the step limit).
                let mut m = initial.clone();
                let mut out = Vec::new();
                let mut next = 0usize;
                while out.len() < sim_core::machine::MAX_STEPS {
                    let r = m.runnable();
                    let Some(&t) = r.iter().find(|&&t| t >= next).or(r.first()) else {
                        break;
                    };
                    let _ = m.step_quiet(t);
                    out.push(t);
                    next = t + 1;
                }
                Ok(out)
            }
        },
    }
}

#[derive(Serialize)]
struct RunJson<'a> {
    scenario: &'a str,
    kernel: String,
    schedule: &'a [usize],
    steps: &'a [StepRecord],
    violations: Vec<ViolationJson>,
    trace_hash: String,
}

#[derive(Serialize)]
struct ViolationJson {
    invariant: &'static str,
    first_step: usize,
}

/// `mmrace run`.
pub fn run(args: &RunArgs, out: &mut String) -> Result<Outcome, InputError> {
    let sc = load_scenario(&args.scenario)?;
    let initial = sc
        .build()
        .map_err(|e| InputError(format!("{}: {e}", args.scenario)))?;
    let schedule = resolve_schedule(&sc, &initial, args.schedule.as_deref())?;
    let (m, trace) = sim_core::replay(&sc, &schedule)
        .map_err(|e| InputError(format!("{}: {e}", args.scenario)))?;
    let violated = !m.broken.is_empty();
    if args.json {
        let j = RunJson {
            scenario: &sc.title,
            kernel: m.kernel().label(),
            schedule: &schedule,
            steps: &trace.records,
            violations: m
                .broken
                .iter()
                .map(|(&invariant, &first_step)| ViolationJson {
                    invariant,
                    first_step,
                })
                .collect(),
            trace_hash: format!("{:016x}", trace.hash()),
        };
        out.push_str(&serde_json::to_string_pretty(&j).expect("serialisable"));
        out.push('\n');
    } else {
        let _ = writeln!(out, "{} — {}", sc.title, m.kernel().label());
        for mutation in &m.kernel().what_if {
            let _ = writeln!(out, "  {}", mutation.describe());
        }
        let _ = writeln!(
            out,
            "{:>5}  {:<12} {:<28} what changed",
            "step", "thread", "kernel function"
        );
        for r in &trace.records {
            let _ = writeln!(
                out,
                "{:>5}  {:<12} {:<28} {}{}",
                r.index,
                truncate(m.thread_name(r.thread), 12),
                truncate(r.func, 28),
                changes_text(r),
                if r.violations.is_empty() {
                    String::new()
                } else {
                    format!("   ✗ {}", r.violations.join(", "))
                }
            );
            let _ = writeln!(out, "{:>5}  {:<12} {}", "", "", r.explanation);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "invariants after {} steps:", trace.records.len());
        for inv in invariants::ALL {
            match m.broken.get(inv.id) {
                Some(step) => {
                    let _ = writeln!(out, "  ✗ {:<40} violated at step {step}", inv.id);
                }
                None => {
                    let _ = writeln!(out, "  ✓ {:<40} holds", inv.id);
                }
            }
        }
        if let Some(c) = &m.spec.condition {
            // The predicate in the last state; deciding the condition is `check`'s job.
            let violated = trace
                .records
                .last()
                .map(|r| r.violated.clone())
                .unwrap_or_default();
            let value = c.holds(&sim_core::condition::Facts {
                machine: &m,
                violated: &violated,
            });
            let _ = writeln!(out, "condition: {}", c.text);
            let _ = writeln!(
                out,
                "  the predicate is {} in the last state ({}); `mmrace check` decides the condition over every interleaving",
                if value { "true" } else { "false" },
                if c.in_scope(&m) { "a final state" } else { "not a final state" }
            );
        }
        let _ = writeln!(out, "trace hash {:016x}", trace.hash());
    }
    Ok(if violated {
        Outcome::Violated
    } else {
        Outcome::Safe
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// One line for what a step changed.
pub fn changes_text(r: &StepRecord) -> String {
    let mut parts = Vec::new();
    for c in &r.changes {
        parts.push(match c {
            Change::Pte { addr, old, new, .. } => {
                format!("PTE {addr:#x}: {} → {}", pte::hex(*old), pte::hex(*new))
            }
            Change::Pmd { addr, old, new } => {
                format!("PMD {addr:#x}: {} → {}", pte::hex(*old), pte::hex(*new))
            }
            Change::VmFlags { vma, old, new } => format!("vma#{vma} vm_flags {old:#x} → {new:#x}"),
            Change::VmPageProt { vma, old, new } => {
                format!(
                    "vma#{vma} vm_page_prot {} → {}",
                    pte::hex(*old),
                    pte::hex(*new)
                )
            }
            Change::VmaBounds { vma, start, end } => format!("vma#{vma} = {start:#x}–{end:#x}"),
            Change::TableFilled { table_pfn, entries } => {
                format!("table {table_pfn:#x}: {entries} entries built")
            }
            Change::Tlb {
                cpu, vaddr, new, ..
            } => match new {
                Some(_) => format!("CPU{cpu} TLB fill {vaddr:#x}"),
                None => format!("CPU{cpu} TLB flush {vaddr:#x}"),
            },
            Change::Folio {
                pfn,
                field,
                old,
                new,
            } => format!("folio {pfn:#x} {field} {old} → {new}"),
            Change::Data { pfn, old, new } => format!("data[{pfn:#x}] {old:#x} → {new:#x}"),
            Change::Counter { name, old, new } => format!("{name} {old} → {new}"),
        });
    }
    for l in &r.locks {
        parts.push(match l {
            sim_core::record::LockEvent::Acquired { lock, .. } => format!("+{}", lock.name()),
            sim_core::record::LockEvent::Released { lock, .. } => format!("-{}", lock.name()),
            sim_core::record::LockEvent::Waiting { lock, .. } => format!("waits {}", lock.name()),
            sim_core::record::LockEvent::Woken { thread, lock } => {
                format!("wakes T{thread} ({})", lock.name())
            }
            sim_core::record::LockEvent::TryFailed { lock, .. } => {
                format!("trylock failed {}", lock.name())
            }
        });
    }
    parts.join("; ")
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Scenario file (JSON, format 1, or the `.litmus` text form), or the name of a shipped
    /// scenario.
    pub scenario: String,
    /// Print the full result as JSON.
    #[arg(long)]
    pub json: bool,
    /// State budget of the exhaustive search (exit 3 if it runs out without a violation).
    #[arg(long, default_value_t = 1_000_000)]
    pub max_states: usize,
    /// Depth budget (steps from the initial state).
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Sleep-set partial-order reduction (same verdicts and shortest counterexamples; see
    /// `sim_core::explore`).
    #[arg(long)]
    pub reduction: bool,
    /// Instead of exploring exhaustively, run this many seeded random schedules.
    #[arg(long, value_name = "RUNS")]
    pub random: Option<usize>,
    /// Seed of the random runs (printed; the same seed finds the same schedules).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Random mode: PCT priority scheduling with this bug depth instead of uniform choice.
    #[arg(long, value_name = "DEPTH")]
    pub pct: Option<usize>,
    /// Base URL for the printed links (the self-contained link is the URL fragment).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub base_url: String,
}

/// `mmrace check`: explore every interleaving (or seeded random ones) and print a verdict per
/// invariant, with the shortest counterexample and a link that opens it in the UI.
/// `progress` is called with a status line now and then (the binary draws it on a terminal).
pub fn check(
    args: &CheckArgs,
    out: &mut String,
    mut progress: impl FnMut(&str) -> bool,
) -> Result<Outcome, InputError> {
    use sim_core::explore::{self, Control, ExploreOptions, RandomMode, RandomOptions};
    let sc = load_scenario(&args.scenario)?;
    let initial = sc
        .build()
        .map_err(|e| InputError(format!("{}: {e}", args.scenario)))?;
    if args.max_states == 0 {
        return Err(InputError("--max-states must be at least 1".into()));
    }
    if args.random == Some(0) {
        return Err(InputError("--random needs at least one run".into()));
    }
    if args.pct == Some(0) {
        return Err(InputError("--pct needs a depth of at least 1".into()));
    }
    // (verdicts, complete, stats line, json, condition)
    let (verdicts, complete, stats, json, condition) = match args.random {
        Some(runs) => {
            let opts = RandomOptions {
                runs,
                seed: args.seed,
                mode: match args.pct {
                    Some(depth) => RandomMode::Pct { depth },
                    None => RandomMode::Uniform,
                },
                ..RandomOptions::default()
            };
            let r = explore::explore_random_with(&initial, &opts, |p| {
                if progress(&format!("{} runs, {} steps", p.runs, p.transitions)) {
                    Control::Continue
                } else {
                    Control::Cancel
                }
            });
            let stats = format!(
                "{} random runs (seed {}, {}), {} steps, {} distinct final states",
                r.runs,
                r.seed,
                match r.mode {
                    RandomMode::Uniform => "uniform".to_string(),
                    RandomMode::Pct { depth } => format!("PCT depth {depth}"),
                },
                r.steps,
                r.final_states
            );
            let json = serde_json::to_string_pretty(&r).expect("serialisable");
            (r.per_invariant, false, stats, json, None)
        }
        None => {
            let opts = ExploreOptions {
                max_states: args.max_states,
                max_depth: args.max_depth.unwrap_or(sim_core::machine::MAX_STEPS),
                reduction: args.reduction,
                progress_every: 5_000,
            };
            let r = explore::explore_with(&initial, &opts, |p| {
                if progress(&format!(
                    "{} states, {} transitions, depth {}",
                    p.states, p.transitions, p.depth
                )) {
                    Control::Continue
                } else {
                    Control::Cancel
                }
            });
            let stats = format!(
                "{} states, {} transitions{}, max depth {}, {}",
                r.states,
                r.transitions,
                if args.reduction {
                    format!(" ({} pruned by sleep sets)", r.pruned_by_reduction)
                } else {
                    String::new()
                },
                r.max_depth,
                if r.complete {
                    "search complete".to_string()
                } else {
                    format!("search stopped: {:?}", r.stop_reason)
                }
            );
            let json = serde_json::to_string_pretty(&r).expect("serialisable");
            (r.per_invariant, r.complete, stats, json, r.condition)
        }
    };
    let violated = verdicts.iter().any(|v| v.violated);
    if args.json {
        out.push_str(&json);
        out.push('\n');
    } else {
        let _ = writeln!(out, "{} — {}", sc.title, initial.kernel().label());
        for mutation in &initial.kernel().what_if {
            let _ = writeln!(out, "  {}", mutation.describe());
        }
        let _ = writeln!(out, "{stats}");
        let _ = writeln!(out, "{:<38} {:<10} counterexample", "invariant", "verdict");
        for v in &verdicts {
            let verdict = if v.violated {
                "VIOLATED"
            } else if complete {
                "safe"
            } else {
                "not found"
            };
            let len = v.length.map(|l| format!("{l} steps")).unwrap_or_default();
            let _ = writeln!(out, "{:<38} {:<10} {len}", v.id, verdict);
        }
        for v in verdicts.iter().filter(|v| v.violated) {
            if let Some(s) = &v.counterexample {
                let link = sim_core::link::Link::new(sc.clone(), s.clone(), s.len());
                let _ = writeln!(out, "\n{}: {} steps", v.id, s.len());
                let _ = writeln!(out, "  schedule: {}", sim_core::link::encode_schedule(s));
                let _ = writeln!(out, "  open:     {}#{}", args.base_url, link.encode());
                let _ = writeln!(
                    out,
                    "  replay:   mmrace run {} --schedule '{}'",
                    args.scenario,
                    s.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        if !violated {
            let _ = writeln!(
                out,
                "\n{}",
                if complete {
                    format!("All interleavings safe ({stats}).")
                } else {
                    "No violation found, but the search did not cover every interleaving.".into()
                }
            );
        }
        if let Some(text) = &sc.condition {
            let _ = writeln!(out, "\ncondition: {text}");
            match &condition {
                None => {
                    let _ = writeln!(
                        out,
                        "  not decided: random runs do not evaluate conditions (run without \
                         --random for the exhaustive search)"
                    );
                }
                Some(c) => print_condition(out, c, &sc, args),
            }
        }
    }
    let condition_outcome = match (&sc.condition, &condition) {
        (None, _) => None,
        (Some(_), Some(c)) if c.holds == Some(false) => Some(Outcome::ConditionFails),
        (Some(_), Some(c)) if c.holds == Some(true) => None,
        (Some(_), Some(_)) => Some(Outcome::Budget),
        // Random runs do not evaluate conditions (said in the output): exit by invariants.
        (Some(_), None) => None,
    };
    if let Some(o) = condition_outcome {
        return Ok(o);
    }
    Ok(if violated {
        Outcome::Violated
    } else if complete {
        Outcome::Safe
    } else {
        Outcome::Budget
    })
}

/// The condition's verdict, herd7-style: holds or not, the observation over the states in
/// scope, and the witness / counterexample as a schedule with a link.
fn print_condition(
    out: &mut String,
    c: &sim_core::explore::ConditionVerdict,
    sc: &sim_core::Scenario,
    args: &CheckArgs,
) {
    use sim_core::explore::Observation;
    let scope = match sc.condition.as_ref().map(|c| c.scope) {
        Some(sim_core::condition::Scope::Any) => "reachable states",
        _ => "final states",
    };
    let _ = writeln!(
        out,
        "  {}",
        match c.holds {
            Some(true) => "holds",
            Some(false) => "DOES NOT HOLD",
            None => "not decided: the search stopped first (raise --max-states)",
        }
    );
    let _ = writeln!(
        out,
        "  observation: {} ({} of {} {scope} checked satisfy the predicate)",
        match c.observation {
            Observation::Always => "always",
            Observation::Sometimes => "sometimes",
            Observation::Never => "never",
        },
        c.satisfied,
        c.checked
    );
    let q = sc.condition.as_ref().map(|c| c.quantifier);
    let evidence = q.and_then(|q| c.evidence(q));
    let what = match q {
        Some(sim_core::condition::Quantifier::Exists) => "witness",
        _ => "counterexample",
    };
    if let Some(s) = evidence {
        let link = sim_core::link::Link::new(sc.clone(), s.clone(), s.len());
        let _ = writeln!(out, "  {what}: {} steps (a shortest one)", s.len());
        let _ = writeln!(out, "    schedule: {}", sim_core::link::encode_schedule(s));
        let _ = writeln!(out, "    open:     {}#{}", args.base_url, link.encode());
    }
}
