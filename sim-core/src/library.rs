//! The scenario library shipped in `assets/scenarios/`, embedded at build time (see
//! `build.rs`). One list for the CLI, the server's `/api/examples`, the frontend's picker and
//! the tests.

include!(concat!(env!("OUT_DIR"), "/library.rs"));

/// Look a shipped scenario up by its path (`"seed-mprotect-vs-migration-v6.4.json"`).
pub fn get(path: &str) -> Option<&'static str> {
    SCENARIOS.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// The scenarios the explorer benchmarks run (`sim-core/examples/bench_explore.rs`,
/// `e2e/benches/explore.rs`): the `seed-*` ones and the `bench/` scaling ones (with `all`,
/// every shipped scenario), whose path contains `filter`, in the library's order.
pub fn bench_set(
    filter: Option<&str>,
    all: bool,
) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    SCENARIOS.iter().copied().filter(move |(p, _)| {
        (all || p.starts_with("seed-") || p.starts_with("bench/"))
            && filter.is_none_or(|f| p.contains(f))
    })
}
