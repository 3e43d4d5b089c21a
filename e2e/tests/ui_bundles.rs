//! The two builds of the app (issue 5's wasm budget): the first load fetches only the lean
//! bundle (`mmrace_bg.wasm`, no editor, no library page); "✎ Author" reloads the page into the
//! full bundle (`mmrace_full_bg.wasm`) with the author panel open on the same scenario, schedule
//! and step; `#library` and the header's "Library" open the library page in the full bundle.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test ui_bundles --
//! --test-threads=1` (`cargo xtask test` sets both).

use e2e::{bail, dist_dir, ensure_eq, poll, App, Key, Result, DEFAULT_TIMEOUT};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            bail!($($msg)+);
        }
    };
}

async fn start() -> Result<App> {
    let dist = dist_dir()?;
    let dist = dist.to_string_lossy().into_owned();
    App::start_with_server_args(&["--static-dir", &dist]).await
}

/// The file names of the wasm modules this document fetched.
async fn wasm_loaded(app: &App) -> Result<Vec<String>> {
    let v = app
        .js("return performance.getEntriesByType('resource')
                .map(e => e.name.split('?')[0].split('/').pop())
                .filter(n => n.endsWith('.wasm'));")
        .await?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// What must survive the switch to the full bundle.
async fn snapshot(app: &App) -> Result<Vec<String>> {
    Ok(vec![
        app.cursor().await?.to_string(),
        app.attr(".app", "data-state-hash")
            .await?
            .unwrap_or_default(),
        app.text("#step-count").await?,
        app.find("#scenario")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default(),
        app.find("#schedule")
            .await?
            .prop("value")
            .await?
            .unwrap_or_default(),
    ])
}

async fn bundles(app: &App) -> Result<()> {
    app.open("/").await?;
    ensure_eq!(
        wasm_loaded(app).await?,
        vec!["mmrace_bg.wasm".to_string()],
        "the first load fetches only the lean bundle"
    );
    ensure_eq!(app.count("#editor-text").await?, 0, "no author panel yet");
    // The lean bundle has no library page and no editor in it at all.
    for (text, what) in [
        ("No scenario matches.", "the library page"),
        ("Scenario in the litmus text format", "the editor"),
    ] {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const has = async (f) => new TextDecoder('latin1')
                 .decode(await (await fetch(f)).arrayBuffer()).includes({t});
             Promise.all([has('mmrace_bg.wasm'), has('mmrace_full_bg.wasm')])
                 .then(done, (e) => done(String(e)));",
            t = serde_json::to_string(text).unwrap()
        );
        let got = app.client().execute_async(&script, vec![]).await?;
        ensure_eq!(
            got,
            serde_json::json!([false, true]),
            "{what}'s text in (lean, full)"
        );
    }
    app.pick("seed-mprotect-vs-migration-v6.4.json", None)
        .await?;
    app.blur().await?;
    for _ in 0..3 {
        app.press_key(Key::Right).await?;
    }
    ensure_eq!(app.cursor().await?, 3, "stepped with the keyboard");
    let before = snapshot(app).await?;

    // Author: the page reloads into the full bundle, on the same step.
    app.click("button#author").await?;
    app.wait_for("#editor-text", DEFAULT_TIMEOUT).await?;
    app.wait_for("body[data-ready=\"1\"]", DEFAULT_TIMEOUT)
        .await?;
    app.settle().await?;
    ensure_eq!(
        wasm_loaded(app).await?,
        vec!["mmrace_full_bg.wasm".to_string()],
        "the author panel comes with the full bundle"
    );
    ensure_eq!(
        snapshot(app).await?,
        before,
        "the same scenario, schedule and step"
    );
    let text = app
        .js("return document.getElementById('editor-text').value;")
        .await?;
    ensure!(
        text.as_str()
            .unwrap_or_default()
            .contains("thread \"migrate\""),
        "the editor holds the scenario: {text}"
    );
    ensure_eq!(
        app.attr("button#author", "aria-pressed").await?.as_deref(),
        Some("true"),
        "the author panel is open"
    );
    let search = app.js("return location.search;").await?;
    ensure_eq!(
        search.as_str(),
        Some(""),
        "the request to author is not kept in the address bar"
    );
    // The full bundle steps like the lean one.
    app.blur().await?;
    app.press_key(Key::Right).await?;
    ensure_eq!(app.cursor().await?, 4, "a step in the full bundle");
    app.press_key(Key::Left).await?;
    ensure_eq!(app.cursor().await?, 3, "and back");

    // A reload is a first load again: the lean bundle, same step, panel closed. (The app
    // updates the address bar at most every 200 ms.)
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.js("document.body.removeAttribute('data-ready'); location.reload();")
        .await?;
    app.wait_for("body[data-ready=\"1\"]", DEFAULT_TIMEOUT)
        .await?;
    app.settle().await?;
    ensure_eq!(
        wasm_loaded(app).await?,
        vec!["mmrace_bg.wasm".to_string()],
        "a reload loads the lean bundle"
    );
    ensure_eq!(snapshot(app).await?, before, "the link survived the reload");
    ensure_eq!(
        app.count("#editor-text").await?,
        0,
        "the author panel is closed"
    );

    // The header's Library button, then Back to the stepper.
    app.click("button#open-library").await?;
    app.wait_for("#library .card", DEFAULT_TIMEOUT).await?;
    ensure_eq!(
        wasm_loaded(app).await?,
        vec!["mmrace_full_bg.wasm".to_string()],
        "the library page comes with the full bundle"
    );
    app.client().back().await?;
    poll("the stepper after Back", DEFAULT_TIMEOUT, async || {
        Ok(app.count("#library").await? == 0 && app.count("#step-count").await? == 1)
    })
    .await?;
    ensure_eq!(
        snapshot(app).await?,
        before,
        "Back returns to the same step"
    );

    // `#library` opened directly.
    app.goto("/#library").await?;
    app.wait_for("#library .card", DEFAULT_TIMEOUT).await?;
    ensure!(
        app.count("#library .card").await? > 10,
        "the library lists the scenarios"
    );
    Ok(())
}

#[tokio::test]
async fn first_load_is_lean_and_author_and_library_load_the_full_bundle() -> Result<()> {
    let app = start().await?;
    let result = bundles(&app).await;
    app.finish(
        "first_load_is_lean_and_author_and_library_load_the_full_bundle",
        result,
    )
    .await
}
