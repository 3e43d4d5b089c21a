//! Export from the UI: the dialog's pictures (made in the browser by the export-wasm worker)
//! are byte for byte the files `mmrace export` writes for the same link — a PNG of the step
//! on screen, an animated GIF of a range, and a range of SVGs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{bail, ensure_eq, poll, App, Result, TempDir, DEFAULT_TIMEOUT};
use serde_json::Value;

/// The first export fetches and compiles the exporter's wasm; rasterising a range of frames
/// in wasm on a busy two-core machine takes a while too.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(180);

fn seed_link(cursor: usize) -> String {
    let text = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
    let sc = sim_core::Scenario::from_json(text).unwrap();
    let steps = sc.schedules[0].resolve(&sc.build().unwrap()).unwrap();
    sim_core::link::Link::new(sc, steps, cursor).encode()
}

fn b64_decode(s: &str) -> Result<Vec<u8>> {
    let val = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c:?}"),
        })
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Ok(out)
}

/// Set a dialog field the way a user's edit ends: a `change` event.
async fn set_field(app: &App, id: &str, value: &str) -> Result<()> {
    let script = format!(
        "const e = document.getElementById({id:?}); if (!e) return false; e.value = {value:?}; \
         e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true;"
    );
    if app.js(&script).await? != Value::Bool(true) {
        bail!("no #{id} in the export dialog");
    }
    app.settle().await
}

/// Run the dialog's export and return (link used, file names, file bytes).
async fn export_in_browser(app: &App) -> Result<(String, Vec<String>, Vec<Vec<u8>>)> {
    app.js("window.__mmraceExport = undefined;").await?;
    app.click("#export-go").await?;
    poll("the export to finish", EXPORT_TIMEOUT, async || {
        let st = app.attr("#export-status", "data-state").await?;
        match st.as_deref() {
            Some("error") => bail!("export failed: {}", app.text("#export-status").await?),
            Some("done") => Ok(true),
            _ => Ok(false),
        }
    })
    .await?;
    let v = app
        .js("const x = window.__mmraceExport; if (!x) return null; \
             const b64 = (f) => { let s = ''; for (let i = 0; i < f.length; i += 0x8000) \
               s += String.fromCharCode.apply(null, f.subarray(i, i + 0x8000)); return btoa(s); }; \
             return { link: x.link, names: x.names, files: x.files.map(b64) };")
        .await?;
    let Some(link) = v["link"].as_str() else {
        bail!("window.__mmraceExport after the export: {v}");
    };
    let names = v["names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut files = Vec::new();
    for f in v["files"].as_array().into_iter().flatten() {
        files.push(b64_decode(f.as_str().unwrap_or_default())?);
    }
    Ok((link.to_string(), names, files))
}

/// `mmrace export '#<link>' ARGS... --out DIR/`; the files it lists, read back.
fn export_with_cli(dir: &Path, link: &str, args: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
    let bin = std::env::var("MMRACE_BIN").map_err(|_| e2e::Error::msg("MMRACE_BIN is not set"))?;
    let out_dir = dir.join(format!("cli-{}", args.join("_").replace(['.', ' '], "-")));
    std::fs::create_dir_all(&out_dir)?;
    let out = Command::new(bin)
        .arg("export")
        .arg(format!("#{link}"))
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "mmrace export {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut files = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = Path::new(line)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        files.push((name, std::fs::read(line)?));
    }
    Ok(files)
}

async fn exports_match_the_cli(app: &App) -> Result<()> {
    let tmp = TempDir::new("mmrace-e2e-export")?;
    app.open(&format!("/#{}", seed_link(18))).await?;
    ensure_eq!(app.cursor().await?, 18, "the link's step");
    // Nothing of the exporter is loaded before the user asks for it.
    let fetched = app
        .js("return performance.getEntriesByType('resource').some(e => e.name.includes('export_wasm'));")
        .await?;
    ensure_eq!(
        fetched,
        Value::Bool(false),
        "export_wasm fetched before Export"
    );
    app.click("#export-button").await?;
    app.wait_for("#export-dialog", DEFAULT_TIMEOUT).await?;

    // 1. This step as PNG (the dialog's default).
    let (link, names, files) = export_in_browser(app).await?;
    ensure_eq!(
        names,
        vec!["mmrace-step-18.png".to_string()],
        "PNG file names"
    );
    let cli = export_with_cli(tmp.path(), &link, &["--format", "png"])?;
    ensure_eq!(cli.len(), 1, "CLI PNG files");
    if files[0] != cli[0].1 {
        bail!(
            "the browser's PNG ({} bytes) differs from the CLI's ({} bytes)",
            files[0].len(),
            cli[0].1.len()
        );
    }
    if !files[0].starts_with(b"\x89PNG") {
        bail!("not a PNG");
    }

    // 2. A range as an animated GIF.
    set_field(app, "export-mode", "range-gif").await?;
    set_field(app, "export-from", "16").await?;
    set_field(app, "export-to", "19").await?;
    set_field(app, "export-delay", "500").await?;
    let (link, names, files) = export_in_browser(app).await?;
    ensure_eq!(
        names,
        vec!["mmrace-steps-16-19.gif".to_string()],
        "GIF file names"
    );
    let cli = export_with_cli(
        tmp.path(),
        &link,
        &["--format", "gif", "--steps", "16..19", "--delay-ms", "500"],
    )?;
    if files.len() != 1 || files[0] != cli[0].1 {
        bail!(
            "the browser's GIF ({} bytes) differs from the CLI's ({} bytes)",
            files.first().map_or(0, Vec::len),
            cli[0].1.len()
        );
    }

    // 3. A range of SVGs: one file per step, the same text.
    set_field(app, "export-mode", "range-svg").await?;
    set_field(app, "export-from", "17").await?;
    set_field(app, "export-to", "18").await?;
    let (link, names, files) = export_in_browser(app).await?;
    ensure_eq!(
        names,
        vec![
            "mmrace-step-17.svg".to_string(),
            "mmrace-step-18.svg".to_string()
        ],
        "SVG file names"
    );
    let cli = export_with_cli(tmp.path(), &link, &["--format", "svg", "--steps", "17..18"])?;
    ensure_eq!(cli.len(), 2, "CLI SVG files");
    for (i, (name, bytes)) in cli.iter().enumerate() {
        if files[i] != *bytes {
            bail!(
                "the browser's SVG {} differs from the CLI's {name}",
                names[i]
            );
        }
    }
    let text = String::from_utf8_lossy(&files[1]);
    if !text.contains("0x8000000023456867") {
        bail!("step 18's SVG lacks the restored PTE");
    }

    // 4. Bad input is refused in the dialog, naming the field.
    set_field(app, "export-to", "99").await?;
    app.click("#export-go").await?;
    poll("the error", DEFAULT_TIMEOUT, async || {
        Ok(app.attr("#export-status", "data-state").await?.as_deref() == Some("error"))
    })
    .await?;
    let msg = app.text("#export-status").await?;
    if !msg.starts_with("steps 17..99") {
        bail!("error message: {msg}");
    }
    Ok(())
}

#[tokio::test]
async fn export_in_the_browser_gives_the_cli_bytes() -> Result<()> {
    let app = App::start().await?;
    let result = exports_match_the_cli(&app).await;
    app.finish("export_in_the_browser_gives_the_cli_bytes", result)
        .await
}

/// Copy `from` into `to` (one level: `dist/` has no subfolders).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// bug_export_does_nothing_when_the_dialog_fails_to_load: with `export-dialog.js` missing
/// from the static folder, Export says so; once the file is back, the next click opens the
/// dialog (the retry asks for a fresh URL).
async fn export_load_failure_is_reported_and_retried(app: &App, dir: &Path) -> Result<()> {
    let dialog = e2e::dist_dir()?.join("export-dialog.js");
    app.open("/").await?;
    app.click("#export-button").await?;
    app.wait_for("#export-error", DEFAULT_TIMEOUT).await?;
    ensure_eq!(
        app.count("#export-dialog").await?,
        0,
        "dialogs without the script"
    );
    std::fs::copy(&dialog, dir.join("export-dialog.js"))?;
    app.click("#export-button").await?;
    app.wait_for("#export-dialog", DEFAULT_TIMEOUT).await?;
    ensure_eq!(
        app.count("#export-error").await?,
        0,
        "error after the retry"
    );
    Ok(())
}

#[tokio::test]
async fn export_reports_a_dialog_that_fails_to_load_and_retries() -> Result<()> {
    let dir = TempDir::new("mmrace-e2e-dist-no-dialog")?;
    copy_dir(&e2e::dist_dir()?, dir.path())?;
    std::fs::remove_file(dir.path().join("export-dialog.js"))?;
    let static_dir = dir.path().to_string_lossy().into_owned();
    let app = App::start_with_server_args(&["--static-dir", &static_dir]).await?;
    let result = export_load_failure_is_reported_and_retried(&app, dir.path()).await;
    app.finish(
        "export_reports_a_dialog_that_fails_to_load_and_retries",
        result,
    )
    .await
}
