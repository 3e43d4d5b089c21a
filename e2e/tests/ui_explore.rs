//! "Explore all interleavings" in a real browser: the explorer runs in a Web Worker (the
//! `explore-worker` wasm, fetched only on the first exploration), its verdicts and statistics
//! equal sim-core's explorer run natively in this process, "Open" loads a counterexample at
//! its violating step, and Cancel stops a long search while the page keeps stepping.
//!
//! A screenshot (1280×720) of what-if (c)'s verdict table goes to `docs/screenshot-explore.png`.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test ui_explore --
//! --test-threads=1` (`cargo xtask test` sets both).

use std::time::Duration;

use e2e::{bail, ensure_eq, workspace_root, App, Key, Result, DEFAULT_TIMEOUT};
use sim_core::explore::{explore, ExploreOptions, ExploreResult};
use sim_core::Scenario;

/// An exploration of the small seeds takes well under a second natively; this leaves room
/// for a cold wasm compile on a loaded 2-core machine.
const EXPLORE_TIMEOUT: Duration = Duration::from_secs(90);

/// The options the UI uses (frontend/src/explore.rs): the explorer's default state budget.
fn ui_options(reduction: bool) -> ExploreOptions {
    ExploreOptions {
        max_states: 1_000_000,
        reduction,
        ..ExploreOptions::default()
    }
}

fn native(path: &str, reduction: bool) -> Result<ExploreResult> {
    let json = sim_core::library::get(path)
        .ok_or_else(|| e2e::Error::msg(format!("{path} is not shipped")))?;
    let sc = Scenario::from_json(json)?;
    Ok(explore(&sc.build()?, &ui_options(reduction)))
}

async fn phase(app: &App) -> Result<Option<String>> {
    if app.count("#explore-panel").await? == 0 {
        return Ok(None);
    }
    app.attr("#explore-panel", "data-phase").await
}

/// Wait until the panel reaches `want` (failing at once on `failed`).
async fn wait_phase(app: &App, want: &str, timeout: Duration) -> Result<()> {
    e2e::poll(
        &format!("the exploration to be {want}"),
        timeout,
        async || {
            let p = phase(app).await?;
            if p.as_deref() == Some("failed") {
                let why = app.text("#explore-panel").await.unwrap_or_default();
                bail!("the exploration failed: {why}");
            }
            Ok(p.as_deref() == Some(want))
        },
    )
    .await
}

/// Whether the page has started the explorer's worker (its script is fetched by the page and
/// listed in the page's resource timing; the wasm follows from inside the worker).
async fn explorer_fetched(app: &App) -> Result<bool> {
    let v = app
        .js("return performance.getEntriesByType('resource').map(e => e.name).join(' ');")
        .await?;
    Ok(v.as_str().unwrap_or_default().contains("explore-worker.js"))
}

async fn stat(app: &App, attr: &str) -> Result<String> {
    app.attr("#explore-stats", attr)
        .await?
        .ok_or_else(|| e2e::Error::msg(format!("#explore-stats has no {attr}")))
}

async fn check_against_native(app: &App, want: &ExploreResult) -> Result<()> {
    ensure_eq!(
        stat(app, "data-complete").await?,
        want.complete.to_string(),
        "complete"
    );
    ensure_eq!(
        stat(app, "data-states").await?,
        want.states.to_string(),
        "states (browser vs native)"
    );
    ensure_eq!(
        stat(app, "data-transitions").await?,
        want.transitions.to_string(),
        "transitions (browser vs native)"
    );
    ensure_eq!(
        app.count("tr[data-invariant]").await?,
        want.per_invariant.len(),
        "verdict rows"
    );
    for v in &want.per_invariant {
        let row = format!("tr[data-invariant=\"{}\"]", v.id);
        let verdict = if v.violated {
            "violated"
        } else if want.complete {
            "safe"
        } else {
            "budget"
        };
        ensure_eq!(
            app.attr(&row, "data-verdict").await?.as_deref(),
            Some(verdict),
            "verdict of {}",
            v.id
        );
        ensure_eq!(
            app.attr(&row, "data-length").await?.unwrap_or_default(),
            v.length.map(|l| l.to_string()).unwrap_or_default(),
            "counterexample length of {}",
            v.id
        );
    }
    Ok(())
}

async fn seed_is_safe(app: &App) -> Result<()> {
    let path = "seed-mprotect-vs-migration-v6.4.json";
    app.open("/").await?;
    app.pick(path, None).await?;
    if explorer_fetched(app).await? {
        bail!("the explorer was fetched before anyone asked to explore");
    }
    // The keyboard shortcut, as listed in the help.
    app.press_key('e').await?;
    wait_phase(app, "done", EXPLORE_TIMEOUT).await?;
    if !explorer_fetched(app).await? {
        bail!("the exploration finished without fetching explore-worker.js");
    }
    let want = native(path, false)?;
    if !want.complete || want.any_violated() {
        bail!("the seed is expected safe and complete natively: {want:?}");
    }
    check_against_native(app, &want).await?;
    let title = app.text("#explore-title").await?;
    if !title.contains("All interleavings safe") {
        bail!("the panel title does not say safe: {title:?}");
    }
    let stats = app.text("#explore-stats").await?;
    for word in [
        "complete",
        "states",
        "transitions",
        "pruned",
        "max depth",
        "states/s",
    ] {
        if !stats.contains(word) {
            bail!("the statistics do not mention {word}: {stats:?}");
        }
    }
    // With sleep sets: the same states and verdicts, the reduction's transitions.
    app.click("#explore-reduction").await?;
    app.click("#explore-again").await?;
    wait_phase(app, "done", EXPLORE_TIMEOUT).await?;
    let want = native(path, true)?;
    check_against_native(app, &want).await?;
    ensure_eq!(stat(app, "data-stop").await?, "complete", "stop reason");
    // The help lists the shortcut.
    app.press_key('?').await?;
    let help = app.text("#help").await?;
    if !help.contains("explore all interleavings") {
        bail!("the help does not list E: {help:?}");
    }
    Ok(())
}

#[tokio::test]
async fn explore_seed_is_safe_and_matches_native() -> Result<()> {
    let app = App::start_dist().await?;
    let r = seed_is_safe(&app).await;
    app.finish("explore_seed_is_safe_and_matches_native", r)
        .await
}

async fn whatif_violation_opens(app: &App) -> Result<()> {
    let path = "whatif-c-restore-from-stale-entry-v6.4.json";
    app.open("/").await?;
    app.pick(path, None).await?;
    app.click("#explore").await?;
    wait_phase(app, "done", EXPLORE_TIMEOUT).await?;
    let want = native(path, false)?;
    check_against_native(app, &want).await?;
    let bad = want
        .per_invariant
        .iter()
        .find(|v| v.violated)
        .ok_or_else(|| e2e::Error::msg("what-if (c) violates nothing natively"))?;
    let len = bad.length.expect("a violation has a length");
    // The verdict table, for the README.
    app.settle().await?;
    app.screenshot(workspace_root().join("docs/screenshot-explore.png"))
        .await?;
    app.click(&format!(
        "tr[data-invariant=\"{}\"] button.open-cex",
        bad.id
    ))
    .await?;
    ensure_eq!(app.cursor().await?, len, "cursor after Open");
    ensure_eq!(app.step_count().await?, (len, len), "step count after Open");
    let li = format!("li.invariant[data-invariant=\"{}\"]", bad.id);
    ensure_eq!(
        app.attr(&li, "data-state").await?.as_deref(),
        Some("violated"),
        "the invariant {} at the violating step",
        bad.id
    );
    // Shortest: one step earlier it held.
    app.blur().await?;
    app.press_key(Key::Left).await?;
    let before = app.attr(&li, "data-state").await?;
    if before.as_deref() == Some("violated") {
        bail!(
            "{} is already violated one step before the counterexample ends",
            bad.id
        );
    }
    // The results stay available, folded.
    ensure_eq!(
        phase(app).await?.as_deref(),
        Some("done"),
        "panel after Open"
    );
    ensure_eq!(
        app.count("tr[data-invariant]").await?,
        0,
        "verdict rows shown after Open (folded)"
    );
    Ok(())
}

#[tokio::test]
async fn explore_whatif_violation_opens_in_the_stepper() -> Result<()> {
    let app = App::start_dist().await?;
    let r = whatif_violation_opens(&app).await;
    app.finish("explore_whatif_violation_opens_in_the_stepper", r)
        .await
}

/// `1234567` → `1,234,567`, as the panel writes counts.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What-if (c)'s condition (`exists any (mprotect returned /\ a writable PTE)`): the panel
/// says it holds with the native counts, and "Open witness" lands on the witness's last step.
async fn condition_witness_opens(app: &App) -> Result<()> {
    let path = "whatif-c-restore-from-stale-entry-v6.4.json";
    app.open("/").await?;
    app.pick(path, None).await?;
    app.click("#explore").await?;
    wait_phase(app, "done", EXPLORE_TIMEOUT).await?;
    let want = native(path, false)?;
    let c = want
        .condition
        .ok_or_else(|| e2e::Error::msg("the shipped what-if (c) has no condition"))?;
    ensure_eq!(c.holds, Some(true), "native decision");
    let witness = c
        .satisfying
        .ok_or_else(|| e2e::Error::msg("no native witness"))?;
    ensure_eq!(
        app.attr("#explore-condition", "data-holds")
            .await?
            .as_deref(),
        Some("holds"),
        "condition row"
    );
    ensure_eq!(
        app.attr("#explore-condition", "data-evidence").await?,
        Some(witness.len().to_string()),
        "witness length shown"
    );
    let text = app.text("#explore-condition").await?;
    let counts = format!(
        "{} of {} reachable states",
        group(c.satisfied as u64),
        group(c.checked as u64)
    );
    if !text.contains(&c.condition) || !text.contains(&counts) {
        bail!("the condition row says {text:?}; want the condition and {counts:?}");
    }
    app.click("#explore-condition-open").await?;
    ensure_eq!(
        app.cursor().await?,
        witness.len(),
        "cursor after Open witness"
    );
    ensure_eq!(
        app.step_count().await?,
        (witness.len(), witness.len()),
        "step count after Open witness"
    );
    // The stepper's condition box agrees: the predicate is true here, and (a shortest
    // witness) false one step earlier.
    ensure_eq!(
        app.attr("#condition", "data-value").await?.as_deref(),
        Some("true"),
        "the predicate at the witness's last step"
    );
    app.blur().await?;
    app.press_key(Key::Left).await?;
    ensure_eq!(
        app.attr("#condition", "data-value").await?.as_deref(),
        Some("false"),
        "the predicate one step before"
    );
    // bug_escape_does_not_close_the_explore_panel: Escape closes it (and only it: the
    // stepper stays where it is).
    app.press_key(Key::Escape).await?;
    ensure_eq!(phase(app).await?, None, "the panel after Escape");
    ensure_eq!(
        app.cursor().await?,
        witness.len() - 1,
        "cursor after Escape"
    );
    Ok(())
}

#[tokio::test]
async fn explore_condition_witness_opens_in_the_stepper() -> Result<()> {
    let app = App::start_dist().await?;
    let r = condition_witness_opens(&app).await;
    app.finish("explore_condition_witness_opens_in_the_stepper", r)
        .await
}

/// The 8-page, two-migration scaling scenario plus a third migration thread: far more than
/// the test waits for (the state budget is hit only after tens of seconds).
fn big_scenario() -> Result<Scenario> {
    let text = std::fs::read_to_string(
        workspace_root().join("assets/scenarios/bench/seed-8p-2mig.litmus"),
    )?;
    let text = text.replace("cpus 4", "cpus 5")
        + "\nthread \"migrate-2\" on cpu 4 {\n  migrate 0x7f0000002000 -> pfn 0x23458\n}\n";
    sim_core::litmus::parse(&text).map_err(|e| e2e::Error::msg(format!("{e}")))
}

async fn cancel_keeps_page_responsive(app: &App) -> Result<()> {
    let link = sim_core::link::Link::new(big_scenario()?, Vec::new(), 0);
    app.open(&format!("/#{}", link.encode())).await?;
    app.blur().await?;
    app.click("#explore").await?;
    wait_phase(app, "running", DEFAULT_TIMEOUT).await?;
    // Progress arrives (the worker computes; the page renders it).
    e2e::poll("progress from the worker", EXPLORE_TIMEOUT, async || {
        let n: u64 = app
            .attr("#explore-rate", "data-states")
            .await?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(n > 0)
    })
    .await?;
    let rate = app.text("#explore-rate").await?;
    if !rate.contains("states/s") {
        bail!("the progress shows no rate: {rate:?}");
    }
    // The page keeps stepping while the worker runs.
    app.blur().await?;
    let (c0, _) = app.step_count().await?;
    app.press_key(Key::Right).await?;
    app.press_key(Key::Right).await?;
    ensure_eq!(
        app.step_count().await?.0,
        c0 + 2,
        "steps taken during the search"
    );
    ensure_eq!(
        phase(app).await?.as_deref(),
        Some("running"),
        "the search while stepping (did it end early?)"
    );
    app.click("#explore-cancel").await?;
    ensure_eq!(
        phase(app).await?.as_deref(),
        Some("cancelled"),
        "after Cancel"
    );
    let title = app.text("#explore-title").await?;
    if !title.starts_with("Cancelled after ") || !title.contains("states") {
        bail!("the panel does not say how far it got: {title:?}");
    }
    // Still responsive, and a new run can start.
    app.press_key(Key::Left).await?;
    ensure_eq!(app.step_count().await?.0, c0 + 1, "back after Cancel");
    Ok(())
}

#[tokio::test]
async fn explore_cancel_keeps_the_page_responsive() -> Result<()> {
    let app = App::start_dist().await?;
    let r = cancel_keeps_page_responsive(&app).await;
    app.finish("explore_cancel_keeps_the_page_responsive", r)
        .await
}
