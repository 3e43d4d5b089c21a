//! Conditions (`exists` / `~exists` / `forall` over final or any states): the explorer
//! decides them on real scenarios with shortest witnesses and counterexamples, their text
//! round-trips, and bad conditions get positioned errors (never a panic).

use sim_core::condition::{Condition, ParseError};
use sim_core::explore::{explore, ExploreOptions, Observation};
use sim_core::litmus;
use sim_core::Scenario;

fn shipped(name: &str) -> Scenario {
    let (_, json) = sim_core::library::SCENARIOS
        .iter()
        .find(|(p, _)| *p == name)
        .unwrap_or_else(|| panic!("no shipped scenario {name}"));
    Scenario::from_json(json).unwrap()
}

/// `name` with its condition replaced by `cond`, explored exhaustively.
fn decide(name: &str, cond: &str) -> sim_core::explore::ConditionVerdict {
    let mut sc = shipped(name);
    sc.condition = Some(Condition::parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}")));
    let m = sc.build().unwrap_or_else(|e| panic!("{cond}: {e}"));
    let r = explore(&m, &ExploreOptions::default());
    assert!(r.complete, "{name}: search incomplete");
    r.condition.expect("the scenario has a condition")
}

/// Replays `schedule` on `name` with `cond`: whether the last state is in the condition's
/// scope, and the predicate's value there.
fn predicate_after(name: &str, cond: &str, schedule: &[usize]) -> (bool, bool) {
    let mut sc = shipped(name);
    sc.condition = Some(Condition::parse(cond).unwrap());
    let mut m = sc.build().unwrap();
    let mut violated = Vec::new();
    for &t in schedule {
        violated = m.step_quiet(t).unwrap();
    }
    let c = m.spec.condition.clone().unwrap();
    let value = c.holds(&sim_core::condition::Facts {
        machine: &m,
        violated: &violated,
    });
    (c.in_scope(&m), value)
}

/// The predicate after `schedule`, which must end in scope (a witness or counterexample).
fn holds_after(name: &str, cond: &str, schedule: &[usize]) -> bool {
    let (in_scope, value) = predicate_after(name, cond, schedule);
    assert!(in_scope, "the witness/counterexample ends in scope");
    value
}

/// In scope and true after `schedule` (a prefix of a witness may end anywhere).
fn holds_after_prefix(name: &str, cond: &str, schedule: &[usize]) -> bool {
    predicate_after(name, cond, schedule) == (true, true)
}

const WRITABLE_AFTER_RETURN: &str =
    "mprotect returned /\\ pte_present(0x7f0000000000) /\\ pte_write(0x7f0000000000)";

#[test]
fn what_if_c_reaches_a_writable_pte_after_mprotect_returned_and_the_real_kernel_does_not() {
    let cond = format!("exists any ({WRITABLE_AFTER_RETURN})");
    let bad = decide("whatif-c-restore-from-stale-entry-v6.4.json", &cond);
    assert_eq!(bad.holds, Some(true), "{bad:?}");
    let w = bad.satisfying.clone().expect("a witness");
    assert!(holds_after(
        "whatif-c-restore-from-stale-entry-v6.4.json",
        &cond,
        &w
    ));
    // Shortest: no prefix of the witness satisfies it.
    for k in 0..w.len() {
        assert!(
            !holds_after_prefix(
                "whatif-c-restore-from-stale-entry-v6.4.json",
                &cond,
                &w[..k]
            ),
            "prefix {k} already satisfies it"
        );
    }
    assert_eq!(bad.observation, Observation::Sometimes);

    let good = decide("whatif-c-control-v6.4.json", &cond);
    assert_eq!(good.holds, Some(false), "{good:?}");
    assert_eq!(good.satisfied, 0);
    assert_eq!(good.observation, Observation::Never);
    assert!(good.satisfying.is_none());

    // The same question as herd7's `~exists` and as a user invariant.
    let inv = decide(
        "whatif-c-control-v6.4.json",
        &format!("forall any (~({WRITABLE_AFTER_RETURN}))"),
    );
    assert_eq!(inv.holds, Some(true));
    assert_eq!(inv.checked, good.checked, "any scope checks every state");
    let neg = decide(
        "whatif-c-restore-from-stale-entry-v6.4.json",
        &format!("~exists any ({WRITABLE_AFTER_RETURN})"),
    );
    assert_eq!(neg.holds, Some(false));
    assert_eq!(neg.satisfying, bad.satisfying, "the same shortest witness");
}

#[test]
fn any_scope_counts_every_state_and_final_scope_only_the_states_where_nothing_can_step() {
    let name = "seed-mprotect-vs-migration-v6.4.json";
    let all = decide(name, "forall any (true)");
    assert_eq!(all.holds, Some(true));
    assert_eq!(
        all.checked, 1833,
        "every reachable state of the seed (verdicts.json)"
    );
    let fin = decide(name, "forall (true)");
    assert!(fin.checked > 0 && fin.checked < all.checked, "{fin:?}");
    // In every final state every thread returned or was killed: none is blocked.
    let f = decide(
        name,
        "forall ((mprotect returned \\/ mprotect killed) /\\ migrate returned /\\ (writer returned \\/ writer killed))",
    );
    assert_eq!(f.holds, Some(true), "{f:?}");
    assert_eq!(f.checked, fin.checked);
    // And no thread is blocked there.
    assert_eq!(
        decide(
            name,
            "exists (mprotect blocked \\/ migrate blocked \\/ writer blocked)"
        )
        .holds,
        Some(false)
    );
    // false is never satisfied; exists over it fails with the search complete.
    let never = decide(name, "exists any (false)");
    assert_eq!((never.holds, never.satisfied), (Some(false), 0));
}

#[test]
fn the_seed_migration_ends_read_only_on_the_new_frame_or_fails_with_efault() {
    // Every final state of the v6.4 seed: the PTE is present without RW, and either the
    // migration succeeded and it maps the new frame, or migrate_pages found the PTE cleared
    // by mprotect's ptep_modify_prot_start (it reads as none) and returned -EFAULT, leaving
    // the old frame mapped.
    let name = "seed-mprotect-vs-migration-v6.4.json";
    let v = decide(
        name,
        "forall (pte_present(0x7f0000000000) /\\ ~pte_write(0x7f0000000000) /\\ ((result(migrate, 0) == 0 /\\ pte_pfn(0x7f0000000000) == 0x23456) \\/ (result(migrate, 0) == -14 /\\ pte_pfn(0x7f0000000000) == 0x12345)))",
    );
    assert_eq!(v.holds, Some(true), "{v:?}");
    let efault = decide(name, "exists (result(migrate, 0) == -14)");
    assert_eq!(efault.holds, Some(true));
    assert_eq!(efault.observation, Observation::Sometimes);
    // Both values occur: the writer can come before mprotect, or be killed after it.
    let stored = decide(name, "exists (data(0x23456) == 0x42)");
    assert_eq!(stored.holds, Some(true));
    let killed = decide(name, "exists (writer killed /\\ data(0x23456) == 0x11)");
    assert_eq!(killed.holds, Some(true));
    // A migration entry is visible in some state, the PTE holds one only while migrating.
    let mig = decide(name, "exists any (is_migration_entry(0x7f0000000000))");
    assert_eq!(mig.holds, Some(true));
    let locked = decide(
        name,
        "forall any (~is_migration_entry(0x7f0000000000) \\/ locked(folio(0x12345)))",
    );
    assert_eq!(locked.holds, Some(true), "{locked:?}");
    // mprotect's return value is 0 in every final state; vm_flags lost VM_WRITE.
    let ret = decide(
        name,
        "forall (result(mprotect, 0) == 0 /\\ ~(vm_flags(0x7f0000000000) & VM_WRITE))",
    );
    assert_eq!(ret.holds, Some(true), "{ret:?}");
}

#[test]
fn a_counterexample_is_a_shortest_path_to_a_state_breaking_a_forall() {
    let name = "seed-mprotect-vs-migration-v6.4.json";
    let cond = "forall any (~mprotect holds ptl(0x7f0000000000))";
    let v = decide(name, cond);
    assert_eq!(v.holds, Some(false));
    let cx = v.falsifying.expect("a counterexample");
    assert!(!holds_after(name, cond, &cx));
    for k in 0..cx.len() {
        assert!(holds_after_prefix(name, cond, &cx[..k]), "prefix {k}");
    }
    // PT lock and TLB atoms agree with the machine: the writer's CPU starts with the
    // translation cached, writable.
    assert_eq!(
        decide(
            name,
            "exists any (tlb_writable(2, 0x7f0000000000) /\\ tlb_cached(2, 0x7f0000000000))"
        )
        .satisfying,
        Some(vec![]),
        "the initial state is the shortest witness"
    );
}

#[test]
fn violated_reads_the_invariants_of_the_state() {
    let name = "whatif-c-restore-from-stale-entry-v6.4.json";
    let m = shipped(name).build().unwrap();
    let r = explore(&m, &ExploreOptions::default());
    let inv = r
        .per_invariant
        .iter()
        .find(|v| v.violated)
        .expect("what-if (c) violates something");
    let v = decide(name, &format!("exists any (violated({}))", inv.id));
    assert_eq!(v.holds, Some(true));
    assert_eq!(
        v.satisfying, inv.counterexample,
        "the same shortest path as the explorer's"
    );
    let safe = decide(
        "whatif-c-control-v6.4.json",
        &format!("~exists any (violated({}))", inv.id),
    );
    assert_eq!(safe.holds, Some(true));
}

/// `exists any (violated(id))` is the explorer's own verdict for `id`, with the same
/// shortest length — also for the invariant a step breaks by what it does (a store after
/// mprotect returned) rather than by the state it leaves, on every small shipped scenario.
#[test]
fn exists_violated_agrees_with_the_invariant_verdicts() {
    let mut violated_seen = 0;
    for (path, json) in sim_core::library::SCENARIOS {
        if path.starts_with("bench/") || path.contains("thp") {
            continue;
        }
        let base = Scenario::from_json(json).unwrap();
        let verdicts = explore(&base.build().unwrap(), &ExploreOptions::default());
        if !verdicts.complete {
            continue;
        }
        for inv in sim_core::invariants::ALL {
            let mut sc = base.clone();
            sc.condition =
                Some(Condition::parse(&format!("exists any (violated({}))", inv.id)).unwrap());
            let r = explore(&sc.build().unwrap(), &ExploreOptions::default());
            let c = r.condition.unwrap();
            let v = verdicts.verdict(inv.id).unwrap();
            assert_eq!(c.holds, Some(v.violated), "{path}: {}", inv.id);
            assert_eq!(
                c.satisfying.as_ref().map(Vec::len),
                v.length,
                "{path}: {}",
                inv.id
            );
            violated_seen += usize::from(v.violated);
        }
    }
    assert!(violated_seen >= 6, "{violated_seen}");
}

#[test]
fn some_and_every_range_over_the_pages_of_a_thp_after_the_split() {
    let name = "seed-mprotect-vs-thp-split-v6.4.json";
    // Finally every 4 KiB page of the THP is mapped read-only by a PTE of the split table,
    // to consecutive frames.
    let v = decide(
        name,
        "forall (every p in 0x7f0000000000-0x7f0000200000 (pte_present(p) /\\ ~pte_write(p)) /\\ pte_pfn(0x7f0000001000) == 0x40001 /\\ ~pmd_trans_huge(0x7f0000000000))",
    );
    assert_eq!(v.holds, Some(true), "{v:?}");
    // Some state has a huge PMD and no PTE at all.
    let h = decide(
        name,
        "exists any (pmd_trans_huge(0x7f0000000000) /\\ every p in 0x7f0000000000-0x7f0000200000 (pte_none(p)))",
    );
    assert_eq!(h.satisfying, Some(vec![]));
}

#[test]
fn unknown_threads_are_refused_by_build_with_the_json_path() {
    let mut sc = shipped("seed-mprotect-vs-migration-v6.4.json");
    sc.condition = Some(Condition::parse("exists (nobody returned)").unwrap());
    let e = sc.build().unwrap_err();
    assert_eq!(e.path, "condition");
    assert!(e.message.contains("no thread \"nobody\""), "{e}");
    assert!(e.message.contains("T0 \"mprotect\""), "{e}");
    // T<i> names a thread by index, when no thread has that name.
    sc.condition = Some(Condition::parse("exists (T2 returned)").unwrap());
    sc.build().unwrap();
    sc.condition = Some(Condition::parse("exists (T3 returned)").unwrap());
    assert_eq!(sc.build().unwrap_err().path, "condition");
}

#[test]
fn json_carries_the_condition_as_text_and_reports_its_errors_at_condition() {
    let sc = shipped("seed-mprotect-vs-migration-v6.4.json");
    let mut v: serde_json::Value = serde_json::from_str(&sc.to_json()).unwrap();
    v["condition"] = "forall any (~violated(lost-write))".into();
    let back = Scenario::from_json(&v.to_string()).unwrap();
    assert_eq!(
        back.condition.as_ref().unwrap().to_string(),
        "forall any (~violated(lost-write))"
    );
    assert!(back
        .to_json()
        .contains("\"condition\": \"forall any (~violated(lost-write))\""));
    v["condition"] = "forall any (~violated(lost-writes))".into();
    let e = Scenario::from_json(&v.to_string()).unwrap_err();
    assert_eq!(e.path, "condition", "{e}");
    assert!(e.message.contains("column 23"), "{e}");
    assert!(e.message.contains("an invariant id"), "{e}");
    v["condition"] = 7.into();
    assert_eq!(
        Scenario::from_json(&v.to_string()).unwrap_err().path,
        "condition"
    );
}

fn perr(text: &str) -> ParseError {
    Condition::parse(text).unwrap_err()
}

#[test]
fn bad_conditions_name_the_column_and_what_was_expected() {
    let e = perr("exist (true)");
    assert_eq!((e.offset, e.found.as_str()), (0, "\"exist\""));
    assert!(e.expected.contains("\"exists\""));
    let e = perr("exists (true");
    assert_eq!(e.offset, 12);
    assert_eq!(e.found, "the end of the condition");
    let e = perr("exists (pte_wirte(0x1000))");
    assert_eq!(e.offset, 8);
    assert!(e.expected.contains("a known function"), "{e}");
    let e = perr("exists (pte(0x1000) == 0x1_0000_0000_0000_0000)");
    assert!(e.expected.contains("64 bits"), "{e}");
    let e = perr("exists (pte(0x1000) == 0x)");
    assert_eq!((e.offset, e.found.as_str()), (23, "\"0x\""));
    assert!(e.expected.contains("a number (hex"), "{e}");
    let e = perr("exists (data(12ab) == 1)");
    assert!(e.expected.contains("a number (hex"), "{e}");
    let e = perr("exists (mprotect retruned)");
    assert!(e.expected.contains("\"returned\""), "{e}");
    let e = perr("exists (some p in 0x1000-0x1000 (pte_none(p)))");
    assert!(e.expected.contains("page-aligned range"), "{e}");
    let e = perr("exists (some p in 0x0-0x10000000 (pte_none(p)))");
    assert!(e.expected.contains("at most 1024 pages"), "{e}");
    let e = perr("exists (some p in 0x0-0x1000 (some q in 0x0-0x1000 (true)))");
    assert!(e.expected.contains("no some/every inside another"), "{e}");
    let e = perr("exists (pte_none(q))");
    assert!(e.expected.contains("an address"), "{e}");
    let e = perr("exists (vm_flags(0x0) & VM_WRTIE)");
    assert!(e.expected.contains("VM_* flag"), "{e}");
    let e = perr(&format!(
        "exists ({}true{})",
        "(".repeat(100),
        ")".repeat(100)
    ));
    assert!(e.expected.contains("nested levels"), "{e}");
    let e = perr(&format!("exists ({})", vec!["true"; 300].join(" /\\ ")));
    assert!(e.expected.contains("atoms"), "{e}");
    let e = perr(&"x".repeat(5000));
    assert!(e.expected.contains("at most 4000 characters"), "{e}");
    let e = perr("exists (\"unterminated returned)");
    assert!(e.found.contains("unterminated"), "{e}");
    assert_eq!(
        perr("exists (true) junk").expected,
        "the end of the condition"
    );
}

#[test]
fn litmus_places_condition_errors_in_the_file_and_conditions_may_span_lines() {
    let mut sc = shipped("seed-mprotect-vs-migration-v6.4.json");
    sc.condition = None;
    let base = litmus::print(&sc);
    let lines = base.lines().count();
    let text = format!(
        "{base}\nforall any (  # no writable PTE once mprotect returned\n  ~(mprotect returned /\\\n    pte_write(0x7f0000000000)))\n"
    );
    let sc = litmus::parse(&text).unwrap();
    assert_eq!(
        sc.condition.unwrap().to_string(),
        "forall any (~(mprotect returned /\\ pte_write(0x7f0000000000)))"
    );
    let bad = format!(
        "{base}\nforall any (\n  ~(mprotect returned /\\\n    pte_wirte(0x7f0000000000)))\n"
    );
    let e = litmus::parse(&bad).unwrap_err();
    assert_eq!((e.line, e.col), (lines + 4, 5), "{e}");
    let twice = format!("{base}\nexists (true)\nexists (false)\n");
    let e = litmus::parse(&twice).unwrap_err();
    assert!(e.expected.contains("one condition per scenario"), "{e}");
    let open = format!("{base}\nexists (true\n");
    let e = litmus::parse(&open).unwrap_err();
    assert_eq!(e.found, "the end of the condition", "{e}");
}

/// Found by fuzzing (`cargo xtask fuzz`, target `condition`): a condition under the length
/// limit whose canonical text (operators spaced out, as scenarios store it) is over it, so the
/// stored scenario could not be read again. Such a condition is refused, naming the limit;
/// whatever parses prints to text that parses to the same condition.
#[test]
fn condition_whose_canonical_text_exceeds_the_limit_is_refused() {
    let text = include_str!("data/fuzz/condition-canonical-text-over-the-limit.txt");
    assert!(text.chars().count() <= sim_core::condition::MAX_TEXT);
    let e = Condition::parse(text).unwrap_err();
    assert!(e.to_string().contains("written canonically"), "{e}");
    // One operand fewer fits, and round-trips.
    let short = "forall any (~(a returned /\\ b returned))";
    let c = Condition::parse(short).unwrap();
    assert_eq!(Condition::parse(&c.to_string()).unwrap(), c);
}
