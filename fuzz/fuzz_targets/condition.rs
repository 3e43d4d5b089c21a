//! The condition language: parsing never panics, and the canonical printer's text parses to
//! the same condition (`parse(print(x)) == x`) and is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::condition::Condition;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Condition::parse(text) else {
        return;
    };
    let printed = c.to_string();
    let again = Condition::parse(&printed)
        .unwrap_or_else(|e| panic!("printed condition does not parse: {e}\n{printed}"));
    assert_eq!(again, c, "parse(print(x)) != x\n{printed}");
    assert_eq!(again.to_string(), printed, "printing is not a fixed point");
    // Compiling against thread names never panics either.
    let _ = c.compile(&["a".to_owned(), "b".to_owned(), "mprotect".to_owned()]);
});
