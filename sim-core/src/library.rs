//! The scenario library shipped in `assets/scenarios/`, embedded at build time (see
//! `build.rs`). One list for the CLI, the server's `/api/examples`, the frontend's picker and
//! the tests.

include!(concat!(env!("OUT_DIR"), "/library.rs"));

/// Look a shipped scenario up by its path (`"seed-mprotect-vs-migration-v6.4.json"`).
pub fn get(path: &str) -> Option<&'static str> {
    SCENARIOS.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}
