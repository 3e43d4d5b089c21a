//! The JSON Schema of the scenario format is generated from the types and committed as
//! `assets/scenario.schema.json`; this test fails when they drift. After an intended format
//! change: `MMRACE_BLESS=1 cargo test -p sim-core --test schema`.

#[test]
fn committed_schema_matches_the_types() {
    let schema = schemars::schema_for!(sim_core::Scenario);
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/scenario.schema.json"
    );
    if std::env::var_os("MMRACE_BLESS").is_some() {
        std::fs::write(path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == text,
        "assets/scenario.schema.json is stale; regenerate with MMRACE_BLESS=1 cargo test -p sim-core --test schema"
    );
}

/// Every shipped scenario is accepted by the schema's top-level required fields (a cheap
/// structural check; full validation is sim-core's job and names the JSON path).
#[test]
fn shipped_scenarios_have_the_required_fields() {
    let schema = schemars::schema_for!(sim_core::Scenario);
    let required: Vec<String> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(required.contains(&"format".to_string()));
    for (path, text) in sim_core::library::SCENARIOS {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        for r in &required {
            assert!(v.get(r).is_some(), "{path} lacks `{r}`");
        }
    }
}
