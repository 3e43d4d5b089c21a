//! The explorer: verdicts per scenario file, counterexamples that replay, reduction on = off,
//! budgets, cancellation, random mode.
//!
//! The THP-split scenarios have ~1000-step paths (mprotect walks 512 PTEs under one lock)
//! and ~25k states; a debug build explores them (and any scenario with a THP or 4+
//! threads) with a state budget here, the full run is in `cargo test --release` and in
//! `cargo run --release -p sim-core --example bench_explore`. See `budget`.

use std::path::{Path, PathBuf};

use sim_core::explore::{
    explore, explore_random, explore_random_with, explore_with, state_key, Control, ExploreOptions,
    ExploreResult, RandomMode, RandomOptions, RandomResult, StopReason,
};
use sim_core::scenario::Expectation;
use sim_core::{invariants, Machine, Scenario};

fn scenario_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("assets/scenarios exists") {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenarios"),
        &mut v,
    );
    v.sort();
    assert!(!v.is_empty());
    v
}

fn load(path: &Path) -> (String, Scenario, Machine) {
    let name = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenarios"))
        .unwrap_or(path)
        .to_string_lossy()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let sc = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let m = sc.build().unwrap_or_else(|e| panic!("{name}: {e}"));
    (name, sc, m)
}

fn file_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap()
}

/// What exhaustive exploration must say about a file: Some(true) violated, Some(false) safe.
fn expected_violated(name: &str) -> Option<bool> {
    let f = file_name(name);
    let safe = f.starts_with("seed-")
        || f.starts_with("transient-2014-")
        || f.starts_with("mprotect-basic")
        || f.starts_with("mprotect-partial-thp-")
        || (f.starts_with("whatif-") && f.contains("-control-"))
        // The lesson of mutation (c): v6.3's maybe_mkwrite rechecks the VMA, so restoring
        // from a stale entry is still safe there.
        || (f.starts_with("whatif-c-") && f.ends_with("-v6.3.json"));
    if safe {
        return Some(false);
    }
    let mutated = ["a", "b", "c", "d", "e"]
        .iter()
        .any(|l| f.starts_with(&format!("whatif-{l}-")));
    mutated.then_some(true)
}

/// The state budget for a scenario in this build. A THP costs ~0.1 ms per step natively
/// (512-entry tables to check, clone and hash): the THP-split seeds (~26k states) are run
/// in full only in release; bigger THP scenarios stay budgeted there too, and then only
/// partial checks apply (whatever is found must replay; nothing in a file expected safe).
fn budget(sc: &Scenario) -> usize {
    let thp = !sc.thps.is_empty();
    let many = sc.threads.len() >= 4;
    match (cfg!(debug_assertions), thp, many) {
        (true, true, _) | (true, _, true) => 1000,
        (false, true, _) => 30_000,
        _ => 200_000,
    }
}

fn opts(reduction: bool, sc: &Scenario) -> ExploreOptions {
    ExploreOptions {
        reduction,
        max_states: budget(sc),
        ..ExploreOptions::default()
    }
}

/// Replay `schedule` with `Machine::step`; the invariant must be violated after the last step
/// and after no earlier one (a shorter prefix would be a shorter counterexample).
fn check_replay(name: &str, initial: &Machine, id: &str, schedule: &[usize]) {
    assert!(!schedule.is_empty(), "{name}: {id}: empty counterexample");
    let mut m = initial.clone();
    for (i, &t) in schedule.iter().enumerate() {
        let r = m
            .step(t)
            .unwrap_or_else(|e| panic!("{name}: {id}: step {i} (thread {t}) refused: {e}"));
        let here = r.violated.contains(&id);
        if i + 1 < schedule.len() {
            assert!(
                !here,
                "{name}: {id} already violated after step {i} of {schedule:?}"
            );
        } else {
            assert!(
                here,
                "{name}: {id} not violated after the last step of {schedule:?}: {:?}",
                r.violated
            );
        }
    }
}

fn violated_ids(r: &ExploreResult) -> Vec<(String, usize)> {
    r.per_invariant
        .iter()
        .filter(|v| v.violated)
        .map(|v| (v.id.clone(), v.length.unwrap()))
        .collect()
}

#[test]
fn verdicts_per_scenario_and_counterexamples_replay() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in scenario_files() {
        let (name, sc, initial) = load(&path);
        let r = explore(&initial, &opts(false, &sc));
        // One verdict per invariant, in invariants::ALL order.
        let ids: Vec<&str> = r.per_invariant.iter().map(|v| v.id.as_str()).collect();
        let all: Vec<&str> = invariants::ALL.iter().map(|i| i.id).collect();
        assert_eq!(&ids[..all.len()], &all[..], "{name}");
        for v in r.per_invariant.iter().filter(|v| v.violated) {
            let cx = v.counterexample.as_ref().unwrap();
            assert_eq!(v.length, Some(cx.len()));
            check_replay(&name, &initial, &v.id, cx);
        }
        assert!(
            r.complete || r.stop_reason == StopReason::MaxStates,
            "{name}: {:?}",
            r.stop_reason
        );
        assert!(r.states <= budget(&sc), "{name}");
        let violated = r.any_violated();
        match expected_violated(&name) {
            Some(false) if violated => failures.push(format!(
                "{name}: expected safe over all interleavings, found {:?}",
                violated_ids(&r)
            )),
            Some(true) if !violated && r.complete => {
                failures.push(format!("{name}: expected a violation, found none"))
            }
            _ => {}
        }
        // Every named schedule that violates an invariant is one interleaving: the search
        // must find that invariant, with a counterexample no longer than the schedule's.
        if r.complete {
            for s in &sc.schedules {
                if let Some(Expectation::Violates { invariant, .. }) = &s.expect {
                    let steps = s.resolve(&initial).unwrap();
                    let mut m = initial.clone();
                    let first = steps
                        .iter()
                        .position(|&t| m.step_quiet(t).unwrap().contains(&invariant.as_str()));
                    let v = r.verdict(invariant).unwrap();
                    if !v.violated {
                        failures.push(format!(
                            "{name}: schedule {} violates {invariant} but the search did not find it",
                            s.name
                        ));
                    } else if let Some(at) = first {
                        assert!(
                            v.length.unwrap() <= at + 1,
                            "{name}: {invariant}: shortest {} > schedule {} at {}",
                            v.length.unwrap(),
                            s.name,
                            at + 1
                        );
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} scenarios");
}

#[test]
fn reduction_gives_the_same_states_verdicts_and_lengths() {
    let mut compared = 0;
    for path in scenario_files() {
        let (name, sc, initial) = load(&path);
        let off = explore(&initial, &opts(false, &sc));
        if !off.complete {
            continue; // budgeted runs stop at different points
        }
        let on = explore(&initial, &opts(true, &sc));
        assert!(on.complete, "{name}");
        // Sleep sets prune transitions, never states (module docs).
        assert_eq!(on.states, off.states, "{name}: states");
        assert_eq!(on.max_depth, off.max_depth, "{name}: depth");
        assert_eq!(
            violated_ids(&on),
            violated_ids(&off),
            "{name}: verdicts and shortest lengths"
        );
        // Every state is expanded once either way: taken + asleep = all transitions.
        assert_eq!(
            on.transitions + on.pruned_by_reduction,
            off.transitions,
            "{name}"
        );
        assert!(on.transitions <= off.transitions, "{name}");
        for v in on.per_invariant.iter().filter(|v| v.violated) {
            check_replay(&name, &initial, &v.id, v.counterexample.as_ref().unwrap());
        }
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} scenarios compared");
}

fn scenario(file: &str) -> Machine {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../assets/scenarios/{file}"))).2
}

#[test]
fn reduction_prunes_on_the_seed() {
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    let r = explore(
        &m,
        &ExploreOptions {
            reduction: true,
            ..Default::default()
        },
    );
    assert!(r.complete);
    assert!(r.pruned_by_reduction > 0);
    assert!(r.steps >= r.transitions);
    let off = explore(&m, &ExploreOptions::default());
    assert_eq!(off.pruned_by_reduction, 0);
    assert_eq!(off.steps, off.transitions);
}

#[test]
fn state_budget_stops_the_search() {
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    for reduction in [false, true] {
        let r = explore(
            &m,
            &ExploreOptions {
                max_states: 100,
                reduction,
                ..Default::default()
            },
        );
        assert!(!r.complete);
        assert_eq!(r.stop_reason, StopReason::MaxStates);
        assert_eq!(r.states, 100);
    }
}

#[test]
fn depth_budget_stops_the_search() {
    let m = scenario("whatif-e-copy-before-flush-v6.4.json");
    let full = explore(&m, &ExploreOptions::default());
    let len = full.verdict("lost-write").unwrap().length.unwrap();
    // Just deep enough for the counterexample: still found, but incomplete.
    let r = explore(
        &m,
        &ExploreOptions {
            max_depth: len,
            ..Default::default()
        },
    );
    assert_eq!(r.stop_reason, StopReason::MaxDepth);
    assert!(!r.complete);
    assert_eq!(r.max_depth, len);
    assert_eq!(r.verdict("lost-write").unwrap().length, Some(len));
    // One short: not found.
    let r = explore(
        &m,
        &ExploreOptions {
            max_depth: len - 1,
            ..Default::default()
        },
    );
    assert!(!r.verdict("lost-write").unwrap().violated);
}

#[test]
fn progress_is_reported_and_can_cancel() {
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    let mut seen = Vec::new();
    let r = explore_with(
        &m,
        &ExploreOptions {
            progress_every: 100,
            ..Default::default()
        },
        |p| {
            seen.push(p.clone());
            Control::Continue
        },
    );
    assert!(r.complete);
    assert!(seen.len() >= r.states / 100 - 1, "{} reports", seen.len());
    assert!(seen.windows(2).all(|w| w[0].states < w[1].states
        && w[0].transitions <= w[1].transitions
        && w[0].depth <= w[1].depth));
    let mut calls = 0;
    let r = explore_with(
        &m,
        &ExploreOptions {
            progress_every: 50,
            ..Default::default()
        },
        |_| {
            calls += 1;
            if calls == 3 {
                Control::Cancel
            } else {
                Control::Continue
            }
        },
    );
    assert_eq!(calls, 3);
    assert_eq!(r.stop_reason, StopReason::Cancelled);
    assert!(!r.complete);
    assert!(r.states < 200);
}

#[test]
fn result_serialises_to_json_and_back() {
    let m = scenario("whatif-d-mprotect-no-flush-v6.4.json");
    let r = explore(&m, &ExploreOptions::default());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["stop_reason"], "complete");
    let v = json["per_invariant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "stale-tlb-after-flush")
        .unwrap();
    assert_eq!(v["violated"], true);
    assert!(
        v["counterexample"].as_array().unwrap().len() == v["length"].as_u64().unwrap() as usize
    );
    let back: ExploreResult = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
    let o: ExploreOptions = serde_json::from_str(r#"{"reduction": true}"#).unwrap();
    assert!(o.reduction);
    assert_eq!(o.max_states, ExploreOptions::default().max_states);
}

#[test]
fn state_key_is_canonical() {
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    let mut a = m.clone();
    assert_eq!(state_key(&a), state_key(&m));
    a.step_quiet(1).unwrap();
    assert_ne!(state_key(&a), state_key(&m));
    // History is not part of the state: two orders of independent steps meet.
    let mut x = m.clone();
    let mut y = m.clone();
    x.step_quiet(0).unwrap();
    x.step_quiet(1).unwrap();
    y.step_quiet(1).unwrap();
    y.step_quiet(0).unwrap();
    assert_eq!(x == y, state_key(&x) == state_key(&y));
}

/// The key hashes PTE tables and folio vectors through memoised digests: it must still
/// agree with machine equality along random runs (equal machines ⇔ equal keys, checked
/// against every earlier state of the run and of a second run), change with any single PTE
/// or folio word, and not depend on whether a digest was memoised before a clone.
#[test]
fn state_key_agrees_with_machine_equality_through_the_digests() {
    let m = scenario("seed-mprotect-vs-thp-split-v6.4.json");
    let mut rng = sim_core::explore::SplitMix64::new(11);
    let mut seen: Vec<(u128, Machine)> = Vec::new();
    for _ in 0..2 {
        let mut x = m.clone();
        for _ in 0..600 {
            let run = x.runnable();
            if run.is_empty() {
                break;
            }
            let t = run[rng.below(run.len() as u64) as usize];
            x.step_quiet(t).unwrap();
            let k = state_key(&x);
            for (k2, y) in &seen {
                assert_eq!(*k2 == k, *y == x, "key and equality disagree");
            }
            seen.push((k, x.clone()));
            if seen.len() > 300 {
                seen.remove(0);
            }
        }
    }
    // One PTE word, one folio data word: different keys; restored: the same key again.
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    let mut a = m.clone();
    let k0 = state_key(&a);
    let table = *a.pt.tables.keys().next().expect("a table");
    let (&idx, &old) = a.pt.tables[&table].entries.iter().next().expect("an entry");
    a.pt.tables
        .get_mut(&table)
        .unwrap()
        .entries_mut()
        .insert(idx, old ^ 0x2);
    assert_ne!(state_key(&a), k0);
    a.pt.tables
        .get_mut(&table)
        .unwrap()
        .entries_mut()
        .insert(idx, old);
    let head = *a.folios.keys().next().expect("a folio");
    let f = a.folios.get_mut(&head).unwrap();
    let d = f.data[0];
    f.data[0] = d ^ 1;
    assert_ne!(state_key(&a), k0);
    a.folios.get_mut(&head).unwrap().data[0] = d;
    assert!(a == m);
    assert_eq!(state_key(&a), k0);
}

fn replay_random(name: &str, m: &Machine, r: &RandomResult) {
    for v in r.per_invariant.iter().filter(|v| v.violated) {
        check_replay_ends(name, m, &v.id, v.counterexample.as_ref().unwrap());
    }
}

/// Random findings are the first violation of their run: violated after the last step.
fn check_replay_ends(name: &str, m: &Machine, id: &str, schedule: &[usize]) {
    let mut m = m.clone();
    let mut last = Vec::new();
    for &t in schedule {
        last = m.step(t).unwrap().violated;
    }
    assert!(last.contains(&id), "{name}: {id} after {schedule:?}");
}

#[test]
fn random_mode_is_seeded_and_finds_replayable_violations() {
    let name = "whatif-d-mprotect-no-flush-v6.4.json";
    let m = scenario(name);
    for mode in [RandomMode::Uniform, RandomMode::Pct { depth: 3 }] {
        let a = explore_random(&m, 200, 42, mode);
        let b = explore_random(&m, 200, 42, mode);
        assert_eq!(a, b, "same seed, same result");
        assert_eq!(a.seed, 42);
        assert_eq!(a.runs, 200);
        assert!(a.steps > 0 && a.final_states > 0);
        assert!(
            a.per_invariant.iter().any(|v| v.violated),
            "{mode:?} found nothing in 200 runs"
        );
        replay_random(name, &m, &a);
        // Never shorter than the exhaustive search's shortest.
        let full = explore(&m, &ExploreOptions::default());
        for v in a.per_invariant.iter().filter(|v| v.violated) {
            let best = full.verdict(&v.id).unwrap();
            assert!(best.violated, "{}", v.id);
            assert!(v.length.unwrap() >= best.length.unwrap());
        }
    }
    let safe = scenario("seed-mprotect-vs-migration-v6.4.json");
    let r = explore_random(&safe, 100, 7, RandomMode::Pct { depth: 2 });
    assert!(!r.per_invariant.iter().any(|v| v.violated));
    assert_eq!(r.stop_reason, StopReason::Complete);
}

#[test]
fn random_mode_can_cancel() {
    let m = scenario("seed-mprotect-vs-migration-v6.4.json");
    let opts = RandomOptions {
        runs: 1000,
        seed: 1,
        progress_every: 10,
        ..Default::default()
    };
    let mut calls = 0;
    let r = explore_random_with(&m, &opts, |p| {
        calls += 1;
        assert_eq!(p.runs, calls * 10);
        if calls == 2 {
            Control::Cancel
        } else {
            Control::Continue
        }
    });
    assert_eq!(r.runs, 20);
    assert_eq!(r.stop_reason, StopReason::Cancelled);
}
