//! The `#v1.` link decoder: never panics on any fragment. And link encode/decode round-trips:
//! a scenario read from the input (JSON or litmus) with a schedule chosen by the input's last
//! bytes encodes to a link that decodes to the same link.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::link::Link;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = text.trim_start_matches('#');
    if trimmed.starts_with('v') && !trimmed.starts_with("v6") {
        if let Ok(link) = Link::decode(text) {
            let again = Link::decode(&link.encode()).expect("a decoded link re-encodes");
            assert_eq!(again, link, "decode(encode(decode(x))) != decode(x)");
        }
        return;
    }
    let Ok(sc) = sim_core::litmus::load_any(text) else {
        return;
    };
    let Ok(initial) = mmrace_fuzz::build_bounded(&sc) else {
        return;
    };
    // A runnable schedule picked by the input's bytes.
    let mut m = initial;
    let mut schedule = Vec::new();
    for &b in data.iter().rev().take(64) {
        let runnable = m.runnable();
        if runnable.is_empty() {
            break;
        }
        let t = runnable[b as usize % runnable.len()];
        if m.step_quiet(t).is_err() {
            break;
        }
        schedule.push(t);
    }
    let cursor = data.first().map_or(0, |&b| b as usize % (schedule.len() + 1));
    let link = Link::new(sc, schedule, cursor);
    let fragment = link.encode();
    let back = Link::decode(&fragment).unwrap_or_else(|e| panic!("encoded link does not decode: {e}"));
    assert_eq!(back, link, "decode(encode(x)) != x");
});
