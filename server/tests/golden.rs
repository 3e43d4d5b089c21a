//! The golden corpus (`assets/golden/`): frozen copies of stored scenarios, exactly as the
//! server stores them, with the trace hash of each named schedule and each scenario's id.
//! A shared link must replay the same way forever, so a model change that alters how any of
//! these replays — or a change of canonical JSON or of the id function that would give an
//! old scenario a different id — fails here.
//!
//! Files:
//! - `assets/golden/<name>.json`: the scenarios (canonical JSON as the server stores it;
//!   never edited once added — they stand for bytes already stored in databases);
//! - `assets/golden/trace-hashes.json`: `{ "<file>": { "<schedule>": "<16-hex trace hash>" } }`,
//!   `sim_core::replay(&scenario, &steps).trace.hash()` of every named schedule;
//! - `assets/golden/ids.json`: `{ "<file>": "<scenario id>" }`.
//!
//! After an *intended* change (review the diff!):
//! `MMRACE_BLESS=1 cargo test -p server --test golden` rewrites the two JSON files from the
//! current model. To add a scenario of the library to the corpus:
//! `MMRACE_GOLDEN_ADD=whatif-b-mprotect-walk-before-publish-v6.4.json cargo test -p server
//! --test golden` (then bless, and commit the new file).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim_core::Scenario;

type Hashes = BTreeMap<String, BTreeMap<String, String>>;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/golden")
}

/// Every scenario file of the corpus, sorted.
fn corpus() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !["trace-hashes.json", "ids.json"]
                    .contains(&p.file_name().unwrap().to_str().unwrap())
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Replay every named schedule of every corpus scenario with the current model.
fn compute() -> (Hashes, BTreeMap<String, String>) {
    let mut hashes = Hashes::new();
    let mut ids = BTreeMap::new();
    for (file, text) in corpus() {
        let sc = Scenario::from_json(&text)
            .unwrap_or_else(|e| panic!("{file} no longer parses — old links would break: {e}"));
        let initial = sc
            .build()
            .unwrap_or_else(|e| panic!("{file} no longer validates — old links would break: {e}"));
        let mut per = BTreeMap::new();
        for s in &sc.schedules {
            let steps = s
                .resolve(&initial)
                .unwrap_or_else(|e| panic!("{file}: schedule {}: {e}", s.name));
            let (_, trace) = sim_core::replay(&sc, &steps)
                .unwrap_or_else(|e| panic!("{file}: schedule {}: {e}", s.name));
            per.insert(s.name.clone(), format!("{:016x}", trace.hash()));
        }
        hashes.insert(file.clone(), per);
        ids.insert(file, server::id::scenario_id(sc.to_json().as_bytes()));
    }
    (hashes, ids)
}

fn write_json<T: serde::Serialize>(name: &str, value: &T) {
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    std::fs::write(golden_dir().join(name), text).unwrap();
}

fn read_json<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = golden_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with MMRACE_BLESS=1)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn env_set(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

#[test]
fn golden_scenarios_replay_exactly_as_recorded() {
    if let Some(name) = env_set("MMRACE_GOLDEN_ADD") {
        let text = sim_core::library::get(&name)
            .unwrap_or_else(|| panic!("MMRACE_GOLDEN_ADD={name}: not a shipped scenario"));
        let canonical = Scenario::from_json(text).unwrap().to_json();
        let path = golden_dir().join(&name);
        assert!(
            !path.exists(),
            "{} exists; corpus files are frozen",
            path.display()
        );
        std::fs::write(&path, canonical).unwrap();
        eprintln!("added {}; now bless: MMRACE_BLESS=1", path.display());
        return;
    }
    let (hashes, ids) = compute();
    if env_set("MMRACE_BLESS").is_some() {
        write_json("trace-hashes.json", &hashes);
        write_json("ids.json", &ids);
        eprintln!("blessed {} golden scenarios", hashes.len());
        return;
    }
    let want_hashes: Hashes = read_json("trace-hashes.json");
    let want_ids: BTreeMap<String, String> = read_json("ids.json");
    let mut problems = Vec::new();
    for (file, per) in &hashes {
        let Some(want) = want_hashes.get(file) else {
            problems.push(format!("{file}: not in trace-hashes.json (bless it)"));
            continue;
        };
        for (schedule, hash) in per {
            match want.get(schedule) {
                Some(w) if w == hash => {}
                Some(w) => problems.push(format!(
                    "{file}: schedule `{schedule}` replays differently: trace hash {hash}, \
                     recorded {w}"
                )),
                None => problems.push(format!("{file}: schedule `{schedule}` not recorded")),
            }
        }
        for schedule in want.keys().filter(|s| !per.contains_key(*s)) {
            problems.push(format!("{file}: recorded schedule `{schedule}` is gone"));
        }
    }
    for file in want_hashes.keys().filter(|f| !hashes.contains_key(*f)) {
        problems.push(format!(
            "{file}: recorded, but the scenario file is missing"
        ));
    }
    if ids != want_ids {
        problems.push(format!(
            "scenario ids changed (canonical JSON or the id function): now {ids:?}, \
             recorded {want_ids:?}"
        ));
    }
    assert!(
        problems.is_empty(),
        "the golden corpus no longer replays as recorded — old links would change meaning:\n  \
         {}\nIf (and only if) this change is intended, bless it: \
         MMRACE_BLESS=1 cargo test -p server --test golden",
        problems.join("\n  ")
    );
}

/// The corpus is what it claims to be: canonical JSON as the server stores it, a few what-if
/// kernels among them, and named schedules to replay.
#[test]
fn the_corpus_is_canonical_and_varied() {
    let corpus = corpus();
    assert!(corpus.len() >= 8, "{} scenarios", corpus.len());
    let mut what_if = 0;
    let mut schedules = 0;
    for (file, text) in &corpus {
        let sc = Scenario::from_json(text).unwrap();
        assert_eq!(
            &sc.to_json(),
            text,
            "{file} is not canonical: it must be the bytes the server stores"
        );
        what_if += usize::from(!sc.kernel.what_if.is_empty());
        schedules += sc.schedules.len();
    }
    assert!(what_if >= 3, "{what_if} what-if scenarios");
    assert!(schedules >= 15, "{schedules} schedules");
}

/// The stored copy of a golden scenario is served byte for byte under its recorded id.
#[tokio::test]
async fn golden_scenarios_are_served_byte_identical_under_their_ids() {
    let db = common::TestDb::sqlite().await;
    let mut options = common::unlimited();
    options.limits.explorer_max_time = std::time::Duration::from_millis(200);
    let app = db.app_with(server::frontend::Frontend::Missing, options);
    let ids: BTreeMap<String, String> = read_json("ids.json");
    for (file, text) in corpus() {
        let up = common::upload(&app, &text).await;
        assert_eq!(up.status, 201, "{file}: {}", up.text());
        assert_eq!(up.json()["id"], ids[&file], "{file}");
        let got = common::get(&app, &format!("/api/scenarios/{}", ids[&file])).await;
        assert_eq!(got.text(), text, "{file}");
    }
    db.close().await;
}
