//! `wasm-bindgen-test-runner`, built from this workspace.
//!
//! `cargo test --target wasm32-unknown-unknown` runs every test binary through the runner
//! configured in `.cargo/config.toml`. Building the runner from the pinned
//! `wasm-bindgen-cli` crate guarantees it matches the `wasm-bindgen` library version exactly,
//! with no binary download. Tests run under Node.js (see `wasm-bindgen-test` for the
//! browser modes, which are not used here).

use std::process::ExitCode;

fn main() -> ExitCode {
    match wasm_bindgen_cli::wasm_bindgen_test_runner::run_cli_with_args(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wasm-bindgen-test-runner: error: {err:?}");
            ExitCode::FAILURE
        }
    }
}
