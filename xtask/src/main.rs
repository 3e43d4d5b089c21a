//! `cargo xtask <command>`: build, run and test automation for mmrace.
//!
//! Plain std plus `wasm-bindgen-cli-support` (the JS glue generator, used as a library so that
//! it always matches the pinned `wasm-bindgen` version and needs no download). Run
//! `cargo xtask help` for the commands.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod build;
mod fuzz;
mod test;
mod tools;

pub(crate) use tools::{apt_install, run};

type Result<T = (), E = String> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ensure-tools            add the wasm32 target if missing; `npm ci` (binaryen/wasm-opt) if
                          node_modules/binaryen is missing (skipped with a warning without npm)
  build-frontend [--dev]  build the Yew app to wasm twice (first load: mmrace_bg.wasm; with the
                          author panel and library page: mmrace_full_bg.wasm), run wasm-bindgen
                          (and wasm-opt -Oz unless --dev) and copy frontend/static/ into dist/;
                          the same for the extra wasm modules loaded on demand (the explorer's
                          Web Worker, export)
  dist                    the same as build-frontend: dist/ is a self-contained static folder
                          you can serve with any static file server (talks with no network)
  size [--names]          build only the first-load bundle (release) into target/xtask-size/
                          and print its size, raw and gzip -9 (the wasm budget); --names keeps
                          the function names, for `twiggy top target/xtask-size/mmrace_bg.wasm`
  serve [ARGS...]         build everything and run `target/release/mmrace serve ARGS...`
                          (frontend embedded in the binary), e.g. --addr 127.0.0.1:8080
  test                    the full check: rustfmt, clippy, native and wasm tests, release build,
                          browser end-to-end tests (installs chromium, chromium-driver and
                          postgresql with apt-get if missing). `.ci/run` runs exactly this.
  bench                   all benchmarks: sim-core's bench_step and bench_explore, then a release
                          frontend + server and the browser benchmarks (`cargo bench -p e2e`)
  fuzz [OPTIONS]          the fuzz targets in fuzz/ (cargo-fuzz, installed if missing), each
                          for 10 million inputs or an hour, two at a time, under nice; then
                          schemathesis against /api/openapi.json (pinned, in a virtualenv);
                          `cargo xtask fuzz --help` for the options (--smoke: 60 s each)
  help                    this text";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => ("help", &[][..]),
    };
    let ws = Workspace::locate();
    let result = match cmd {
        "ensure-tools" => no_args(cmd, rest).and_then(|()| ws.ensure_tools().map(drop)),
        "build-frontend" => {
            let dev = match rest {
                [] => Ok(false),
                [flag] if flag == "--dev" => Ok(true),
                _ => Err(format!(
                    "build-frontend takes only --dev, got {}",
                    rest.join(" ")
                )),
            };
            dev.and_then(|dev| {
                let tools = ws.ensure_tools()?;
                ws.build_frontend(dev, &tools)
            })
        }
        "dist" => no_args(cmd, rest).and_then(|()| ws.dist()),
        "size" => {
            let names = match rest {
                [] => Ok(false),
                [flag] if flag == "--names" => Ok(true),
                _ => Err(format!("size takes only --names, got {}", rest.join(" "))),
            };
            names.and_then(|names| {
                let tools = ws.ensure_tools()?;
                ws.size(names, &tools)
            })
        }
        "serve" => ws.serve(rest),
        "test" => no_args(cmd, rest).and_then(|()| ws.test()),
        "bench" => no_args(cmd, rest).and_then(|()| ws.bench()),
        "fuzz" => fuzz::main(&ws, rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn no_args(cmd: &str, rest: &[String]) -> Result {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd}` takes no arguments, got {}",
            rest.join(" ")
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The workspace

struct Workspace {
    root: PathBuf,
    target: PathBuf,
}

impl Workspace {
    fn locate() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask/ lives in the workspace root")
            .to_path_buf();
        let target = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        Workspace { root, target }
    }

    fn cargo(&self) -> Command {
        let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.root);
        cmd
    }

    fn dist_dir(&self) -> PathBuf {
        self.root.join("dist")
    }

    fn server_bin(&self) -> PathBuf {
        self.target.join("release").join("mmrace")
    }
}
