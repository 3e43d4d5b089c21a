//! `mmrace run` and `mmrace check` end to end: the real binary, its output and exit codes
//! (0 safe, 1 violated, 2 invalid input, 3 budget exhausted).

use std::process::Command;

fn mmrace(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmrace"))
        .args(args)
        .output()
        .expect("run mmrace");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_prints_the_step_table_and_exits_by_verdict() {
    let (code, out, _) = mmrace(&["run", "mprotect-basic.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0x8000000012345867 → 0"), "{out}");
    assert!(out.contains("0 → 0x8000000012345865"), "{out}");
    assert!(out.contains("✓ writable-pte-in-readonly-vma"), "{out}");
    let (code, out, _) = mmrace(&["run", "whatif-c-restore-from-stale-entry-v6.4.json"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ writable-pte-in-readonly-vma             violated at step 26"),
        "{out}"
    );
}

#[test]
fn run_json_has_steps_and_the_trace_hash() {
    let (code, out, _) = mmrace(&[
        "run",
        "seed-mprotect-vs-migration-v6.4.json",
        "--schedule",
        "writer-first",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 31);
    assert_eq!(v["steps"][0]["func"], "(CPU access)");
    assert_eq!(v["trace_hash"].as_str().unwrap().len(), 16);
}

#[test]
fn run_accepts_compact_schedules_and_reports_bad_ones() {
    let (code, out, _) = mmrace(&[
        "run",
        "seed-mprotect-vs-migration-v6.3.json",
        "--schedule",
        "0x6 1* 0* 2*",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = mmrace(&[
        "run",
        "seed-mprotect-vs-migration-v6.3.json",
        "--schedule",
        "7",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("there is no thread 7"), "{err}");
}

#[test]
fn invalid_input_exits_2_with_the_json_path() {
    let dir = std::env::temp_dir().join(format!("mmrace-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    let good = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
    std::fs::write(&bad, good.replace("\"cpu\": 2", "\"cpu\": 5")).unwrap();
    let (code, _, err) = mmrace(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("threads[2].cpu: CPU 5 does not exist"),
        "{err}"
    );
    let (code, _, err) = mmrace(&["check", "no-such-scenario.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
    let (code, _, _) = mmrace(&["check", "mprotect-basic.json", "--max-states", "banana"]);
    assert_eq!(code, 2, "clap rejects a bad number");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_finds_the_shortest_counterexample_which_replays() {
    let (code, out, _) = mmrace(&[
        "check",
        "whatif-c-restore-from-stale-entry-v6.4.json",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["complete"], true);
    let inv = v["per_invariant"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "writable-pte-in-readonly-vma")
        .unwrap();
    assert_eq!(inv["violated"], true);
    let sched: Vec<String> = inv["counterexample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let (code, out, _) = mmrace(&[
        "run",
        "whatif-c-restore-from-stale-entry-v6.4.json",
        "--schedule",
        &sched.join(" "),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "writable-pte-in-readonly-vma             violated at step {}",
            sched.len() - 1
        )),
        "{out}"
    );
    // The text form prints a link that opens the counterexample in the UI.
    let (_, text, _) = mmrace(&["check", "whatif-c-restore-from-stale-entry-v6.4.json"]);
    let link = text
        .lines()
        .find(|l| l.trim_start().starts_with("open:"))
        .unwrap();
    let frag = link.split('#').nth(1).unwrap();
    let decoded = sim_core::link::Link::decode(frag).unwrap();
    assert_eq!(decoded.schedule.len(), sched.len());
}

#[test]
fn check_says_safe_for_the_seed_and_budget_for_a_tiny_budget() {
    let (code, out, _) = mmrace(&["check", "seed-mprotect-vs-migration-v6.4.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("All interleavings safe"), "{out}");
    let (code, out, _) = mmrace(&[
        "check",
        "seed-mprotect-vs-migration-v6.4.json",
        "--max-states",
        "10",
    ]);
    assert_eq!(code, 3, "{out}");
    let (code, out, _) = mmrace(&[
        "check",
        "whatif-d-mprotect-no-flush-v6.4.json",
        "--random",
        "200",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seed 7"), "{out}");
}

#[test]
fn check_reads_the_litmus_text_form() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/scenarios/whatif-d-mprotect-no-flush-v6.4.litmus"
    );
    let (code, out, _) = mmrace(&["check", path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stale-tlb-after-flush"), "{out}");
    let dir = std::env::temp_dir().join(format!("mmrace-litmus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.litmus");
    std::fs::write(&bad, "mmrace v6.4\ncpus zz\n").unwrap();
    let (code, _, err) = mmrace(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains(":2:6:"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A scenario file with `cond` as its condition, written next to the test's temp files.
fn with_condition(name: &str, base: &str, cond: &str) -> std::path::PathBuf {
    let json = sim_core::library::get(base).expect("shipped");
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["condition"] = cond.into();
    let dir = std::env::temp_dir().join(format!("mmrace-cond-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

#[test]
fn check_decides_the_condition_and_exits_4_when_it_does_not_hold() {
    // The shipped what-if (c) says a writable PTE is reachable after mprotect returned.
    let (code, out, _) = mmrace(&["check", "whatif-c-restore-from-stale-entry-v6.4.json"]);
    assert_eq!(code, 1, "invariants violated, condition holds: {out}");
    assert!(
        out.contains("condition: exists any (mprotect returned /\\ pte_present(0x7f0000000000) /\\ pte_write(0x7f0000000000))"),
        "{out}"
    );
    assert!(out.contains("\n  holds\n"), "{out}");
    assert!(
        out.contains("observation: sometimes (45 of 2314 reachable states"),
        "{out}"
    );
    assert!(out.contains("witness: 27 steps (a shortest one)"), "{out}");
    assert!(
        out.contains("open:     http://127.0.0.1:8080/#v1."),
        "{out}"
    );
    // `run` shows the predicate in the last state of a schedule.
    let (_, out, _) = mmrace(&["run", "whatif-c-restore-from-stale-entry-v6.4.json"]);
    assert!(
        out.contains("the predicate is true in the last state (a final state)"),
        "{out}"
    );
    let (_, out, _) = mmrace(&["run", "whatif-c-control-v6.4.json"]);
    assert!(
        out.contains("the predicate is false in the last state"),
        "{out}"
    );
    // The control says it is not: ~exists holds, the search is complete, exit 0.
    let (code, out, _) = mmrace(&["check", "whatif-c-control-v6.4.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\n  holds\n") && out.contains("observation: never"),
        "{out}"
    );
    // Asking the control for a witness: the condition fails, exit 4.
    let p = with_condition(
        "control-exists.json",
        "whatif-c-control-v6.4.json",
        "exists any (mprotect returned /\\ pte_present(0x7f0000000000) /\\ pte_write(0x7f0000000000))",
    );
    let (code, out, _) = mmrace(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("DOES NOT HOLD"), "{out}");
    // A forall that fails prints its counterexample; --json carries the verdict.
    let p = with_condition(
        "seed-forall.json",
        "seed-mprotect-vs-migration-v6.4.json",
        "forall (result(migrate, 0) == 0)",
    );
    let (code, out, _) = mmrace(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("counterexample: 16 steps"), "{out}");
    let (code, json, _) = mmrace(&["check", p.to_str().unwrap(), "--json"]);
    assert_eq!(code, 4);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["condition"]["holds"], false);
    assert_eq!(v["condition"]["falsifying"].as_array().unwrap().len(), 16);
    // Undecided within the budget: exit 3.
    let (code, out, _) = mmrace(&["check", p.to_str().unwrap(), "--max-states", "10"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("not decided: the search stopped first"),
        "{out}"
    );
    // A bad condition is invalid input naming the field.
    let p = with_condition(
        "bad.json",
        "mprotect-basic.json",
        "exists (nobody returned)",
    );
    let (code, _, err) = mmrace(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("condition: there is no thread \"nobody\""),
        "{err}"
    );
}
