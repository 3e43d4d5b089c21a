//! `mmrace run`: replay a scenario's schedule and print the step table and the invariant
//! results. Exit codes: 0 no invariant violated, 1 violated, 2 invalid input.

use std::fmt::Write as _;

use clap::Args;
use serde::Serialize;
use sim_core::invariants;
use sim_core::record::Change;
use sim_core::{pte, StepRecord};

use crate::cli::{load_scenario, resolve_schedule, InputError, Outcome};

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
        for h in &m.kernel().historical {
            let _ = writeln!(out, "  {} — {}", h.badge(), h.fix().url());
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
