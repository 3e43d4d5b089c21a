//! `cargo xtask test`: every check, in order, stopping at the first failure.

use std::time::{Duration, Instant};

use crate::tools::{ensure_system_packages, on_path, run, secs, WASM_TARGET};
use crate::{Result, Workspace};

/// One step of `cargo xtask test`.
type Step<'a> = Box<dyn Fn() -> Result + 'a>;

impl Workspace {
    pub(crate) fn test(&self) -> Result {
        let tools = self.ensure_tools()?;
        ensure_system_packages()?;
        let dist = self.dist_dir();
        let bin = self.server_bin();
        let runner = self.target.join("release").join("wasm-bindgen-test-runner");

        let steps: Vec<(&str, Step<'_>)> = vec![
            (
                "rustfmt",
                Box::new(|| run(self.cargo().args(["fmt", "--all", "--", "--check"]))),
            ),
            (
                "clippy (native)",
                Box::new(|| {
                    run(self.cargo().args([
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]))
                }),
            ),
            (
                "clippy (wasm32: frontend, sim-core, explore-worker, export-wasm)",
                Box::new(|| {
                    run(self.cargo().args([
                        "clippy",
                        "-p",
                        "frontend",
                        "-p",
                        "sim-core",
                        "-p",
                        "explore-worker",
                        "-p",
                        "export-wasm",
                        "--target",
                        WASM_TARGET,
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]))
                }),
            ),
            (
                // The full bundle (the author panel and the library page are wasm-only).
                "clippy (wasm32: frontend --features authoring)",
                Box::new(|| {
                    run(self.cargo().args([
                        "clippy",
                        "-p",
                        "frontend",
                        "--features",
                        "authoring",
                        "--target",
                        WASM_TARGET,
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]))
                }),
            ),
            (
                "tests (native)",
                Box::new(|| {
                    // e2e needs the release binary (last step). wasm-test-runner has no tests
                    // and is built in release by the next step; building it in debug here too
                    // would only add a minute of cold compile.
                    // The server's store tests start a throwaway PostgreSQL; this makes a
                    // missing PostgreSQL a failure rather than a skip.
                    run(self
                        .cargo()
                        .args([
                            "test",
                            "--workspace",
                            "--exclude",
                            "e2e",
                            "--exclude",
                            "wasm-test-runner",
                        ])
                        .env("MMRACE_REQUIRE_POSTGRES", "1"))
                }),
            ),
            (
                "tests (wasm32, sim-core under Node)",
                Box::new(|| {
                    if on_path("node").is_none() {
                        return Err("node is not on PATH; the wasm tests run under Node.js \
                                    (install Node 20)"
                            .into());
                    }
                    // Build the runner once, then point cargo straight at it (the runner line in
                    // .cargo/config.toml would go through `cargo run` for every test binary).
                    run(self
                        .cargo()
                        .args(["build", "--release", "-p", "wasm-test-runner"]))?;
                    run(self
                        .cargo()
                        .args(["test", "-p", "sim-core", "--target", WASM_TARGET])
                        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner))
                }),
            ),
            (
                "build-frontend (release)",
                Box::new(|| self.build_frontend(false, &tools)),
            ),
            ("server (release, embed)", Box::new(|| self.build_server())),
            (
                "browser e2e",
                Box::new(|| {
                    run(self
                        .cargo()
                        .args(["test", "-p", "e2e", "--", "--test-threads=1"])
                        .env("MMRACE_BIN", &bin)
                        .env("MMRACE_DIST", &dist))
                }),
            ),
        ];

        let total = steps.len();
        let start = Instant::now();
        let mut done: Vec<(&str, Duration)> = Vec::new();
        for (i, (name, step)) in steps.into_iter().enumerate() {
            eprintln!("\n==> [{}/{total}] {name}", i + 1);
            let t = Instant::now();
            let outcome = step();
            let took = t.elapsed();
            match outcome {
                Ok(()) => {
                    println!("xtask test: ok     {name} ({})", secs(took));
                    done.push((name, took));
                }
                Err(e) => {
                    print_summary(&done);
                    println!("  FAILED {name:<38} {:>8}", secs(took));
                    return Err(format!(
                        "test step {}/{total} `{name}` failed after {}: {e}",
                        i + 1,
                        secs(took)
                    ));
                }
            }
        }
        print_summary(&done);
        println!(
            "xtask test: all {total} steps passed in {}",
            secs(start.elapsed())
        );
        Ok(())
    }
}

pub(crate) fn print_summary(done: &[(&str, Duration)]) {
    println!("\nxtask test summary:");
    for (name, took) in done {
        println!("  ok     {name:<38} {:>8}", secs(*took));
    }
}
