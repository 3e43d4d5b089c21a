//! Building the web app and the server: both app bundles and the on-demand wasm modules
//! into `dist/` (cargo, wasm-bindgen as a library, wasm-opt), `size`, `dist` and `serve`.

use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wasm_bindgen_cli_support::Bindgen;

use crate::tools::{
    copy_dir_contents, exec, gzip_size, human_bytes, replace_dir, run, secs, show, Tools,
    WASM_TARGET,
};
use crate::{Result, Workspace};

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
/// litmus parser and the gallery data) to keep within the wasm budget (400 KB gzipped); the
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

/// wasm-bindgen `input` into `dist/{out_name}.js` + `dist/{out_name}_bg.wasm` (ES module).
pub(crate) fn bindgen(input: &Path, out_name: &str, dev: bool, dist: &Path) -> Result {
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
pub(crate) fn optimize(wasm_opt: &Path, wasm: &Path, args: &[&str]) -> Result {
    let tmp = wasm.with_extension("opt.wasm");
    run(Command::new(wasm_opt)
        .args(args)
        .arg(wasm)
        .arg("-o")
        .arg(&tmp))?;
    fs::rename(&tmp, wasm).map_err(|e| format!("renaming {}: {e}", tmp.display()))
}

impl Workspace {
    /// `cargo xtask size`: the first-load bundle alone, for quick measurements while trimming it
    /// (one cargo build instead of build-frontend's four).
    pub(crate) fn size(&self, names: bool, tools: &Tools) -> Result {
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

    pub(crate) fn build_frontend(&self, dev: bool, tools: &Tools) -> Result {
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

    pub(crate) fn dist(&self) -> Result {
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

    pub(crate) fn build_server(&self) -> Result {
        run(self
            .cargo()
            .args(["build", "--release", "-p", "server", "--features", "embed"]))
    }

    pub(crate) fn serve(&self, args: &[String]) -> Result {
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
}

/// The value of `--addr X` / `--addr=X` among the serve arguments.
pub(crate) fn addr_from_args(args: &[String]) -> Option<String> {
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
}
