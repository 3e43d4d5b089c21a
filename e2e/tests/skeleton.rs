//! The walking skeleton, end to end: the release binary serves the embedded frontend, the
//! default scenario (mprotect(PROT_READ) of a private anonymous VMA) steps forward until the
//! PTE loses RW, and Back undoes it exactly.
//!
//! DOM contract (implemented by the frontend):
//! - `<body data-ready="1">` once the app is mounted;
//! - `button#step`, `button#back`;
//! - PTE rows `[data-pte-index="N"]` holding `.hex` (raw value, `0x` + 16 hex digits) and bit
//!   chips `[data-bit="RW"]` etc. with `data-on="true"|"false"`.

use e2e::{bail, dist_dir, ensure_eq, workspace_root, App, Result, Server, DEFAULT_TIMEOUT};

const READY: &str = "body[data-ready=\"1\"]";
const STEP: &str = "button#step";
const BACK: &str = "button#back";
const PTE0_HEX: &str = "[data-pte-index=\"0\"] .hex";
const PTE0_RW: &str = "[data-pte-index=\"0\"] [data-bit=\"RW\"]";

/// PTE 0 of the default scenario before mprotect: P RW U A D, pfn 0x12345, NX.
const PTE_WRITABLE: &str = "0x8000000012345867";
/// The same PTE after mprotect(PROT_READ): RW cleared, everything else kept.
const PTE_READONLY: &str = "0x8000000012345865";
const MAX_STEPS: usize = 40;

async fn rw_on(app: &App) -> Result<Option<String>> {
    app.attr(PTE0_RW, "data-on").await
}

async fn mprotect_steps(app: &App) -> Result<()> {
    app.goto("/").await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;

    ensure_eq!(
        app.text(PTE0_HEX).await?,
        PTE_WRITABLE,
        "PTE 0 before any step"
    );
    ensure_eq!(
        rw_on(app).await?.as_deref(),
        Some("true"),
        "RW chip of PTE 0 before any step"
    );

    // Step until mprotect has rewritten PTE 0 without RW.
    let mut k = None;
    for step in 1..=MAX_STEPS {
        app.click(STEP).await?;
        if app.text(PTE0_HEX).await? == PTE_READONLY {
            k = Some(step);
            break;
        }
    }
    let Some(k) = k else {
        bail!(
            "PTE 0 never became {PTE_READONLY} within {MAX_STEPS} steps (now {})",
            app.text(PTE0_HEX).await?
        );
    };
    bug_toolbar_wraps_at_1280(app).await?;
    app.screenshot(workspace_root().join("docs/screenshot-main.png"))
        .await?;
    ensure_eq!(
        rw_on(app).await?.as_deref(),
        Some("false"),
        "RW chip of PTE 0 after step {k} (hex {PTE_READONLY})"
    );

    // One step back: no longer the read-only value (mprotect may show the cleared PTE of
    // ptep_modify_prot_start here).
    app.click(BACK).await?;
    let hex = app.text(PTE0_HEX).await?;
    if hex == PTE_READONLY {
        bail!("after one Back from step {k}, PTE 0 is still {PTE_READONLY}");
    }

    // Undo the remaining k - 1 steps: back at the initial state.
    for _ in 1..k {
        app.click(BACK).await?;
    }
    ensure_eq!(
        app.text(PTE0_HEX).await?,
        PTE_WRITABLE,
        "PTE 0 after undoing all {k} steps"
    );
    ensure_eq!(
        rw_on(app).await?.as_deref(),
        Some("true"),
        "RW chip of PTE 0 after undoing all {k} steps"
    );
    Ok(())
}

/// Regression: with Explore, Library, Author and Export added, the toolbar wrapped to two lines
/// at 1280 px (the talk resolution), pushing the panels down. Every toolbar control must sit
/// on the first control's line.
async fn bug_toolbar_wraps_at_1280(app: &App) -> Result<()> {
    let lines = app
        .js(
            "const tops = [...document.querySelectorAll('.toolbar > *')] \
               .filter(e => e.getClientRects().length > 0) \
               .map(e => Math.round(e.getBoundingClientRect().top)); \
             return [window.innerWidth, tops.length, Math.max(...tops) - Math.min(...tops)];",
        )
        .await?;
    let (width, controls, spread) = (lines[0].as_f64(), lines[1].as_f64(), lines[2].as_f64());
    if width > Some(1280.0) || controls < Some(8.0) {
        bail!("unexpected toolbar probe {lines} (viewport width, controls, vertical spread)");
    }
    if spread > Some(12.0) {
        bail!("the toolbar wraps at 1280 px: its controls' tops differ by {spread:?} px");
    }
    Ok(())
}

#[tokio::test]
async fn mprotect_read_only_clears_rw_and_back_restores_it() -> Result<()> {
    let app = App::start().await?;
    let result = mprotect_steps(&app).await;
    app.finish("mprotect_read_only_clears_rw_and_back_restores_it", result)
        .await
}

/// The release binary must serve exactly the `dist/` it was built from (rust-embed can go
/// stale on incremental builds), with MIME types the browser needs.
#[test]
fn embedded_frontend_matches_dist() -> Result<()> {
    let dist = dist_dir()?;
    let server = Server::start(&[])?;

    let index = server.get("/")?;
    ensure_eq!(index.status, 200, "GET /");
    let ctype = index.header("content-type").unwrap_or_default();
    if !ctype.starts_with("text/html") {
        bail!("GET / has content-type {ctype:?}, expected text/html");
    }

    let mut checked = 0;
    for entry in std::fs::read_dir(&dist)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let on_disk = std::fs::read(entry.path())?;
        let served = server.get(&format!("/{name}"))?;
        ensure_eq!(served.status, 200, "GET /{name}");
        if served.body != on_disk {
            bail!(
                "GET /{name} serves {} bytes that differ from {} ({} bytes): is the embedded \
                 frontend stale?",
                served.body.len(),
                entry.path().display(),
                on_disk.len()
            );
        }
        let ctype = served.header("content-type").unwrap_or_default();
        let want = match name.rsplit('.').next() {
            Some("wasm") => Some("application/wasm"),
            Some("js") => Some("javascript"),
            Some("css") => Some("text/css"),
            _ => None,
        };
        if let Some(want) = want {
            if !ctype.contains(want) {
                bail!("GET /{name} has content-type {ctype:?}, expected {want}");
            }
        }
        checked += 1;
    }
    if checked == 0 {
        bail!(
            "{} holds no files: run `cargo xtask build-frontend`",
            dist.display()
        );
    }
    Ok(())
}
