//! Scenario JSON (`Scenario::from_json` + `build`): never panics; what parses has a canonical
//! form that parses to the same scenario and is its own canonical form; errors name a path
//! and are short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sim_core::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::from_json(text) {
        Err(e) => mmrace_fuzz::check_error(text, &e.path, &e.message),
        Ok(sc) => {
            let canonical = sc.to_json();
            let again = Scenario::from_json(&canonical)
                .unwrap_or_else(|e| panic!("canonical JSON does not parse: {e}\n{canonical}"));
            assert_eq!(again, sc, "from_json(to_json(x)) != x");
            assert_eq!(again.to_json(), canonical, "canonical form is not stable");
            if let Err(e) = mmrace_fuzz::build_bounded(&sc) {
                mmrace_fuzz::check_error(text, &e.path, &e.message);
            }
        }
    }
});
