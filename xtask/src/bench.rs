//! `cargo xtask bench`: every benchmark, one after the other.

use std::time::Instant;

use crate::tools::{ensure_system_packages, run, secs};
use crate::{Result, Workspace};

impl Workspace {
    /// Every benchmark, one after the other (they share the 2 cores, so never in parallel):
    /// the model natively, then the browser benchmarks against a release build.
    pub(crate) fn bench(&self) -> Result {
        let tools = self.ensure_tools()?;
        let start = Instant::now();
        for example in ["bench_step", "bench_explore", "bench_condition"] {
            eprintln!("\n==> sim-core {example}");
            run(self
                .cargo()
                .args(["run", "--release", "-p", "sim-core", "--example", example]))?;
        }
        eprintln!("\n==> release frontend and server for the browser benchmarks");
        ensure_system_packages()?;
        self.build_frontend(false, &tools)?;
        self.build_server()?;
        eprintln!("\n==> browser benchmarks (cargo bench -p e2e)");
        run(self
            .cargo()
            .args(["bench", "-p", "e2e"])
            .env("MMRACE_BIN", self.server_bin())
            .env("MMRACE_DIST", self.dist_dir()))?;
        println!("xtask bench: done in {}", secs(start.elapsed()));
        Ok(())
    }
}
