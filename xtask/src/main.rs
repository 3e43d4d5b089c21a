//! `cargo xtask <command>`: build, run and test automation for mmrace.
//!
//! Plain std plus `wasm-bindgen-cli-support` (the JS glue generator, used as a library so that
//! it always matches the pinned `wasm-bindgen` version and needs no download). Run
//! `cargo xtask help` for the commands.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use wasm_bindgen_cli_support::Bindgen;

mod fuzz;

type Result<T = (), E = String> = std::result::Result<T, E>;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Pinned in package.json / package-lock.json; Debian's binaryen is too old for wasm-bindgen
/// output.
const BINARYEN_VERSION: &str = "132.0.0";
/// The name of the generated JS module and wasm file (`mmrace.js`, `mmrace_bg.wasm`).
const OUT_NAME: &str = "mmrace";
/// The same for the full bundle (see [`APP_BUNDLES`]).
const FULL_OUT_NAME: &str = "mmrace_full";

/// One build of the web app (the `frontend` crate) into `dist/` as `<out_name>.js` and
/// `<out_name>_bg.wasm`; `boot.js` chooses which one a page loads.
struct AppBundle {
    out_name: &'static str,
    /// Cargo features of the `frontend` crate.
    features: Option<&'static str>,
    what: &'static str,
}

/// The first-load bundle leaves out the author panel and the library page (their code, the
/// litmus parser and the gallery data) to keep within the wasm budget (300 KB gzipped); the
/// full bundle is loaded for `#library` and `?author` (frontend/static/boot.js).
const APP_BUNDLES: &[AppBundle] = &[
    AppBundle {
        out_name: OUT_NAME,
        features: None,
        what: "the app, first load",
    },
    AppBundle {
        out_name: FULL_OUT_NAME,
        features: Some("authoring"),
        what: "the app with the author panel and the library page, for #library and ?author",
    },
];

/// What `Workspace::build_app` measured.
struct Built {
    /// The wasm's size before wasm-opt.
    raw_size: u64,
    t_cargo: Duration,
    t_bindgen: Duration,
    t_opt: Option<Duration>,
}

/// A wasm module built next to the app into `dist/` (its own JS glue `<out_name>.js` and
/// `<out_name>_bg.wasm`), loaded by the app only when needed, so it is not part of the app's
/// first-load payload.
struct ExtraWasm {
    /// The workspace crate (a `cdylib` with wasm-bindgen exports).
    krate: &'static str,
    out_name: &'static str,
    /// The cargo profile of the release build (`--dev` builds use the dev profile).
    profile: &'static str,
    /// The wasm-opt level of the release build.
    opt: &'static str,
}

/// The extra wasm modules (add one here; the build, wasm-bindgen, wasm-opt and the size
/// report follow).
const EXTRA_WASM: &[ExtraWasm] = &[
    // The explorer for the Web Worker (frontend/static/explore-worker.js): built for speed.
    ExtraWasm {
        krate: "explore-worker",
        out_name: "explore_worker",
        profile: "wasm-worker",
        opt: "-O3",
    },
    // Export for slides (frontend/static/export-worker.js): resvg, the embedded font and the
    // GIF encoder, fetched on the first export. Built for speed: it rasterises full frames.
    ExtraWasm {
        krate: "export-wasm",
        out_name: "export_wasm",
        profile: "wasm-worker",
        opt: "-O2",
    },
];

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
// Process helpers

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(' ') {
            s.push_str(&format!(" '{arg}'"));
        } else {
            s.push(' ');
            s.push_str(&arg);
        }
    }
    s
}

/// Run a command with inherited stdout/stderr (stdin closed: nothing may prompt).
fn run(cmd: &mut Command) -> Result {
    let shown = show(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Whether an executable named `name` is on PATH (like `command -v`).
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.2} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Size of `gzip -9 -c FILE`, if gzip is available.
/// wasm-bindgen `input` into `dist/{out_name}.js` + `dist/{out_name}_bg.wasm` (ES module).
fn bindgen(input: &Path, out_name: &str, dev: bool, dist: &Path) -> Result {
    Bindgen::new()
        .input_path(input)
        .out_name(out_name)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e:#}"))?
        .omit_default_module_path(false)
        .typescript(false)
        .debug(dev)
        // DWARF would make a --dev wasm ~10x larger and wasm-bindgen ~4x slower; the name
        // section (function names in panics and profiles) is kept either way.
        .keep_debug(false)
        .generate(dist)
        .map_err(|e| format!("wasm-bindgen on {}: {e:#}", input.display()))
}

/// `wasm-opt ARGS wasm`, in place (through a temporary file next to it).
fn optimize(wasm_opt: &Path, wasm: &Path, args: &[&str]) -> Result {
    let tmp = wasm.with_extension("opt.wasm");
    run(Command::new(wasm_opt)
        .args(args)
        .arg(wasm)
        .arg("-o")
        .arg(&tmp))?;
    fs::rename(&tmp, wasm).map_err(|e| format!("renaming {}: {e}", tmp.display()))
}

fn gzip_size(path: &Path) -> Option<u64> {
    let out = Command::new("gzip")
        .arg("-9")
        .arg("-c")
        .arg(path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

fn copy_dir_contents(from: &Path, to: &Path) -> Result<usize> {
    let mut copied = 0;
    let entries = fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", from.display()))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", src.display()))?;
        if ty.is_dir() {
            fs::create_dir_all(&dst).map_err(|e| format!("creating {}: {e}", dst.display()))?;
            copied += copy_dir_contents(&src, &dst)?;
        } else {
            fs::copy(&src, &dst)
                .map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))?;
            copied += 1;
        }
    }
    Ok(copied)
}

/// Replace `dst` by the folder `src` (same filesystem): remove the old one, rename the new one.
fn replace_dir(src: &Path, dst: &Path) -> Result {
    for attempt in 0..3 {
        if dst.exists() {
            fs::remove_dir_all(dst).map_err(|e| format!("removing {}: {e}", dst.display()))?;
        }
        match fs::rename(src, dst) {
            Ok(()) => return Ok(()),
            // Another build put a new dst in between: try again.
            Err(_) if attempt < 2 && dst.exists() => continue,
            // CARGO_TARGET_DIR on another filesystem: copy instead.
            Err(_) if !dst.exists() => {
                fs::create_dir_all(dst).map_err(|e| format!("creating {}: {e}", dst.display()))?;
                copy_dir_contents(src, dst)?;
                let _ = fs::remove_dir_all(src);
                return Ok(());
            }
            Err(e) => {
                return Err(format!(
                    "moving {} to {}: {e}",
                    src.display(),
                    dst.display()
                ))
            }
        }
    }
    unreachable!("the last attempt returns")
}

// ---------------------------------------------------------------------------------------------
// The workspace

struct Workspace {
    root: PathBuf,
    target: PathBuf,
}

/// One step of `cargo xtask test`.
type Step<'a> = Box<dyn Fn() -> Result + 'a>;

/// What `ensure-tools` found.
struct Tools {
    /// `node_modules/.bin/wasm-opt` when usable.
    wasm_opt: Option<PathBuf>,
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

    // ---- ensure-tools

    fn ensure_tools(&self) -> Result<Tools> {
        self.ensure_wasm_target()?;
        Ok(Tools {
            wasm_opt: self.ensure_binaryen(),
        })
    }

    fn ensure_wasm_target(&self) -> Result {
        let sysroot = Command::new("rustc")
            .args(["--print", "sysroot"])
            .current_dir(&self.root)
            .output()
            .map_err(|e| format!("cannot run rustc: {e}"))?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
            return Ok(());
        }
        eprintln!("xtask: the {WASM_TARGET} target is missing; adding it with rustup");
        run(Command::new("rustup")
            .args(["target", "add", WASM_TARGET])
            .current_dir(&self.root))
        .map_err(|e| format!("{e}: install the target with `rustup target add {WASM_TARGET}`"))
    }

    /// `npm ci` when node_modules/binaryen is missing or not the pinned version. Never fails:
    /// without npm or node the wasm is just not optimised.
    fn ensure_binaryen(&self) -> Option<PathBuf> {
        let pkg = self.root.join("node_modules/binaryen/package.json");
        let pinned = fs::read_to_string(&pkg)
            .map(|s| s.contains(&format!("\"version\": \"{BINARYEN_VERSION}\"")))
            .unwrap_or(false);
        if !pinned {
            if on_path("npm").is_none() {
                eprintln!(
                    "xtask: warning: npm not found; wasm-opt (npm binaryen {BINARYEN_VERSION}) \
                     is not installed and the wasm will not be size-optimised"
                );
                return None;
            }
            let installed = run(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&self.root));
            if let Err(e) = installed {
                eprintln!(
                    "xtask: warning: {e}; continuing without wasm-opt (the wasm will not be \
                     size-optimised)"
                );
                return None;
            }
        }
        let wasm_opt = self.root.join("node_modules/.bin/wasm-opt");
        let works = Command::new(&wasm_opt)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if works {
            Some(wasm_opt)
        } else {
            eprintln!(
                "xtask: warning: {} does not run (is node installed?); the wasm will not be \
                 size-optimised",
                wasm_opt.display()
            );
            None
        }
    }

    // ---- build-frontend / dist / size

    /// `cargo xtask size`: the first-load bundle alone, for quick measurements while trimming it
    /// (one cargo build instead of build-frontend's four).
    fn size(&self, names: bool, tools: &Tools) -> Result {
        let dir = self.target.join("xtask-size");
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let bundle = &APP_BUNDLES[0];
        self.build_app(bundle, false, names, tools, &dir)?;
        let wasm = dir.join(format!("{}_bg.wasm", bundle.out_name));
        let size = fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        let gz = gzip_size(&wasm)
            .map(|n| format!("{n} B"))
            .unwrap_or_else(|| "? (gzip not found)".into());
        println!(
            "{}: {size} B, gzip -9: {gz}{}",
            wasm.display(),
            if names {
                " (with the name section)"
            } else {
                ""
            }
        );
        Ok(())
    }

    fn build_frontend(&self, dev: bool, tools: &Tools) -> Result {
        let t0 = Instant::now();
        // Build into a private staging folder and swap it in at the end, so that dist/ is
        // never half-written (a server with --static-dir dist, or another build, may be
        // reading it).
        let final_dist = self.dist_dir();
        let dist = self
            .target
            .join(format!("xtask-dist-staging-{}", std::process::id()));
        if dist.exists() {
            fs::remove_dir_all(&dist).map_err(|e| format!("clearing {}: {e}", dist.display()))?;
        }
        fs::create_dir_all(&dist).map_err(|e| format!("creating {}: {e}", dist.display()))?;

        let mut built = Vec::new();
        for bundle in APP_BUNDLES {
            built.push(self.build_app(bundle, dev, false, tools, &dist)?);
        }

        let mut extra_times = Vec::new();
        for extra in EXTRA_WASM {
            extra_times.push(self.build_extra_wasm(extra, dev, tools, &dist)?);
        }

        let static_dir = self.root.join("frontend/static");
        if static_dir.is_dir() {
            let n = copy_dir_contents(&static_dir, &dist)?;
            eprintln!("xtask: copied {n} file(s) from frontend/static/");
        } else {
            eprintln!(
                "xtask: warning: {} does not exist; dist/ has no index.html",
                static_dir.display()
            );
        }

        replace_dir(&dist, &final_dist)?;
        let dist = final_dist;
        println!(
            "frontend ({}): {}",
            if dev { "dev" } else { "release" },
            dist.display()
        );
        for (bundle, b) in APP_BUNDLES.iter().zip(&built) {
            let name = bundle.out_name;
            let wasm = dist.join(format!("{name}_bg.wasm"));
            let size = fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
            let gz = gzip_size(&wasm)
                .map(|n| format!("{} ({n} B)", human_bytes(n)))
                .unwrap_or_else(|| "? (gzip not found)".into());
            let js = dist.join(format!("{name}.js"));
            let js_size = fs::metadata(&js).map(|m| m.len()).unwrap_or(0);
            let js_gz = gzip_size(&js)
                .map(human_bytes)
                .unwrap_or_else(|| "?".into());
            println!(
                "  {} ({}):",
                bundle.what,
                bundle.features.unwrap_or("no features")
            );
            if b.t_opt.is_some() {
                println!(
                    "    {name}_bg.wasm  {} ({size} B; {} before wasm-opt), gzip -9: {gz}",
                    human_bytes(size),
                    human_bytes(b.raw_size)
                );
            } else {
                println!(
                    "    {name}_bg.wasm  {} ({size} B), gzip -9: {gz}",
                    human_bytes(size)
                );
            }
            println!(
                "    {name}.js       {}, gzip -9: {js_gz}",
                human_bytes(js_size)
            );
            println!(
                "    time: cargo {}, wasm-bindgen {}, wasm-opt {}",
                secs(b.t_cargo),
                secs(b.t_bindgen),
                b.t_opt.map(secs).unwrap_or_else(|| "-".into()),
            );
        }
        for (extra, took) in EXTRA_WASM.iter().zip(extra_times) {
            let wasm = dist.join(format!("{}_bg.wasm", extra.out_name));
            let size = fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
            let gz = gzip_size(&wasm)
                .map(human_bytes)
                .unwrap_or_else(|| "?".into());
            println!(
                "  {}_bg.wasm  {} ({size} B), gzip -9: {gz} — {}, loaded on demand, not part \
                 of the first load (build {})",
                extra.out_name,
                human_bytes(size),
                extra.krate,
                secs(took)
            );
        }
        println!("  total {}", secs(t0.elapsed()));
        Ok(())
    }

    /// Build one of [`APP_BUNDLES`] into the staging folder `dist`: cargo (the two bundles
    /// differ only in features, so cargo keeps both builds' artifacts apart and each rebuild
    /// is incremental), wasm-bindgen, and (release) wasm-opt -Oz.
    fn build_app(
        &self,
        bundle: &AppBundle,
        dev: bool,
        // Keep the name section through wasm-opt (`size --names`, for twiggy).
        names: bool,
        tools: &Tools,
        dist: &Path,
    ) -> Result<Built> {
        let t0 = Instant::now();
        let mut build = self.cargo();
        build.args(["build", "-p", "frontend", "--target", WASM_TARGET]);
        if let Some(f) = bundle.features {
            build.args(["--features", f]);
        }
        let profile_dir = if dev {
            "debug"
        } else {
            build.args(["--profile", "wasm-release"]);
            "wasm-release"
        };
        run(&mut build)?;
        let t_cargo = t0.elapsed();

        // The same output path for both bundles: wasm-bindgen reads it before the next build.
        let input = self
            .target
            .join(WASM_TARGET)
            .join(profile_dir)
            .join("frontend.wasm");
        let name = bundle.out_name;
        let t1 = Instant::now();
        eprintln!(
            "xtask: wasm-bindgen {} -> {}/{name}.js",
            input.display(),
            dist.display()
        );
        bindgen(&input, name, dev, dist)?;
        let t_bindgen = t1.elapsed();

        let wasm = dist.join(format!("{name}_bg.wasm"));
        let raw_size = fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        let t2 = Instant::now();
        let mut t_opt = None;
        if names {
            // `size --names` also keeps wasm-bindgen's output, to try wasm-opt settings on.
            let pre = dist.join(format!("{name}_bg.pre-opt.wasm"));
            fs::copy(&wasm, &pre).map_err(|e| format!("copying to {}: {e}", pre.display()))?;
        }
        if !dev {
            match &tools.wasm_opt {
                Some(wasm_opt) => {
                    // `--low-memory-unused` (−1.8 KB gzipped): Rust lays the stack out first,
                    // growing down to address 0, so the low 1 KiB is touched only by a stack
                    // about to overflow, which traps just below anyway; binaryen may then fold
                    // constant offsets into loads and stores. The tool-chain sections are of
                    // no use to a browser (−0.2 KB).
                    let mut args = vec![
                        "-Oz",
                        "--low-memory-unused",
                        "--strip-producers",
                        "--strip-target-features",
                    ];
                    args.extend(names.then_some("-g"));
                    optimize(wasm_opt, &wasm, &args)?;
                    t_opt = Some(t2.elapsed());
                }
                None => eprintln!("xtask: warning: wasm-opt unavailable; skipping -Oz"),
            }
        }
        Ok(Built {
            raw_size,
            t_cargo,
            t_bindgen,
            t_opt,
        })
    }

    /// Build one of [`EXTRA_WASM`] into the staging folder `dist`: cargo, wasm-bindgen, and
    /// (release) wasm-opt at the module's level.
    fn build_extra_wasm(
        &self,
        extra: &ExtraWasm,
        dev: bool,
        tools: &Tools,
        dist: &Path,
    ) -> Result<Duration> {
        let t0 = Instant::now();
        let mut build = self.cargo();
        build.args(["build", "-p", extra.krate, "--target", WASM_TARGET]);
        let profile_dir = if dev {
            "debug"
        } else {
            build.args(["--profile", extra.profile]);
            extra.profile
        };
        run(&mut build)?;
        let input = self
            .target
            .join(WASM_TARGET)
            .join(profile_dir)
            .join(format!("{}.wasm", extra.krate.replace('-', "_")));
        bindgen(&input, extra.out_name, dev, dist)?;
        if !dev {
            let wasm = dist.join(format!("{}_bg.wasm", extra.out_name));
            match &tools.wasm_opt {
                Some(wasm_opt) => optimize(wasm_opt, &wasm, &[extra.opt])?,
                None => eprintln!(
                    "xtask: warning: wasm-opt unavailable; skipping {} for {}",
                    extra.opt, extra.krate
                ),
            }
        }
        Ok(t0.elapsed())
    }

    fn dist(&self) -> Result {
        let tools = self.ensure_tools()?;
        self.build_frontend(false, &tools)?;
        println!(
            "dist/ is a self-contained static site (no server needed; links that use the URL \
             fragment work offline). Serve it with any static file server, e.g.\n  \
             python3 -m http.server --directory {} 8000",
            self.dist_dir().display()
        );
        Ok(())
    }

    // ---- serve

    fn build_server(&self) -> Result {
        run(self
            .cargo()
            .args(["build", "--release", "-p", "server", "--features", "embed"]))
    }

    fn serve(&self, args: &[String]) -> Result {
        let tools = self.ensure_tools()?;
        self.build_frontend(false, &tools)?;
        self.build_server()?;

        let addr = addr_from_args(args).or_else(|| env::var("MMRACE_ADDR").ok());
        match addr {
            Some(addr) => {
                let shown = match addr.strip_prefix("0.0.0.0:") {
                    Some(port) => format!("127.0.0.1:{port}"),
                    None => addr,
                };
                println!("xtask: starting mmrace: open http://{shown}/");
            }
            None => println!("xtask: starting mmrace (it prints the URL to open)"),
        }
        let bin = self.server_bin();
        let mut cmd = Command::new(&bin);
        cmd.arg("serve").args(args).current_dir(&self.root);
        eprintln!("$ {}", show(&cmd));
        exec(cmd)
    }

    // ---- test

    fn test(&self) -> Result {
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

impl Workspace {
    // ---- bench

    /// Every benchmark, one after the other (they share the 2 cores, so never in parallel):
    /// the model natively, then the browser benchmarks against a release build.
    fn bench(&self) -> Result {
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

fn print_summary(done: &[(&str, Duration)]) {
    println!("\nxtask test summary:");
    for (name, took) in done {
        println!("  ok     {name:<38} {:>8}", secs(*took));
    }
}

/// The value of `--addr X` / `--addr=X` among the serve arguments.
fn addr_from_args(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--addr" {
            return it.next().cloned();
        }
        if let Some(v) = arg.strip_prefix("--addr=") {
            return Some(v.to_string());
        }
    }
    None
}

/// Replace this process with `cmd` (so Ctrl-C and the exit status go straight to it).
fn exec(mut cmd: Command) -> Result {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(format!("cannot run {}: {err}", show(&cmd)))
}

/// Debian packages the test run needs: a browser and its WebDriver for the e2e tests, and
/// PostgreSQL for the database tests. Installed with apt-get only when missing.
fn ensure_system_packages() -> Result {
    let mut missing = Vec::new();
    if on_path("chromium").is_none() {
        missing.push("chromium");
    }
    if on_path("chromedriver").is_none() {
        missing.push("chromium-driver");
    }
    if !postgres_installed() {
        missing.push("postgresql");
    }
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// `apt-get install` the Debian packages `missing` (as root, or with passwordless sudo).
fn apt_install(missing: &[&str]) -> Result {
    let list = missing.join(" ");
    eprintln!("xtask: installing missing Debian packages: {list}");
    if on_path("apt-get").is_none() {
        return Err(format!(
            "missing {list} and apt-get is not available; install them by hand"
        ));
    }
    let sudo = match effective_uid() {
        Some(0) => None,
        _ if on_path("sudo").is_some() => Some("sudo"),
        _ => {
            return Err(format!(
                "missing {list}; run as root or install them: apt-get install -y {list}"
            ))
        }
    };
    let apt = |args: &[&str]| {
        let mut cmd = match sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.args(["-n", "apt-get"]);
                c
            }
            None => Command::new("apt-get"),
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(missing);
    run(&mut install)
}

fn postgres_installed() -> bool {
    let Ok(versions) = fs::read_dir("/usr/lib/postgresql") else {
        return false;
    };
    versions
        .flatten()
        .any(|v| v.path().join("bin").join(OsStr::new("initdb")).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn addr_from_serve_args() {
        assert_eq!(
            addr_from_args(&strings(&["--db", "x", "--addr", "0.0.0.0:1"])).as_deref(),
            Some("0.0.0.0:1")
        );
        assert_eq!(
            addr_from_args(&strings(&["--addr=127.0.0.1:2"])).as_deref(),
            Some("127.0.0.1:2")
        );
        assert_eq!(addr_from_args(&strings(&["--db", "x"])), None);
    }

    #[test]
    fn replace_dir_swaps_in_the_new_folder() {
        let base = env::temp_dir().join(format!("xtask-selftest-{}", std::process::id()));
        let (src, dst) = (base.join("new"), base.join("dist"));
        fs::create_dir_all(&src).unwrap();
        fs::create_dir_all(&dst).unwrap();
        fs::write(src.join("a"), "new").unwrap();
        fs::write(dst.join("stale"), "old").unwrap();
        replace_dir(&src, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("a")).unwrap(), "new");
        assert!(!dst.join("stale").exists() && !src.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
