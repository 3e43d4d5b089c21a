//! The scenario format is read strictly and explained plainly: every bad input in the table
//! below is refused with the JSON path and a message in the format's words (no Rust type
//! names, offending values shortened), and validation's schedule replays are bounded.

use serde_json::{json, Value};
use sim_core::scenario::{BuildError, ReplayBudget};
use sim_core::{library, Scenario};

fn base() -> Value {
    serde_json::from_str(library::get("mprotect-basic.json").unwrap()).unwrap()
}

/// Parse and validate: the error as (path, message).
fn refuse(doc: &Value) -> (String, String) {
    let text = serde_json::to_string(doc).unwrap();
    let e = match Scenario::from_json(&text) {
        Err(e) => e,
        Ok(sc) => sc.build().expect_err("the scenario should be refused"),
    };
    (e.path, e.message)
}

/// Words of serde's that name Rust types or its own machinery.
const RUST_WORDS: &[&str] = &[
    "usize",
    "u32",
    "u64",
    "struct ",
    "untagged",
    "internally tagged",
    "enum ",
    "Scenario",
    "elements",
    "sequence",
];

#[test]
fn bad_inputs_are_refused_with_path_and_plain_words() {
    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit, &str, &str)] = &[
        (
            "nul_in_title",
            |d| d["title"] = json!("a\u{0}b"),
            "title",
            "control character U+0000 at character 2",
        ),
        (
            "newline_in_title",
            |d| d["title"] = json!("two\nlines"),
            "title",
            "U+000A",
        ),
        (
            "escape_in_thread_name",
            |d| d["threads"][0]["name"] = json!("T\u{1b}[31m"),
            "threads[0].name",
            "U+001B",
        ),
        (
            "c1_control_in_description",
            |d| d["description"] = json!("a\u{85}b"),
            "description",
            "U+0085",
        ),
        (
            "nul_in_schedule_name",
            |d| d["schedules"][0]["name"] = json!("r\u{0}"),
            "schedules[0].name",
            "U+0000",
        ),
        (
            "nul_in_note",
            |d| d["schedules"][0]["notes"] = json!({"0": "x\u{0}"}),
            "schedules[0].notes.0",
            "U+0000",
        ),
        (
            "unknown_field_next_to_verdict_safe",
            |d| d["schedules"][0]["expect"] = json!({"verdict": "safe", "bogus": 1}),
            "schedules[0].expect.bogus",
            "unknown field `bogus`",
        ),
        (
            "invariant_next_to_verdict_safe",
            |d| d["schedules"][0]["expect"] = json!({"verdict": "safe", "invariant": "lost-write"}),
            "schedules[0].expect.verdict",
            "`invariant` goes with the verdict \"violates\"",
        ),
        (
            "unknown_verdict",
            |d| d["schedules"][0]["expect"] = json!({"verdict": "fine"}),
            "schedules[0].expect.verdict",
            "unknown variant `fine`",
        ),
        (
            "positional_scenario_array",
            |d| {
                let Value::Object(m) = d.clone() else {
                    unreachable!()
                };
                *d = Value::Array(m.into_iter().map(|(_, v)| v).collect());
            },
            "$",
            "a list of values by position is not accepted",
        ),
        (
            "positional_vma_array",
            |d| d["vmas"][0] = json!(["0x7f0000000000", "0x7f0000002000", "PROT_READ"]),
            "vmas[0]",
            "a list of values by position is not accepted",
        ),
        (
            "positional_kernel_array",
            |d| d["kernel"] = json!(["v6.4"]),
            "kernel",
            "a list of values by position is not accepted",
        ),
        (
            "steps_of_the_wrong_type",
            |d| d["schedules"][0]["steps"] = json!({"a": 1}),
            "schedules[0].steps",
            "a list of thread numbers",
        ),
        (
            "negative_thread_in_steps",
            |d| d["schedules"][0]["steps"] = json!([0, -1]),
            "schedules[0].steps[1]",
            "expected a whole number of at least 0",
        ),
        (
            "string_cpu_count",
            |d| d["cpus"] = json!("2"),
            "cpus",
            "expected a whole number of at least 0",
        ),
        (
            "huge_unknown_field_name_is_shortened",
            |d| d[&"k".repeat(200_000)] = json!(1),
            "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk… (200000 characters)",
            "… (200000 characters)`",
        ),
    ];
    let mut failures = Vec::new();
    for (name, edit, path, needle) in cases {
        let mut doc = base();
        edit(&mut doc);
        let (got_path, message) = refuse(&doc);
        let got_path: String = got_path.chars().take(300).collect();
        let rust = RUST_WORDS.iter().find(|w| message.contains(**w));
        if got_path != *path || !message.contains(needle) || rust.is_some() || message.len() > 600 {
            failures.push(format!(
                "{name}: got {got_path}: {} (want {path}: …{needle}…{})",
                message.chars().take(300).collect::<String>(),
                rust.map(|w| format!("; names `{w}`")).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn text_with_line_breaks_and_tabs_is_accepted_where_text_spans_lines() {
    let mut doc = base();
    doc["description"] = json!("line one\n\tline two\r\n");
    doc["schedules"][0]["notes"] = json!({"0": "a\nb"});
    let sc = Scenario::from_json(&doc.to_string()).unwrap();
    sc.build().unwrap();
}

/// A scenario whose schedules need many steps to check (every page mprotected back and
/// forth by several threads).
fn long_schedules(schedules: usize) -> Scenario {
    let base = 0x7f00_0000_0000u64;
    let pages: Vec<Value> = (0..64u64)
        .map(|i| json!({"addr": format!("{:#x}", base + i * 0x1000), "pfn": format!("{:#x}", 0x10_0000 + i)}))
        .collect();
    let ops: Vec<Value> = (0..4)
        .map(|k| {
            json!({"op": "mprotect", "addr": format!("{base:#x}"), "len": "0x40000",
                   "prot": if k % 2 == 0 { "PROT_READ" } else { "PROT_READ|PROT_WRITE" }})
        })
        .collect();
    let doc = json!({
        "format": 1,
        "kernel": {"version": "v6.4"},
        "cpus": 2,
        "vmas": [{"start": format!("{base:#x}"), "end": format!("{:#x}", base + 0x40000), "prot": "PROT_READ|PROT_WRITE"}],
        "pages": pages,
        "threads": [{"name": "a", "cpu": 0, "ops": ops}, {"name": "b", "cpu": 1, "ops": ops}],
        "schedules": (0..schedules).map(|i| json!({"name": format!("s{i}"), "steps": "0* 1*"})).collect::<Vec<_>>(),
    });
    Scenario::from_json(&doc.to_string()).unwrap()
}

#[test]
fn validation_replays_stop_at_the_step_limit_and_when_told() {
    let sc = long_schedules(4);
    let m = sc.build().expect("valid without a budget");
    let per_schedule = sc.schedules[0].resolve(&m).unwrap().len();
    assert!(per_schedule > 500, "{per_schedule}");

    // Every schedule is replayed twice (expanded, then checked): 8 replays fit, 7 do not.
    let mut asked = 0;
    let mut yes = || {
        asked += 1;
        true
    };
    let mut budget = ReplayBudget {
        max_steps: 8 * per_schedule,
        keep_going: &mut yes,
    };
    assert!(sc.build_within(&mut budget).is_ok());
    assert!(asked > 0);

    let mut yes = || true;
    let mut budget = ReplayBudget {
        max_steps: 7 * per_schedule,
        keep_going: &mut yes,
    };
    assert_eq!(
        sc.build_within(&mut budget).unwrap_err(),
        BuildError::TooManySteps {
            limit: 7 * per_schedule
        }
    );

    // Stopped from outside: the first question answered no ends validation.
    let mut calls = 0;
    let mut stop = || {
        calls += 1;
        false
    };
    let mut budget = ReplayBudget {
        max_steps: usize::MAX,
        keep_going: &mut stop,
    };
    assert_eq!(
        sc.build_within(&mut budget).unwrap_err(),
        BuildError::Stopped
    );
    assert_eq!(calls, 1);

    // An invalid scenario is still invalid within a budget.
    let mut bad = sc.clone();
    bad.threads[0].cpu = 7;
    let mut yes = || true;
    let mut budget = ReplayBudget {
        max_steps: usize::MAX,
        keep_going: &mut yes,
    };
    assert!(matches!(
        bad.build_within(&mut budget),
        Err(BuildError::Invalid(e)) if e.path == "threads[0].cpu"
    ));
}

/// Found by fuzzing (target `scenario_json`): an unknown 3 KB member name full of dots and
/// backticks gave an error path of 2,548 bytes (each dotted piece was short, so none was
/// shortened) and a message of 3,456 (its backticks confused the shortening of quoted
/// values). Paths and messages are now bounded as a whole.
#[test]
fn long_error_path_is_shortened() {
    let bytes = include_bytes!("data/fuzz/scenario-json-long-error-path.bin");
    let text = String::from_utf8_lossy(bytes);
    let e = Scenario::from_json(&text).unwrap_err();
    assert!(e.path.chars().count() <= 240, "{} characters", e.path.len());
    assert!(
        e.message.len() <= 1_000,
        "{}",
        e.message.chars().take(400).collect::<String>()
    );
}
