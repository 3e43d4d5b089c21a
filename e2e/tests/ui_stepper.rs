//! The step-through UI in a real browser: stepping by click and keyboard, Back, the timeline,
//! a blocked thread refusing to step, a violation shown red with its explanation, presentation
//! mode, and a 512-PTE THP split rendered as collapsed runs.
//!
//! Screenshots (1280×720) of a violation and of presentation mode go to
//! `docs/screenshot-{violation,presentation}.png`.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test ui_stepper --
//! --test-threads=1` (`cargo xtask test` sets both). The server serves `MMRACE_DIST` with
//! `--static-dir`, so the tests see exactly the frontend that was built.

use std::time::Duration;

use e2e::{bail, dist_dir, ensure_eq, workspace_root, App, Key, Result, DEFAULT_TIMEOUT};
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::Locator;
use serde_json::Value;

const READY: &str = "body[data-ready=\"1\"]";

async fn start() -> Result<App> {
    let dist = dist_dir()?;
    let dist = dist.to_string_lossy().into_owned();
    App::start_with_server_args(&["--static-dir", &dist]).await
}

async fn open(app: &App, path: &str) -> Result<()> {
    app.goto(path).await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    Ok(())
}

async fn js(app: &App, script: &str) -> Result<Value> {
    Ok(app.client().execute(script, vec![]).await?)
}

/// `(cursor, schedule length)` from `#step-count` ("step 3 / 18").
async fn step_count(app: &App) -> Result<(usize, usize)> {
    let t = app.text("#step-count").await?;
    let nums: Vec<usize> = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match nums[..] {
        [a, b] => Ok((a, b)),
        _ => bail!("cannot read the step count from {t:?}"),
    }
}

/// The cursor, from `.app[data-cursor]` (readable also when the controls are hidden).
async fn cursor(app: &App) -> Result<usize> {
    let c = app.attr(".app", "data-cursor").await?;
    c.as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| e2e::Error::msg(format!("no data-cursor on .app: {c:?}")))
}

/// Pick a library scenario (and a named schedule) with the pickers, as a user would.
async fn pick(app: &App, scenario: &str, schedule: Option<&str>) -> Result<()> {
    let sel = app.find("#scenario").await?;
    sel.select_by_value(scenario).await?;
    app.settle().await?;
    let want = scenario.to_string();
    e2e::poll("the scenario to load", DEFAULT_TIMEOUT, async || {
        Ok(app.find("#scenario").await?.prop("value").await?.as_deref() == Some(want.as_str()))
    })
    .await?;
    if let Some(s) = schedule {
        app.find("#schedule").await?.select_by_value(s).await?;
        app.settle().await?;
    }
    // The pickers keep focus (and keys) otherwise.
    blur(app).await?;
    ensure_eq!(cursor(app).await?, 0, "cursor after loading {scenario}");
    Ok(())
}

async fn jump(app: &App, n: usize) -> Result<()> {
    let input = app.find("#jump").await?;
    input.clear().await?;
    input.send_keys(&format!("{n}\n")).await?;
    app.settle().await?;
    // Give focus back to the page so that keys reach the app.
    js(
        app,
        "document.activeElement && document.activeElement.blur();",
    )
    .await?;
    ensure_eq!(cursor(app).await?, n, "cursor after jumping to {n}");
    Ok(())
}

async fn blur(app: &App) -> Result<()> {
    js(
        app,
        "document.activeElement && document.activeElement.blur();",
    )
    .await?;
    Ok(())
}

/// Click the timeline canvas at `fraction` of its width (a real pointer: move, down, up).
async fn click_timeline(app: &App, from: f64, to: Option<f64>) -> Result<()> {
    let canvas = app.find("#timeline").await?;
    let w = js(
        app,
        "return document.getElementById('timeline').getBoundingClientRect().width;",
    )
    .await?
    .as_f64()
    .unwrap_or(0.0);
    if w < 100.0 {
        bail!("the timeline is only {w}px wide");
    }
    let x = |f: f64| (f - 0.5) * w;
    let mut actions = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: None,
            x: x(from),
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        });
    if let Some(to) = to {
        for k in 1..=4 {
            let f = from + (to - from) * k as f64 / 4.0;
            actions = actions.then(PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: Some(Duration::from_millis(20)),
                x: x(f),
                y: 0.0,
            });
        }
    }
    actions = actions.then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    app.client().perform_actions(actions).await?;
    app.settle().await
}

async fn stepping(app: &App) -> Result<()> {
    open(app, "/").await?;
    let (c, n) = step_count(app).await?;
    ensure_eq!(c, 0, "cursor at start");
    if n < 8 {
        bail!("the default scenario's schedule has only {n} steps");
    }
    // No inline style attributes anywhere: the server's CSP (`style-src 'self'`) blocks them.
    let styled = js(app, "return document.querySelectorAll('[style]').length;").await?;
    ensure_eq!(styled.as_u64(), Some(0), "elements with a style attribute");
    // Click.
    app.click("button#step").await?;
    ensure_eq!(cursor(app).await?, 1, "after one click on Step");
    let expl = app.text("#explanation").await?;
    if expl.len() < 10 {
        bail!("no narration after a step: {expl:?}");
    }
    let live = app.text("#live").await.unwrap_or_default();
    let live_dom: String = js(app, "return document.getElementById('live').textContent;")
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !live_dom.starts_with("Step 1 of") {
        bail!("the ARIA live region does not narrate step 1: {live_dom:?} ({live:?})");
    }
    ensure_eq!(
        app.attr("#live", "aria-live").await?.as_deref(),
        Some("polite"),
        "live region politeness"
    );
    // The thread that ran is marked, and its pseudo-code shows the current line.
    ensure_eq!(
        app.count("[data-thread=\"0\"].just-ran").await?,
        1,
        "thread 0 marked as having run"
    );
    if app.count("[data-thread=\"0\"] .line.current").await? == 0 {
        bail!("thread 0's listing marks no current line");
    }
    // Keyboard: → Space PageDown step; ← PageUp back; End / Home.
    blur(app).await?;
    app.press_key(Key::Right).await?;
    ensure_eq!(cursor(app).await?, 2, "after →");
    app.press_key(' ').await?;
    ensure_eq!(cursor(app).await?, 3, "after Space");
    app.press_key(Key::PageDown).await?;
    ensure_eq!(cursor(app).await?, 4, "after PageDown");
    app.press_key(Key::Left).await?;
    ensure_eq!(cursor(app).await?, 3, "after ←");
    app.press_key(Key::PageUp).await?;
    ensure_eq!(cursor(app).await?, 2, "after PageUp");
    app.press_key(Key::End).await?;
    ensure_eq!(cursor(app).await?, n, "after End");
    app.press_key(Key::Home).await?;
    ensure_eq!(cursor(app).await?, 0, "after Home");
    // Next lock event: forward to the first step that takes a lock, highlighted in the panel.
    app.click("button#next-lock").await?;
    let c = cursor(app).await?;
    if c == 0 || app.count(".locks tr.lock.changed").await? == 0 {
        bail!("next lock event went to step {c} with no lock row highlighted");
    }
    // Run: to the end of the schedule; past it, every thread has already finished.
    app.click("button#finish").await?;
    ensure_eq!(cursor(app).await?, n, "after run");
    app.click("button#finish").await?;
    let notice = app.text("#notice").await?;
    if !notice.contains("finished") {
        bail!("running past the end of a finished schedule says {notice:?}");
    }
    blur(app).await?;
    app.press_key(Key::Home).await?;
    ensure_eq!(cursor(app).await?, 0, "after Home again");
    // Digits select a thread; Enter steps it.
    app.press_key('0').await?;
    let notice = app.text("#notice").await?;
    if !notice.contains("Selected T0") {
        bail!("selecting thread 0 says {notice:?}");
    }
    ensure_eq!(
        app.count("[data-thread=\"0\"].selected").await?,
        1,
        "thread 0 selected"
    );
    app.press_key(Key::Enter).await?;
    ensure_eq!(cursor(app).await?, 1, "after Enter on the selected thread");
    // The Back button.
    app.click("button#step").await?;
    app.click("button#step").await?;
    ensure_eq!(cursor(app).await?, 3, "after two more clicks");
    app.click("button#back").await?;
    ensure_eq!(cursor(app).await?, 2, "after Back");
    // `?` shows every shortcut; Escape closes it.
    blur(app).await?;
    app.press_key('?').await?;
    let help = app.text("#help").await?;
    for k in [
        "PageDown",
        "Home / End",
        "presentation",
        "next lock event",
        "violation",
    ] {
        if !help.contains(k) {
            bail!("the shortcut help does not mention {k:?}: {help}");
        }
    }
    app.press_key(Key::Escape).await?;
    ensure_eq!(app.count("#help").await?, 0, "help closed by Escape");

    // The timeline: one lane per thread, click to jump, drag to scrub.
    ensure_eq!(
        app.attr(".timeline", "data-steps").await?.as_deref(),
        Some(n.to_string().as_str()),
        "timeline length"
    );
    click_timeline(app, 0.5, None).await?;
    let c = cursor(app).await?;
    let want = (n as f64 * 0.5).ceil() as usize;
    if c.abs_diff(want) > 1 {
        bail!("clicking the middle of the timeline jumped to {c}, expected about {want} of {n}");
    }
    click_timeline(app, 0.1, Some(0.9)).await?;
    let c = cursor(app).await?;
    let want = (n as f64 * 0.9).ceil() as usize;
    if c.abs_diff(want) > 1 {
        bail!("dragging to 90% of the timeline jumped to {c}, expected about {want} of {n}");
    }
    ensure_eq!(
        app.attr("#timeline", "aria-valuenow").await?.as_deref(),
        Some(c.to_string().as_str()),
        "timeline slider value"
    );
    // The timeline as a keyboard slider: ↓ jumps back 10 steps.
    app.find("#timeline").await?.click().await?;
    let before = cursor(app).await?;
    app.press_key(Key::Down).await?;
    ensure_eq!(
        cursor(app).await?,
        before.saturating_sub(10),
        "↓ on the timeline"
    );
    Ok(())
}

#[tokio::test]
async fn stepping_by_click_keyboard_back_and_timeline() -> Result<()> {
    let app = start().await?;
    let r = stepping(&app).await;
    app.finish("stepping_by_click_keyboard_back_and_timeline", r)
        .await
}

async fn blocked(app: &App) -> Result<()> {
    open(app, "/").await?;
    pick(
        app,
        "seed-mprotect-vs-migration-v6.4.json",
        Some("migration-waits-on-ptl"),
    )
    .await?;
    let t1 = "[data-thread=\"1\"]";
    let mut found = false;
    for _ in 0..40 {
        if app.attr(t1, "data-status").await?.as_deref() == Some("blocked") {
            found = true;
            break;
        }
        app.click("button#step").await?;
    }
    if !found {
        bail!("thread 1 (migrate) never blocked on the PT lock");
    }
    let c = cursor(app).await?;
    let reason = app.text(&format!("{t1} .reason")).await?;
    if !reason.contains("PT lock") || !reason.contains("mprotect") {
        bail!("the blocked thread does not say it waits for mprotect's PT lock: {reason:?}");
    }
    let title = app
        .attr(&format!("{t1} .thread-head"), "title")
        .await?
        .unwrap_or_default();
    if !title.contains("cannot step") || !title.contains("PT lock") {
        bail!("the blocked thread's tooltip does not say why: {title:?}");
    }
    ensure_eq!(
        app.attr(&format!("{t1} .thread-head"), "aria-disabled")
            .await?
            .as_deref(),
        Some("true"),
        "blocked thread head aria-disabled"
    );
    app.click(&format!("{t1} .thread-head")).await?;
    ensure_eq!(
        cursor(app).await?,
        c,
        "clicking a blocked thread must not step"
    );
    let notice = app.text("#notice").await?;
    if !notice.contains("cannot step") || !notice.contains("blocked") {
        bail!("clicking the blocked thread gives no reason: {notice:?}");
    }
    // The lock is shown contended, with the waiter.
    let locks = app.text(".locks").await?;
    if !locks.contains("contended") || !locks.contains("migrate") {
        bail!("the locks panel does not show the PT lock contended by migrate:\n{locks}");
    }
    // A runnable thread steps when clicked (the user becomes the scheduler).
    app.click("[data-thread=\"0\"] .thread-head").await?;
    ensure_eq!(cursor(app).await?, c + 1, "clicking runnable mprotect");
    Ok(())
}

#[tokio::test]
async fn blocked_thread_refuses_to_step_and_says_why() -> Result<()> {
    let app = start().await?;
    let r = blocked(&app).await;
    app.finish("blocked_thread_refuses_to_step_and_says_why", r)
        .await
}

async fn violation(app: &App) -> Result<()> {
    open(app, "/").await?;
    pick(app, "whatif-c-restore-from-stale-entry-v6.4.json", None).await?;
    // The kernel is labelled hypothetical.
    let k = app.text(".toolbar .kernel-badges").await?;
    if !k.contains("HYPOTHETICAL") || !k.contains("restore-from-stale-entry") {
        bail!("the what-if kernel is not labelled hypothetical: {k:?}");
    }
    let inv = "[data-invariant=\"writable-pte-in-readonly-vma\"]";
    ensure_eq!(
        app.attr(inv, "data-state").await?.as_deref(),
        Some("ok"),
        "the invariant at step 0"
    );
    app.click("button#next-violation").await?;
    ensure_eq!(
        cursor(app).await?,
        27,
        "the counterexample breaks at the 27th step (index 26)"
    );
    ensure_eq!(
        app.attr(inv, "data-state").await?.as_deref(),
        Some("violated"),
        "the invariant after the violation"
    );
    let text = app.text(inv).await?;
    for want in [
        "VIOLATED",
        "broken at step 27",
        "lack VM_WRITE",
        "in flight",
    ] {
        if !text.contains(want) {
            bail!("the violated invariant does not say {want:?}: {text}");
        }
    }
    // Red: the invariant row's background is the "bad" colour, not the panel's.
    let bg = app.find(inv).await?.css_value("background-color").await?;
    let panel = app
        .find(".invariants")
        .await?
        .css_value("background-color")
        .await?;
    if bg == panel {
        bail!("the violated invariant is not highlighted ({bg})");
    }
    if app.count(".narration .broke").await? != 1 {
        bail!("the narration does not say the step broke an invariant");
    }
    // The writable PTE in the read-only VMA, in hex and chips.
    ensure_eq!(
        app.attr("[data-pte-index=\"0\"] [data-bit=\"RW\"]", "data-on")
            .await?
            .as_deref(),
        Some("true"),
        "RW of the PTE restored from the stale entry"
    );
    app.screenshot(workspace_root().join("docs/screenshot-violation.png"))
        .await?;
    // Back one step: the invariant holds (or is tolerated) again.
    app.click("button#back").await?;
    let st = app.attr(inv, "data-state").await?;
    if st.as_deref() == Some("violated") {
        bail!("the invariant is still violated one step before it broke");
    }
    Ok(())
}

#[tokio::test]
async fn violation_is_red_with_its_explanation() -> Result<()> {
    let app = start().await?;
    let r = violation(&app).await;
    app.finish("violation_is_red_with_its_explanation", r).await
}

async fn presentation(app: &App) -> Result<()> {
    open(app, "/").await?;
    pick(
        app,
        "seed-mprotect-vs-migration-v6.4.json",
        Some("restore-before-walk"),
    )
    .await?;
    jump(app, 14).await?;
    let normal: f64 = js(
        app,
        "return parseFloat(getComputedStyle(document.getElementById('explanation')).fontSize);",
    )
    .await?
    .as_f64()
    .unwrap_or(0.0);
    app.press_key('p').await?;
    ensure_eq!(
        app.count(".app.presentation").await?,
        1,
        "presentation mode on"
    );
    ensure_eq!(
        app.find(".toolbar").await?.is_displayed().await?,
        false,
        "chrome hidden"
    );
    ensure_eq!(
        js(
            app,
            "return document.documentElement.getAttribute('data-theme');"
        )
        .await?
        .as_str(),
        Some("contrast"),
        "high-contrast theme"
    );
    let big: f64 = js(
        app,
        "return parseFloat(getComputedStyle(document.getElementById('explanation')).fontSize);",
    )
    .await?
    .as_f64()
    .unwrap_or(0.0);
    if big < 1.5 * normal || big < 24.0 {
        bail!("the narration is not large in presentation mode: {big}px (normally {normal}px)");
    }
    // Narration at the bottom, inside the viewport, at both talk resolutions.
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        app.set_viewport(w, h).await?;
        app.settle().await?;
        let r = js(app, "const r = document.getElementById('narration').getBoundingClientRect(); return [r.top, r.bottom, innerHeight];").await?;
        let (top, bottom, ih) = (
            r[0].as_f64().unwrap_or(0.0),
            r[1].as_f64().unwrap_or(0.0),
            r[2].as_f64().unwrap_or(0.0),
        );
        if bottom > ih + 1.0 || top < ih * 0.5 {
            bail!("at {w}x{h} the narration is not at the bottom: {top}..{bottom} of {ih}");
        }
        // Stepping still works with the chrome hidden (clicker keys).
        app.press_key(Key::PageDown).await?;
        if w == 1280 {
            app.screenshot(workspace_root().join("docs/screenshot-presentation.png"))
                .await?;
        }
    }
    ensure_eq!(cursor(app).await?, 16, "two PageDowns while presenting");
    app.set_viewport(1280, 720).await?;
    app.press_key(Key::Escape).await?;
    ensure_eq!(
        app.count(".app.presentation").await?,
        0,
        "Escape leaves presentation mode"
    );
    Ok(())
}

#[tokio::test]
async fn presentation_mode_is_large_and_keyboard_driven() -> Result<()> {
    let app = start().await?;
    let r = presentation(&app).await;
    app.finish("presentation_mode_is_large_and_keyboard_driven", r)
        .await
}

async fn thp_split(app: &App) -> Result<()> {
    open(app, "/").await?;
    pick(app, "seed-mprotect-vs-thp-split-v6.4.json", Some("kirill")).await?;
    let (_, n) = step_count(app).await?;
    if n < 600 {
        bail!("the kirill schedule has only {n} steps");
    }
    // At the end: one 512-PTE table, every entry read-only — a single collapsed run.
    app.press_key(Key::End).await?;
    ensure_eq!(cursor(app).await?, n, "at the end");
    ensure_eq!(
        app.count("[data-pte-run=\"0-511\"]").await?,
        1,
        "one run of 512"
    );
    let rows = app.count("[data-pte-index]").await?;
    if rows > 8 {
        bail!("{rows} individual PTE rows rendered for a collapsed table");
    }
    let run = app.text("[data-pte-run=\"0-511\"]").await?;
    if !run.contains("PTE 0–511") || !run.contains("pfn 0x40000+i") {
        bail!("the run does not read as one line: {run:?}");
    }
    // Expand and collapse.
    app.click("[data-pte-run=\"0-511\"] button.expand").await?;
    ensure_eq!(app.count("[data-pte-index]").await?, 512, "expanded rows");
    ensure_eq!(
        app.attr("[data-pte-index=\"511\"] [data-bit=\"RW\"]", "data-on")
            .await?
            .as_deref(),
        Some("false"),
        "PTE 511 read-only at the end"
    );
    app.click("[data-pte-run=\"0-511\"] button.expand").await?;
    ensure_eq!(app.count("[data-pte-index]").await?, 0, "collapsed again");
    // In the middle of mprotect's walk: the PTE written last stays visible between two runs
    // (read-only before it, writable after it).
    let mut mid = None;
    for k in (n / 2..n).step_by(7) {
        jump(app, k).await?;
        let changed = app.count("tr.pte.changed").await?;
        let runs = app.count("[data-pte-run]").await?;
        if changed == 1 && runs == 2 {
            mid = Some(k);
            break;
        }
    }
    let Some(k) = mid else {
        bail!("no step in the walk shows one changed PTE between two runs");
    };
    let idx = app
        .attr("tr.pte.changed", "data-pte-index")
        .await?
        .unwrap_or_default();
    let was = app.text("tr.pte.changed .was").await?;
    if !was.starts_with("was 0x") {
        bail!("step {k}: the changed PTE {idx} does not show its old value: {was:?}");
    }
    // Stepping stays fast with 512 PTEs on screen: 20 steps, each awaited to the next frame.
    let ms = app
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const b = document.getElementById('step');
             const t0 = performance.now();
             let i = 0;
             function next() {
               if (i++ === 20) { done(performance.now() - t0); return; }
               b.click();
               requestAnimationFrame(() => setTimeout(next, 0));
             }
             next();",
            vec![],
        )
        .await?
        .as_f64()
        .unwrap_or(f64::MAX);
    println!(
        "20 steps with a 512-PTE table on screen: {ms:.0} ms ({:.1} ms/step)",
        ms / 20.0
    );
    if ms / 20.0 > 250.0 {
        bail!(
            "stepping is slow after the split: {:.1} ms per step",
            ms / 20.0
        );
    }
    // The timeline draws all steps compactly on one canvas.
    ensure_eq!(
        app.attr(".timeline", "data-steps").await?.as_deref(),
        Some(n.to_string().as_str()),
        "timeline steps"
    );
    ensure_eq!(
        app.client()
            .find_all(Locator::Css(".timeline canvas"))
            .await?
            .len(),
        1,
        "one canvas"
    );
    Ok(())
}

#[tokio::test]
async fn thp_split_512_ptes_render_collapsed() -> Result<()> {
    let app = start().await?;
    let r = thp_split(&app).await;
    app.finish("thp_split_512_ptes_render_collapsed", r).await
}
