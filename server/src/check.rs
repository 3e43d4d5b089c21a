//! `mmrace check`: explore every interleaving of a scenario (or seeded random ones) and print
//! a verdict per invariant, the shortest counterexample with a link, and the scenario's
//! condition. Exit codes: 0 safe, 1 violated, 2 invalid input, 3 budget exhausted, 4 the
//! condition does not hold.

use std::fmt::Write as _;

use clap::Args;

use crate::cli::{load_scenario, InputError, Outcome};

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
        for h in &initial.kernel().historical {
            let _ = writeln!(out, "  {} — {}", h.badge(), h.fix().url());
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
