//! Links in a real browser: the address bar always holds the link of what is on screen
//! (without flooding the history); "Copy link" → the link opened in a fresh browser (and a
//! fresh server) shows the same step and state; a malformed or unsupported link shows a
//! clear message and the app still works; the embed view is read-only with an "open in
//! mmrace" link.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test ui_links --
//! --test-threads=1`.

use e2e::{bail, ensure_eq, App, Result, DEFAULT_TIMEOUT};

/// The address bar's fragment, once it has caught up with the screen (the app updates it at
/// most every 200 ms, so that stepping stays fast).
async fn hash(app: &App) -> Result<String> {
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    Ok(app
        .js("return location.hash;")
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Everything that must be identical after opening a link.
async fn snapshot(app: &App) -> Result<Vec<(String, String)>> {
    let mut out = vec![
        ("cursor".to_string(), app.cursor().await?.to_string()),
        (
            "state hash".into(),
            app.attr(".app", "data-state-hash")
                .await?
                .unwrap_or_default(),
        ),
        ("step count".into(), app.text("#step-count").await?),
        ("narration".into(), app.text("#explanation").await?),
        (
            "scenario".into(),
            app.find("#scenario")
                .await?
                .prop("value")
                .await?
                .unwrap_or_default(),
        ),
        (
            "schedule".into(),
            app.find("#schedule")
                .await?
                .prop("value")
                .await?
                .unwrap_or_default(),
        ),
    ];
    let hexes = app.js("return Array.from(document.querySelectorAll('.pte-table .hex, .pmd .hex')).map(e => e.textContent).join(' ');")
    .await?;
    out.push(("entries".into(), hexes.as_str().unwrap_or_default().into()));
    let statuses = app.js("return Array.from(document.querySelectorAll('[data-thread]')).map(e => e.dataset.status).join(' ');")
    .await?;
    out.push((
        "threads".into(),
        statuses.as_str().unwrap_or_default().into(),
    ));
    Ok(out)
}

async fn copy_and_open(first: &App) -> Result<String> {
    first.open("/").await?;
    let h0 = hash(first).await?;
    if !h0.starts_with("#v1.") {
        bail!("the address bar does not hold a link at start: {h0:?}");
    }
    let history0 = first.js("return history.length;").await?;
    first
        .pick(
            "seed-mprotect-vs-migration-v6.4.json",
            Some("restore-after-walk"),
        )
        .await?;
    for _ in 0..5 {
        first.click("button#step").await?;
    }
    first.jump(17).await?;
    // No history flooding: replaceState, not pushState.
    ensure_eq!(
        first.js("return history.length;").await?,
        history0,
        "history length after loading a scenario and stepping"
    );
    let h = hash(first).await?;
    if !h.starts_with("#v1.") || h == h0 {
        bail!("the address bar does not follow the state: {h:?}");
    }
    first.click("#copy-link").await?;
    first.settle().await?;
    let url = first
        .find("#link-url")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    let fragment = match url.split_once('#') {
        Some((_, f)) => format!("#{f}"),
        None => bail!("the copied link has no fragment: {url:?}"),
    };
    ensure_eq!(fragment, h, "the copied link is the address bar's link");
    if fragment.len() >= 2000 {
        bail!("the link is {} characters", fragment.len());
    }
    let msg = first.text("#link-box .msg").await?;
    if !msg.contains("copied") && !msg.contains("select the link") {
        bail!("the copy button says {msg:?}");
    }
    Ok(fragment)
}

async fn same_state(first: &App, second: &App, fragment: &str) -> Result<()> {
    let want = snapshot(first).await?;
    second.open(&format!("/{fragment}")).await?;
    ensure_eq!(
        second.count("#link-error").await?,
        0,
        "no link error in the second browser"
    );
    let got = snapshot(second).await?;
    for ((k, a), (_, b)) in want.iter().zip(got.iter()) {
        ensure_eq!(b, a, "{k} after opening the link");
    }
    // The restored app keeps working: Back and Step.
    second.click("button#back").await?;
    ensure_eq!(second.cursor().await?, 16, "Back after opening the link");
    second.click("button#step").await?;
    ensure_eq!(
        second.attr(".app", "data-state-hash").await?,
        first.attr(".app", "data-state-hash").await?,
        "state after Back + Step"
    );
    Ok(())
}

#[tokio::test]
async fn copied_link_opens_the_same_step_in_a_fresh_browser() -> Result<()> {
    let first = App::start_dist().await?;
    let r = copy_and_open(&first).await;
    let fragment = match r {
        Ok(f) => f,
        Err(e) => return first.finish("copied_link_first_browser", Err(e)).await,
    };
    let second = match App::start_dist().await {
        Ok(s) => s,
        Err(e) => return first.finish("copied_link_first_browser", Err(e)).await,
    };
    let r = same_state(&first, &second, &fragment).await;
    let r2 = second
        .finish("copied_link_opens_the_same_step_in_a_fresh_browser", r)
        .await;
    first.finish("copied_link_first_browser", Ok(())).await?;
    r2
}

async fn malformed(app: &App) -> Result<()> {
    for (case, (bad, want)) in [
        ("#v1.@@not-base64@@", "base64url"),
        ("#v1.bogus", "cut short"),
        ("#v9.AAAA", "format v9"),
        ("#v1.AAAA", "does not decompress"),
        ("#hello", "not an mmrace link"),
    ]
    .into_iter()
    .enumerate()
    {
        // A different query each time: a fragment-only change would not reload the page.
        app.open(&format!("/?case={case}{bad}")).await?;
        let msg = app.text("#link-error").await?;
        if !msg.contains("could not be opened") || !msg.contains(want) {
            bail!("opening {bad:?} says {msg:?}, expected it to mention {want:?}");
        }
        // The default scenario works.
        ensure_eq!(
            app.find("#scenario").await?.prop("value").await?.as_deref(),
            Some("mprotect-basic.json"),
            "scenario after {bad:?}"
        );
        ensure_eq!(
            app.text("[data-pte-index=\"0\"] .hex").await?,
            "0x8000000012345867",
            "PTE 0 of the default scenario"
        );
        app.click("button#step").await?;
        ensure_eq!(app.cursor().await?, 1, "stepping after {bad:?}");
        // The address bar holds the link of what is on screen, not the bad one.
        let h = hash(app).await?;
        if !h.starts_with("#v1.") || h == bad {
            bail!("after {bad:?} the address bar holds {h:?}");
        }
        app.click("#link-error .dismiss").await?;
        ensure_eq!(app.count("#link-error").await?, 0, "dismissed");
    }
    // A bad link pasted into the address bar of a running app: a message, and what is on
    // screen stays (the address bar gets its link back).
    let before = hash(app).await?;
    let c = app.cursor().await?;
    app.js("location.hash = '#v1.%%%';").await?;
    app.settle().await?;
    e2e::poll(
        "the link error after a hash change",
        DEFAULT_TIMEOUT,
        async || Ok(app.count("#link-error").await? == 1),
    )
    .await?;
    ensure_eq!(app.cursor().await?, c, "cursor after a bad hash change");
    ensure_eq!(
        hash(app).await?,
        before,
        "the address bar after a bad hash change"
    );
    app.click("#link-error .dismiss").await?;
    // The format is plain: the browser's own raw-DEFLATE + base64url reads the app's link ...
    let decoded = app
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const b64 = location.hash.slice('#v1.'.length).replace(/-/g, '+').replace(/_/g, '/');
             const bytes = Uint8Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)), c => c.charCodeAt(0));
             const s = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
             new Response(s).text().then(t => done(JSON.parse(t))).catch(e => done(String(e)));",
            vec![],
        )
        .await?;
    if decoded["cursor"] != 1
        || decoded["schedule"].as_str().is_none()
        || !decoded["scenario"].is_object()
    {
        bail!("the browser decodes the link's payload as {decoded}");
    }
    // ... and writes one: a link whose scenario is invalid names the JSON path inside it.
    let mut payload = decoded.clone();
    payload["scenario"]["cpus"] = serde_json::json!(0);
    payload["cursor"] = serde_json::json!(0);
    payload["schedule"] = serde_json::json!("");
    let fragment = app
        .client()
        .execute_async(
            r"const done = arguments[arguments.length - 1];
             const s = new Blob([JSON.stringify(arguments[0])]).stream().pipeThrough(new CompressionStream('deflate-raw'));
             new Response(s).arrayBuffer().then(buf => {
               let bin = ''; for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
               done('#v1.' + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
             }).catch(e => done(String(e)));",
            vec![payload],
        )
        .await?;
    let fragment = fragment.as_str().unwrap_or_default().to_string();
    app.open(&format!("/{fragment}")).await?;
    let msg = app.text("#link-error").await?;
    if !msg.contains("scenario.cpus") {
        bail!("an invalid scenario in a link says {msg:?}, expected the path scenario.cpus");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_links_show_a_clear_message_and_the_app_works() -> Result<()> {
    let app = App::start_dist().await?;
    let r = malformed(&app).await;
    app.finish("malformed_links_show_a_clear_message_and_the_app_works", r)
        .await
}

async fn embed(app: &App) -> Result<()> {
    app.open("/").await?;
    app.pick(
        "seed-mprotect-vs-migration-v6.4.json",
        Some("mprotect-waits-on-ptl"),
    )
    .await?;
    app.jump(5).await?;
    let h = hash(app).await?;
    let total: usize = app
        .attr(".timeline", "data-steps")
        .await?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    app.open(&format!("/?embed=1{h}")).await?;
    ensure_eq!(app.count(".app.embed").await?, 1, "embed view");
    ensure_eq!(app.cursor().await?, 5, "embed opens at the link's step");
    ensure_eq!(app.count("#scenario").await?, 0, "no scenario picker");
    ensure_eq!(app.count("#copy-link").await?, 0, "no copy button");
    let href = app.attr("#open-full", "href").await?.unwrap_or_default();
    if href.contains("embed") || !href.contains("#v1.") {
        bail!("the open-in-mmrace link is {href:?}");
    }
    ensure_eq!(
        app.attr("#open-full", "target").await?.as_deref(),
        Some("_blank"),
        "opens in a new tab"
    );
    // Read-only: steps follow the schedule; off-schedule thread clicks are refused.
    app.click("button#step").await?;
    ensure_eq!(app.cursor().await?, 6, "step in the embed view");
    // Find a runnable thread that is not the schedule's next one and click it.
    let off = app
        .js(
            "const ts = Array.from(document.querySelectorAll('[data-thread]'));
         const t = ts.find(t => t.dataset.status === 'runnable' && !t.querySelector('.next-badge'));
         return t ? t.dataset.thread : null;",
        )
        .await?;
    if let Some(t) = off.as_str() {
        app.click(&format!("[data-thread=\"{t}\"] .thread-head"))
            .await?;
        ensure_eq!(
            app.cursor().await?,
            6,
            "off-schedule click in the embed view"
        );
        let notice = app.text("#notice").await?;
        if !notice.contains("Read-only") {
            bail!("the embed view does not explain why: {notice:?}");
        }
    }
    app.click("button#end").await?;
    ensure_eq!(app.cursor().await?, total, "End in the embed view");
    ensure_eq!(
        app.find("button#step")
            .await?
            .attr("disabled")
            .await?
            .is_some(),
        true,
        "Step disabled at the end of a read-only schedule"
    );
    Ok(())
}

#[tokio::test]
async fn embed_view_is_read_only_with_an_open_link() -> Result<()> {
    let app = App::start_dist().await?;
    let r = embed(&app).await;
    app.finish("embed_view_is_read_only_with_an_open_link", r)
        .await
}
