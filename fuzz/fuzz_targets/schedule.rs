//! The schedule syntaxes: the compact form (`0x6 1* 0*`) expanded against a shipped scenario
//! never panics and yields only steps that replay; the link's run form round-trips
//! (`parse_schedule(encode_schedule(x)) == x`) and its parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::link::{encode_schedule, parse_schedule};
use sim_core::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(steps) = parse_schedule(text) {
        assert_eq!(
            parse_schedule(&encode_schedule(&steps)).ok().as_ref(),
            Some(&steps),
            "parse_schedule(encode_schedule(x)) != x"
        );
    }
    let threads: Vec<usize> = data.iter().map(|&b| (b % 9) as usize).collect();
    assert_eq!(
        parse_schedule(&encode_schedule(&threads)).ok(),
        Some(threads),
        "parse_schedule(encode_schedule(x)) != x"
    );
    let sc = scenario();
    let initial = sc.build().expect("the shipped scenario builds");
    let mut m = initial.clone();
    if let Ok(steps) = sim_core::schedule::expand(&mut m, text) {
        sim_core::scenario::check_schedule(&initial, &steps)
            .unwrap_or_else(|(k, e)| panic!("expanded schedule does not replay at {k}: {e}"));
    }
});

fn scenario() -> &'static Scenario {
    static SC: std::sync::OnceLock<Scenario> = std::sync::OnceLock::new();
    SC.get_or_init(|| {
        Scenario::from_json(
            sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").expect("shipped"),
        )
        .expect("parses")
    })
}
