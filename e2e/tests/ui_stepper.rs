//! The step-through UI in a real browser: stepping by click and keyboard, Back, the timeline,
//! a blocked thread refusing to step, a violation shown red with its explanation, presentation
//! mode, a 512-PTE THP split rendered as collapsed runs, and stepping by line.
//!
//! Screenshots (1280×720) of a violation and of presentation mode go to
//! `docs/screenshot-{violation,presentation}.png`.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test ui_stepper --
//! --test-threads=1` (`cargo xtask test` sets both). The server serves `MMRACE_DIST` with
//! `--static-dir`, so the tests see exactly the frontend that was built.

use std::time::Duration;

use e2e::{bail, ensure_eq, workspace_root, App, Key, Result};
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::Locator;

/// Click the timeline canvas at `fraction` of its width (a real pointer: move, down, up).
async fn click_timeline(app: &App, from: f64, to: Option<f64>) -> Result<()> {
    let canvas = app.find("#timeline").await?;
    let w = app
        .js("return document.getElementById('timeline').getBoundingClientRect().width;")
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
    app.open("/").await?;
    let (c, n) = app.step_count().await?;
    ensure_eq!(c, 0, "cursor at start");
    if n < 8 {
        bail!("the default scenario's schedule has only {n} steps");
    }
    // No inline style attributes anywhere: the server's CSP (`style-src 'self'`) blocks them.
    let styled = app
        .js("return document.querySelectorAll('[style]').length;")
        .await?;
    ensure_eq!(styled.as_u64(), Some(0), "elements with a style attribute");
    // Click.
    app.click("button#step").await?;
    ensure_eq!(app.cursor().await?, 1, "after one click on Step");
    let expl = app.text("#explanation").await?;
    if expl.len() < 10 {
        bail!("no narration after a step: {expl:?}");
    }
    let live = app.text("#live").await.unwrap_or_default();
    let live_dom: String = app
        .js("return document.getElementById('live').textContent;")
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
    app.blur().await?;
    app.press_key(Key::Right).await?;
    ensure_eq!(app.cursor().await?, 2, "after →");
    app.press_key(' ').await?;
    ensure_eq!(app.cursor().await?, 3, "after Space");
    app.press_key(Key::PageDown).await?;
    ensure_eq!(app.cursor().await?, 4, "after PageDown");
    app.press_key(Key::Left).await?;
    ensure_eq!(app.cursor().await?, 3, "after ←");
    app.press_key(Key::PageUp).await?;
    ensure_eq!(app.cursor().await?, 2, "after PageUp");
    app.press_key(Key::End).await?;
    ensure_eq!(app.cursor().await?, n, "after End");
    app.press_key(Key::Home).await?;
    ensure_eq!(app.cursor().await?, 0, "after Home");
    // Next lock event: forward to the first step that takes a lock, highlighted in the panel.
    app.click("button#next-lock").await?;
    let c = app.cursor().await?;
    if c == 0 || app.count(".locks tr.lock.changed").await? == 0 {
        bail!("next lock event went to step {c} with no lock row highlighted");
    }
    // Run: to the end of the schedule; past it, every thread has already finished.
    app.click("button#finish").await?;
    ensure_eq!(app.cursor().await?, n, "after run");
    app.click("button#finish").await?;
    let notice = app.text("#notice").await?;
    if !notice.contains("finished") {
        bail!("running past the end of a finished schedule says {notice:?}");
    }
    app.blur().await?;
    app.press_key(Key::Home).await?;
    ensure_eq!(app.cursor().await?, 0, "after Home again");
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
    ensure_eq!(app.cursor().await?, 1, "after Enter on the selected thread");
    // The Back button.
    app.click("button#step").await?;
    app.click("button#step").await?;
    ensure_eq!(app.cursor().await?, 3, "after two more clicks");
    app.click("button#back").await?;
    ensure_eq!(app.cursor().await?, 2, "after Back");
    // `?` shows every shortcut; Escape closes it.
    app.blur().await?;
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
    let c = app.cursor().await?;
    let want = (n as f64 * 0.5).ceil() as usize;
    if c.abs_diff(want) > 1 {
        bail!("clicking the middle of the timeline jumped to {c}, expected about {want} of {n}");
    }
    click_timeline(app, 0.1, Some(0.9)).await?;
    let c = app.cursor().await?;
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
    let before = app.cursor().await?;
    app.press_key(Key::Down).await?;
    ensure_eq!(
        app.cursor().await?,
        before.saturating_sub(10),
        "↓ on the timeline"
    );
    Ok(())
}

#[tokio::test]
async fn stepping_by_click_keyboard_back_and_timeline() -> Result<()> {
    let app = App::start_dist().await?;
    let r = stepping(&app).await;
    app.finish("stepping_by_click_keyboard_back_and_timeline", r)
        .await
}

async fn blocked(app: &App) -> Result<()> {
    app.open("/").await?;
    app.pick(
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
    let c = app.cursor().await?;
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
        app.cursor().await?,
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
    ensure_eq!(app.cursor().await?, c + 1, "clicking runnable mprotect");
    Ok(())
}

#[tokio::test]
async fn blocked_thread_refuses_to_step_and_says_why() -> Result<()> {
    let app = App::start_dist().await?;
    let r = blocked(&app).await;
    app.finish("blocked_thread_refuses_to_step_and_says_why", r)
        .await
}

async fn violation(app: &App) -> Result<()> {
    app.open("/").await?;
    app.pick("whatif-c-restore-from-stale-entry-v6.4.json", None)
        .await?;
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
        app.cursor().await?,
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
    let app = App::start_dist().await?;
    let r = violation(&app).await;
    app.finish("violation_is_red_with_its_explanation", r).await
}

async fn presentation(app: &App) -> Result<()> {
    app.open("/").await?;
    app.pick(
        "seed-mprotect-vs-migration-v6.4.json",
        Some("restore-before-walk"),
    )
    .await?;
    app.jump(14).await?;
    let normal: f64 = app
        .js("return parseFloat(getComputedStyle(document.getElementById('explanation')).fontSize);")
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
        app.js("return document.documentElement.getAttribute('data-theme');")
            .await?
            .as_str(),
        Some("contrast"),
        "high-contrast theme"
    );
    let big: f64 = app
        .js("return parseFloat(getComputedStyle(document.getElementById('explanation')).fontSize);")
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
        let r = app.js("const r = document.getElementById('narration').getBoundingClientRect(); return [r.top, r.bottom, innerHeight];").await?;
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
    ensure_eq!(app.cursor().await?, 16, "two PageDowns while presenting");
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
    let app = App::start_dist().await?;
    let r = presentation(&app).await;
    app.finish("presentation_mode_is_large_and_keyboard_driven", r)
        .await
}

async fn thp_split(app: &App) -> Result<()> {
    app.open("/").await?;
    app.pick("seed-mprotect-vs-thp-split-v6.4.json", Some("kirill"))
        .await?;
    let (_, n) = app.step_count().await?;
    if n < 600 {
        bail!("the kirill schedule has only {n} steps");
    }
    // At the end: one 512-PTE table, every entry read-only — a single collapsed run.
    app.press_key(Key::End).await?;
    ensure_eq!(app.cursor().await?, n, "at the end");
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
        app.jump(k).await?;
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
    // (How fast stepping is with the table on screen is measured by the render bench,
    // `cargo bench -p e2e --bench render`, not asserted here.)
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
    let app = App::start_dist().await?;
    let r = thp_split(&app).await;
    app.finish("thp_split_512_ptes_render_collapsed", r).await
}

/// The text of thread `t`'s current (innermost) pseudo-code line.
async fn current_line(app: &App, t: usize) -> Result<String> {
    let v = app
        .client()
        .execute(
            "const ls = document.querySelectorAll(`[data-thread=\"${arguments[0]}\"] .line.current:not(.caller) code`);
             return ls.length ? ls[ls.length - 1].textContent : null;",
            vec![serde_json::json!(t)],
        )
        .await?;
    match v.as_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("thread {t} shows no current line"),
    }
}

async fn step_line(app: &App) -> Result<()> {
    app.open("/").await?;
    // A line of one action: mprotect's first line (mmap_write_lock_killable) is one step.
    app.click("button#step-line").await?;
    ensure_eq!(
        app.cursor().await?,
        1,
        "step by line over a one-action line"
    );
    // restore-after-walk: mprotect's PTE walk meets two writable migration entries in a row;
    // each is one action, and between them mprotect's current line (the loop's next PTE) stays.
    app.pick(
        "seed-mprotect-vs-migration-v6.4.json",
        Some("restore-after-walk"),
    )
    .await?;
    let (_, n) = app.step_count().await?;
    app.jump(16).await?;
    let line = current_line(app, 0).await?;
    app.press_key('s').await?;
    ensure_eq!(app.cursor().await?, 18, "S takes both actions of the line");
    ensure_eq!(
        app.step_count().await?,
        (18, n),
        "the loaded schedule is kept"
    );
    let after = current_line(app, 0).await?;
    if after == line {
        bail!("after stepping by line mprotect is still on {line:?}");
    }
    // Each action is its own step: Back goes to the middle of the line.
    app.press_key(Key::Left).await?;
    ensure_eq!(app.cursor().await?, 17, "Back after a step by line");
    ensure_eq!(
        current_line(app, 0).await?,
        line,
        "between the two actions of the line"
    );
    // From there one action is left on the line: exactly one step (Shift+→ is the same).
    app.js("document.dispatchEvent(new KeyboardEvent('keydown', \
         {key: 'ArrowRight', shiftKey: true, bubbles: true, cancelable: true}));")
        .await?;
    app.settle().await?;
    ensure_eq!(
        app.cursor().await?,
        18,
        "Shift+→ with one action left on the line"
    );
    // The help lists the shortcut.
    app.press_key('?').await?;
    let help = app.text("#help").await?;
    if !help.contains("step by line") {
        bail!("the shortcut help does not mention stepping by line: {help}");
    }
    Ok(())
}

#[tokio::test]
async fn step_by_line_takes_every_action_of_the_line() -> Result<()> {
    let app = App::start_dist().await?;
    let r = step_line(&app).await;
    app.finish("step_by_line_takes_every_action_of_the_line", r)
        .await
}
