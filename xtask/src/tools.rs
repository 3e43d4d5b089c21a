//! Installing and running what the commands need: the wasm target, npm binaryen (wasm-opt),
//! Debian packages (chromium, chromedriver, PostgreSQL), and the process and file helpers
//! every command uses.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Result, Workspace};

pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Pinned in package.json / package-lock.json; Debian's binaryen is too old for wasm-bindgen
/// output.
const BINARYEN_VERSION: &str = "132.0.0";

/// What `ensure-tools` found.
pub(crate) struct Tools {
    /// `node_modules/.bin/wasm-opt` when usable.
    pub(crate) wasm_opt: Option<PathBuf>,
}

impl Workspace {
    pub(crate) fn ensure_tools(&self) -> Result<Tools> {
        self.ensure_wasm_target()?;
        Ok(Tools {
            wasm_opt: self.ensure_binaryen(),
        })
    }

    pub(crate) fn ensure_wasm_target(&self) -> Result {
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
    pub(crate) fn ensure_binaryen(&self) -> Option<PathBuf> {
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
}

pub(crate) fn show(cmd: &Command) -> String {
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
pub(crate) fn run(cmd: &mut Command) -> Result {
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
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

pub(crate) fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub(crate) fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.2} MiB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Size of `gzip -9 -c FILE`, if gzip is available.
pub(crate) fn gzip_size(path: &Path) -> Option<u64> {
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

pub(crate) fn copy_dir_contents(from: &Path, to: &Path) -> Result<usize> {
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
pub(crate) fn replace_dir(src: &Path, dst: &Path) -> Result {
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

/// Replace this process with `cmd` (so Ctrl-C and the exit status go straight to it).
pub(crate) fn exec(mut cmd: Command) -> Result {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(format!("cannot run {}: {err}", show(&cmd)))
}

/// Debian packages the test run needs: a browser and its WebDriver for the e2e tests, and
/// PostgreSQL for the database tests. Installed with apt-get only when missing.
pub(crate) fn ensure_system_packages() -> Result {
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
pub(crate) fn apt_install(missing: &[&str]) -> Result {
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

pub(crate) fn postgres_installed() -> bool {
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
