//! The exhaustive verdicts shown by the library page (`assets/verdicts.json`) are what the
//! explorer says today.
//!
//! The gallery cannot run the explorer for every card (it would take seconds per THP
//! scenario in the browser), so it shows this committed table instead. This test explores
//! every shipped scenario (`sim_core::library`, without the `bench/` scaling scenarios, as the
//! gallery does) with `mmrace check`'s default options and compares: completeness, the number
//! of states and, per violated invariant, the length of a shortest counterexample.
//!
//! After an intended model or scenario change: `MMRACE_BLESS=1 cargo test -p sim-core --test
//! verdicts` rewrites the file; review the diff.
//!
//! Native only: it reads and writes the file, and the wasm32 run of the model is pinned to
//! the native one by `determinism.rs`.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use sim_core::explore::{explore, ExploreOptions};
use sim_core::{library, Scenario};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/verdicts.json");

/// `mmrace check`'s defaults (server/src/cli.rs: `--max-states 1000000`, no depth limit, no
/// reduction). Reduction would give the same verdicts and lengths but fewer states, and the
/// file records the state count `mmrace check` prints.
fn check_options() -> ExploreOptions {
    ExploreOptions {
        progress_every: 0,
        ..ExploreOptions::default()
    }
}

/// scenario path → `{"complete", "states", "violated": {invariant: shortest length}}`,
/// plus `"condition"` for scenarios with one.
fn compute() -> BTreeMap<String, Value> {
    let opts = check_options();
    let mut out = BTreeMap::new();
    for (path, text) in library::SCENARIOS {
        if path.starts_with("bench/") {
            continue;
        }
        let sc = Scenario::from_json(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let initial = sc.build().unwrap_or_else(|e| panic!("{path}: {e}"));
        let r = explore(&initial, &opts);
        let violated: BTreeMap<String, usize> = r
            .per_invariant
            .iter()
            .filter(|v| v.violated)
            .map(|v| {
                let len = v
                    .length
                    .unwrap_or_else(|| panic!("{path}: {} violated without a length", v.id));
                (v.id.clone(), len)
            })
            .collect();
        let mut entry = json!({ "complete": r.complete, "states": r.states, "violated": violated });
        // The condition's decision (`holds`: true / false / null when undecided), the states
        // in scope checked and satisfying it, and the length of the shortest schedule that
        // decided it (an exists' witness, a forall's or ~exists' counterexample), if one did.
        if let (Some(c), Some(cond)) = (&r.condition, &sc.condition) {
            entry["condition"] = json!({
                "holds": c.holds,
                "checked": c.checked,
                "satisfied": c.satisfied,
                "evidence": c.evidence(cond.quantifier).map(Vec::len),
            });
        }
        out.insert(path.to_string(), entry);
    }
    out
}

/// One scenario per line, keys sorted (serde_json's map is a BTreeMap): small diffs.
fn render(v: &BTreeMap<String, Value>) -> String {
    let mut s = String::from("{\n");
    for (i, (k, e)) in v.iter().enumerate() {
        let sep = if i + 1 == v.len() { "" } else { "," };
        s.push_str(&format!(
            "  {}: {}{sep}\n",
            serde_json::to_string(k).unwrap(),
            serde_json::to_string(e).unwrap()
        ));
    }
    s.push_str("}\n");
    s
}

/// The differing scenarios, one line each (empty: equal).
fn diff(want: &BTreeMap<String, Value>, got: &BTreeMap<String, Value>) -> Vec<String> {
    let keys: BTreeSet<&String> = want.keys().chain(got.keys()).collect();
    keys.into_iter()
        .filter_map(|k| match (want.get(k), got.get(k)) {
            (Some(w), Some(g)) if w == g => None,
            (Some(w), Some(g)) => Some(format!("  {k}:\n    file:     {w}\n    explorer: {g}")),
            (Some(w), None) => Some(format!("  {k}: in the file ({w}) but not shipped")),
            (None, Some(g)) => Some(format!("  {k}: shipped but missing from the file ({g})")),
            (None, None) => None,
        })
        .collect()
}

#[test]
fn committed_verdicts_match_the_explorer() {
    let got = compute();
    if std::env::var_os("MMRACE_BLESS").is_some() {
        std::fs::write(FILE, render(&got)).expect("write assets/verdicts.json");
        return;
    }
    let text = std::fs::read_to_string(FILE).expect("assets/verdicts.json exists");
    let want: BTreeMap<String, Value> =
        serde_json::from_str(&text).expect("assets/verdicts.json parses");
    let d = diff(&want, &got);
    assert!(
        d.is_empty(),
        "assets/verdicts.json differs from the explorer for {} scenario(s):\n{}\nbless with MMRACE_BLESS=1 cargo test -p sim-core --test verdicts if the change is intended",
        d.len(),
        d.join("\n")
    );
    // Byte for byte too, so the file stays in the blessed layout (the gallery parses it).
    assert_eq!(
        text,
        render(&got),
        "assets/verdicts.json is not in the blessed layout; re-bless it"
    );
}

/// The comparison can fail: a changed length, a lost scenario and an extra one all show up,
/// each on its own line naming the scenario.
#[test]
fn the_diff_names_every_differing_scenario() {
    let mut want = BTreeMap::new();
    want.insert(
        "a.json".to_string(),
        json!({"complete": true, "states": 10, "violated": {}}),
    );
    want.insert(
        "b.json".to_string(),
        json!({"complete": true, "states": 5, "violated": {"x": 3}}),
    );
    want.insert(
        "c.json".to_string(),
        json!({"complete": true, "states": 1, "violated": {}}),
    );
    let mut got = want.clone();
    got.insert(
        "b.json".to_string(),
        json!({"complete": true, "states": 5, "violated": {"x": 4}}),
    );
    got.remove("c.json");
    got.insert(
        "d.json".to_string(),
        json!({"complete": false, "states": 7, "violated": {}}),
    );
    let d = diff(&want, &got);
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(d[0].starts_with("  b.json:") && d[0].contains("\"x\":4"));
    assert!(d[1].contains("c.json: in the file"));
    assert!(d[2].contains("d.json: shipped but missing"));
    assert!(diff(&want, &want).is_empty());
    // The rendered layout parses back to the same table.
    let back: BTreeMap<String, Value> = serde_json::from_str(&render(&got)).unwrap();
    assert_eq!(back, got);
}
