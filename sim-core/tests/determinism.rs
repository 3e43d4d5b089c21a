//! Determinism: the same scenario and schedule give the same trace natively and in wasm.
//!
//! Every named schedule of every shipped scenario (`sim_core::library`) is replayed and its
//! trace hash compared with `tests/data/trace-hashes.json`. The same test runs natively
//! (`cargo test`) and compiled to wasm32 under Node (`cargo test --target
//! wasm32-unknown-unknown`), so both must produce exactly the committed hashes.
//!
//! After an intended model change: `MMRACE_BLESS=1 cargo test -p sim-core --test determinism`
//! rewrites the file (natively); review the diff.

use std::collections::BTreeMap;

use sim_core::{library, Scenario};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;

const EXPECTED: &str = include_str!("data/trace-hashes.json");

/// (scenario path → schedule name → trace hash as 16 hex digits), plus the state hash of the
/// initial machine under the key `"(initial)"`.
fn compute() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (path, text) in library::SCENARIOS {
        let sc = Scenario::from_json(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let initial = sc.build().unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut per = BTreeMap::new();
        per.insert(
            "(initial)".to_string(),
            format!("{:016x}", initial.state_hash()),
        );
        for s in &sc.schedules {
            let steps = s.resolve(&initial).unwrap();
            let (_, trace) = sim_core::replay(&sc, &steps).unwrap();
            per.insert(s.name.clone(), format!("{:016x}", trace.hash()));
        }
        out.insert(path.to_string(), per);
    }
    out
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn trace_hashes_match_the_committed_ones() {
    let got = compute();
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var_os("MMRACE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/trace-hashes.json");
        std::fs::write(path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(EXPECTED).expect("trace-hashes.json parses");
    assert_eq!(
        got, want,
        "trace hashes differ from tests/data/trace-hashes.json (target {}); bless natively with MMRACE_BLESS=1 if the model change is intended",
        if cfg!(target_arch = "wasm32") { "wasm32" } else { "native" }
    );
}

/// The mprotect steps of the walking skeleton replay to the same final state hash natively
/// and in wasm (the hash is pinned in trace-hashes.json under mprotect-basic.json).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn mprotect_basic_changes_the_pte_as_the_kernel_does() {
    let sc = Scenario::from_json(library::get("mprotect-basic.json").unwrap()).unwrap();
    let mut m = sc.build().unwrap();
    let table = m.pt.table_of(0x7f00_0000_0000).unwrap();
    assert_eq!(m.pte(table, 0), 0x8000_0000_1234_5867);
    while let Some(&t) = m.runnable().first() {
        m.step(t).unwrap();
    }
    assert_eq!(m.pte(table, 0), 0x8000_0000_1234_5865);
    assert_eq!(m.mm.vmas[0].vm_flags, 0x0810_0071);
    assert!(m.broken.is_empty());
}

/// Bug (found by this file's wasm run): a derived `Hash` of `Vec<usize>` hashes the slice's
/// raw bytes — 4 bytes per element on wasm32, 8 natively — so rwsem reader lists made state
/// hashes differ between the browser and the CLI. Thread lists now hash element by element;
/// this pins the value on both targets.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn bug_thread_list_hash_is_the_same_on_wasm32_and_native() {
    let h = sim_core::hash::stable_hash(&sim_core::state::TidList(vec![1, 2, 3]));
    assert_eq!(
        h,
        sim_core::hash::stable_hash(&[1u64, 2, 3][..].to_vec().iter().collect::<Vec<_>>())
    );
    assert_eq!(format!("{h:016x}"), PINNED_TIDLIST_HASH);
}

const PINNED_TIDLIST_HASH: &str = "26f5b97e5959ed29";
