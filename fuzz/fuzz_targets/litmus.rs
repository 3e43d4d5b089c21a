//! The litmus text form: parsing never panics, and what parses prints back to text that
//! parses to the same scenario (`parse(print(x)) == x`); a parsed scenario validates or is
//! refused with an error, within a replay budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::litmus;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sc) = litmus::parse(text) else {
        return;
    };
    let printed = litmus::print(&sc);
    let again = litmus::parse(&printed)
        .unwrap_or_else(|e| panic!("printed litmus does not parse: {e}\n{printed}"));
    assert_eq!(again, sc, "parse(print(x)) != x\n{printed}");
    let _ = mmrace_fuzz::build_bounded(&sc);
});
