//! "Share": the app uploads the scenario with the schedule on screen and shows the short
//! link, which opens at the same step; without a server it falls back to the self-contained
//! link and says so.

use std::time::Duration;

use e2e::{bail, ensure_eq, poll, App, Result, DEFAULT_TIMEOUT};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            bail!($($msg)+);
        }
    };
}

const READY: &str = "body[data-ready=\"1\"]";

async fn link_note(app: &App) -> Result<String> {
    poll("the link box's note", DEFAULT_TIMEOUT, async || {
        Ok(app
            .text("#link-note")
            .await
            .is_ok_and(|t| !t.contains("Uploading")))
    })
    .await?;
    app.text("#link-note").await
}

/// The link box's URL (the input's `value` property).
async fn link_url(app: &App) -> Result<String> {
    let v = app
        .client()
        .execute(
            "const e = document.getElementById('link-url'); return e ? e.value : '';",
            vec![],
        )
        .await
        .map_err(|e| e2e::Error::msg(format!("reading #link-url: {e}")))?;
    match v.as_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("#link-url: the page returned {v:?}"),
    }
}

async fn share_steps(app: &App) -> Result<()> {
    app.goto("/").await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    for _ in 0..9 {
        app.click("button#step").await?;
    }
    let cursor = app.attr(".app", "data-cursor").await?;
    let title = app.text(".scenario-title").await?;
    app.click("button#share").await?;
    let note = link_note(app).await?;
    ensure!(note.starts_with("Short link"), "note: {note}");
    let url = link_url(app).await?;
    let path = url
        .split_once("127.0.0.1")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .unwrap_or_default();
    ensure!(path.starts_with("/s/"), "short link {url} (path {path})");
    ensure!(path.contains("step=9"), "short link {url} has no step=9");
    // Open it: same scenario, same step.
    app.goto(&path).await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    poll(
        "the stored scenario at step 9",
        DEFAULT_TIMEOUT,
        async || Ok(app.attr(".app", "data-cursor").await? == cursor),
    )
    .await?;
    ensure_eq!(
        app.text(".scenario-title").await?,
        title,
        "the title of the shared scenario"
    );

    // No server to store it: the self-contained link, and a note saying why.
    app.goto("/").await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    app.client()
        .execute(
            "window.fetch = () => Promise.reject(new TypeError('offline')); return true;",
            vec![],
        )
        .await
        .map_err(|e| e2e::Error::msg(format!("execute: {e}")))?;
    app.click("button#step").await?;
    app.click("button#share").await?;
    let note = link_note(app).await?;
    ensure!(note.contains("self-contained link"), "note: {note}");
    ensure!(
        note.contains("no mmrace server is reachable"),
        "note: {note}"
    );
    let url = link_url(app).await?;
    ensure!(url.contains("#v1."), "fallback link {url}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

#[tokio::test]
async fn share_uploads_and_the_short_link_opens_at_the_same_step() -> Result<()> {
    let app = App::start().await?;
    let result = share_steps(&app).await;
    app.finish(
        "share_uploads_and_the_short_link_opens_at_the_same_step",
        result,
    )
    .await
}
