//! Authoring in a real browser (issue 7): the litmus editor shows a typed error at its line
//! and, once fixed, the state panels follow the text; a schedule recorded by clicking
//! threads, saved and narrated, travels through Share (and the self-contained link) with its
//! notes; the library page lists, filters and opens the shipped scenarios; the builder's
//! forms add a thread and an operation that the text then shows.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test
//! ui_authoring -- --test-threads=1` (`cargo xtask test` sets both).

use e2e::{bail, dist_dir, ensure_eq, poll, App, Key, Result, DEFAULT_TIMEOUT};
use serde_json::Value;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            bail!($($msg)+);
        }
    };
}

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

async fn cursor(app: &App) -> Result<usize> {
    let c = app.attr(".app", "data-cursor").await?;
    c.as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| e2e::Error::msg(format!("no data-cursor on .app: {c:?}")))
}

async fn state_hash(app: &App) -> Result<String> {
    Ok(app
        .attr(".app", "data-state-hash")
        .await?
        .unwrap_or_default())
}

/// Type `text` key by key into whatever has focus (as a user would).
async fn type_keys(app: &App, text: &str) -> Result<()> {
    for c in text.chars() {
        app.press_key(c).await?;
    }
    Ok(())
}

/// Focus the editor and select `[from, to)` of the first occurrence of `needle`
/// (offsets relative to it); returns the 1-based line it is on.
async fn select_in_editor(app: &App, needle: &str, from: usize, to: usize) -> Result<usize> {
    let script = format!(
        "const t = document.getElementById('editor-text'); t.focus();
         const i = t.value.indexOf({n});
         if (i < 0) return -1;
         t.setSelectionRange(i + {from}, i + {to});
         return t.value.slice(0, i).split('\\n').length;",
        n = serde_json::to_string(needle).unwrap()
    );
    match js(app, &script).await?.as_i64() {
        Some(l) if l > 0 => Ok(l as usize),
        other => bail!("{needle:?} is not in the editor ({other:?})"),
    }
}

async fn editor_typing(app: &App) -> Result<()> {
    open(app, "/").await?;
    app.click("button#author").await?;
    app.wait_for("#editor-text", DEFAULT_TIMEOUT).await?;
    ensure!(
        app.text("#editor-status").await?.starts_with('✓'),
        "the shipped scenario is valid"
    );
    let perms_before = app.text(".vma code.perms").await?;
    ensure_eq!(perms_before.as_str(), "rw-p", "the VMA's permissions");
    let hash_before = state_hash(app).await?;

    // Type `|` after the VMA's protection: "PROT_READ|PROT_WRITE|" is a syntax error there.
    let line = select_in_editor(app, "PROT_READ|PROT_WRITE", 20, 20).await?;
    type_keys(app, "|").await?;
    let sel = format!(".ed-line.ed-error-line[data-line=\"{line}\"]");
    app.wait_for(&sel, DEFAULT_TIMEOUT).await?;
    ensure_eq!(app.count(".ed-error-line").await?, 1, "one line is marked");
    let msg = app.text(&format!("{sel} .ed-msg")).await?;
    ensure!(
        msg.contains("expected"),
        "inline message at line {line}: {msg}"
    );
    ensure_eq!(
        app.text(".ed-ln.error").await?,
        line.to_string(),
        "the gutter marks the line"
    );
    let status = app.text("#editor-status").await?;
    ensure!(
        status.starts_with(&format!("✗ line {line}:")),
        "status: {status}"
    );
    // While the text is wrong the state on screen stays as it was.
    ensure_eq!(state_hash(app).await?, hash_before, "state while invalid");

    // Fix it by going on: PROT_READ|PROT_WRITE|PROT_EXEC. The panels follow (debounced).
    type_keys(app, "PROT_EXEC").await?;
    poll("the status to turn valid", DEFAULT_TIMEOUT, async || {
        Ok(app.text("#editor-status").await?.starts_with('✓'))
    })
    .await?;
    ensure_eq!(app.count(".ed-error-line").await?, 0, "no line marked");
    poll("the VMA panel to show rwx", DEFAULT_TIMEOUT, async || {
        Ok(app.text(".vma code.perms").await? == "rwxp")
    })
    .await?;
    ensure!(
        state_hash(app).await? != hash_before,
        "the state hash changed"
    );
    // The address bar carries the edited scenario.
    poll("the link to carry the edit", DEFAULT_TIMEOUT, async || {
        Ok(js(app, "return location.hash.startsWith('#v1.')")
            .await?
            .as_bool()
            == Some(true))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn typing_an_error_shows_it_at_its_line_and_fixing_it_updates_the_panels() -> Result<()> {
    let app = start().await?;
    let result = editor_typing(&app).await;
    app.finish(
        "typing_an_error_shows_it_at_its_line_and_fixing_it_updates_the_panels",
        result,
    )
    .await
}

async fn set_input(app: &App, css: &str, text: &str) -> Result<()> {
    let el = app.find(css).await?;
    el.clear().await?;
    el.send_keys(text).await?;
    app.settle().await
}

async fn note_text(app: &App) -> Result<String> {
    app.text("#note").await
}

const NOTE_2: &str = "Migration has replaced the PTE by a migration entry.";
const NOTE_4: &str = "mprotect now waits for the PT lock.";

async fn record_and_share(app: &App) -> Result<()> {
    open(app, "/").await?;
    let sel = app.find("#scenario").await?;
    sel.select_by_value("seed-mprotect-vs-migration-v6.4.json")
        .await?;
    app.settle().await?;
    app.find("#schedule").await?.select_by_value("").await?;
    app.settle().await?;
    ensure_eq!(cursor(app).await?, 0, "a free schedule");
    app.click("button#author").await?;
    // Record: click threads.
    for t in [1, 1, 0, 0, 2] {
        app.click(&format!("article[data-thread=\"{t}\"] .thread-head"))
            .await?;
    }
    ensure_eq!(cursor(app).await?, 5, "five steps recorded");
    set_input(app, "#schedule-name", "my-race").await?;
    app.click("button#save-schedule").await?;
    let msg = app.text("#author-msg").await?;
    ensure!(msg.contains("Saved 5 steps"), "message: {msg}");
    ensure_eq!(
        app.find("#schedule").await?.prop("value").await?,
        Some("my-race".to_string()),
        "the schedule picker follows the saved schedule"
    );
    // The text shows the recorded schedule.
    poll("the text to show the schedule", DEFAULT_TIMEOUT, async || {
        Ok(js(
            app,
            "return document.getElementById('editor-text').value.includes('schedule \"my-race\" = [1 1 0 0 2]')",
        )
        .await?
        .as_bool()
            == Some(true))
    })
    .await?;

    // Narrate step 2 and step 4.
    for _ in 0..3 {
        app.click("button#back").await?;
    }
    ensure_eq!(cursor(app).await?, 2, "back at step 2");
    set_input(app, "#note-text", NOTE_2).await?;
    app.click("button#attach-note").await?;
    ensure_eq!(note_text(app).await?, format!("Note {NOTE_2}"), "note 2");
    app.click("button#step").await?;
    app.click("button#step").await?;
    set_input(app, "#note-text", NOTE_4).await?;
    app.click("button#attach-note").await?;
    ensure_eq!(note_text(app).await?, format!("Note {NOTE_4}"), "note 4");
    let text = js(app, "return document.getElementById('editor-text').value").await?;
    let text = text.as_str().unwrap_or_default();
    ensure!(
        text.contains(&format!("note 1 \"{NOTE_2}\""))
            && text.contains(&format!("note 3 \"{NOTE_4}\"")),
        "the text shows the notes: {text}"
    );

    // The self-contained link (address bar) carries them.
    app.click("button#copy-link").await?;
    let link = js(app, "return document.getElementById('link-url').value").await?;
    let link = link.as_str().unwrap_or_default().to_string();
    let frag = link
        .split_once('#')
        .map(|(_, f)| format!("/#{f}"))
        .unwrap_or_default();
    ensure!(frag.starts_with("/#v1."), "link {link}");

    // Share: the short link opens at step 4 with the note, and step 2 has its note.
    app.click("button#share").await?;
    poll("the short link", DEFAULT_TIMEOUT, async || {
        Ok(app
            .text("#link-note")
            .await
            .is_ok_and(|t| t.starts_with("Short link")))
    })
    .await?;
    let url = js(app, "return document.getElementById('link-url').value").await?;
    let url = url.as_str().unwrap_or_default().to_string();
    let path = url
        .split_once("127.0.0.1")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .unwrap_or_default();
    ensure!(
        path.starts_with("/s/") && path.contains("schedule=my-race") && path.contains("step=4"),
        "short link {url}"
    );
    for (what, target) in [
        ("short link", path.as_str()),
        ("self-contained link", &frag),
    ] {
        open(app, "/").await?;
        open(app, target).await?;
        poll(
            &format!("the {what} at step 4"),
            DEFAULT_TIMEOUT,
            async || Ok(cursor(app).await? == 4),
        )
        .await?;
        ensure_eq!(
            note_text(app).await?,
            format!("Note {NOTE_4}"),
            "{what}: note at step 4"
        );
        app.click("button#back").await?;
        app.click("button#back").await?;
        ensure_eq!(
            note_text(app).await?,
            format!("Note {NOTE_2}"),
            "{what}: note at step 2"
        );
    }
    // Presentation mode shows the note.
    js(
        app,
        "document.activeElement && document.activeElement.blur();",
    )
    .await?;
    app.press_key('p').await?;
    app.wait_for(".app.presentation", DEFAULT_TIMEOUT).await?;
    ensure!(
        app.find("#note").await?.is_displayed().await?,
        "the note is visible in presentation mode"
    );
    app.press_key(Key::Escape).await?;
    Ok(())
}

#[tokio::test]
async fn a_recorded_and_narrated_schedule_travels_through_share() -> Result<()> {
    let app = start().await?;
    let result = record_and_share(&app).await;
    app.finish(
        "a_recorded_and_narrated_schedule_travels_through_share",
        result,
    )
    .await
}

async fn gallery(app: &App) -> Result<()> {
    // The library page by its URL.
    open(app, "/#library").await?;
    app.wait_for("#library .card", DEFAULT_TIMEOUT).await?;
    let all = app.count("#library .card").await?;
    ensure!(all >= 20, "{all} cards");
    ensure_eq!(
        js(app, "return location.hash").await?.as_str(),
        Some("#library"),
        "the address bar keeps #library"
    );
    let card = "#library .card[data-path=\"whatif-e-copy-before-flush-v6.4.json\"]";
    let badge = app.text(&format!("{card} .verdict.expected")).await?;
    ensure_eq!(
        badge.as_str(),
        "expected: violates lost-write",
        "the what-if (e) badge"
    );
    // The exhaustive verdicts (assets/verdicts.json): a what-if that breaks v6.4 and a seed
    // scenario that is safe in every interleaving.
    let badge = app.text(&format!("{card} .verdict.exhaustive.bad")).await?;
    ensure_eq!(
        badge.as_str(),
        "violated: lost-write (17 steps)",
        "the what-if (e) exhaustive badge"
    );
    let seed = "#library .card[data-path=\"seed-mprotect-vs-migration-v6.4.json\"]";
    let badge = app.text(&format!("{seed} .verdict.exhaustive.ok")).await?;
    ensure_eq!(
        badge.as_str(),
        "all interleavings: safe · 1833 states",
        "the seed scenario's exhaustive badge"
    );
    let legend = app.text("#library .gallery-legend").await?;
    ensure!(
        legend.contains("every interleaving") && legend.contains("named schedules"),
        "the legend explains both badges: {legend}"
    );
    // Filter by operation and by invariant.
    app.find("#library-op")
        .await?
        .select_by_value("split_huge_pmd")
        .await?;
    app.settle().await?;
    let split = app.count("#library .card").await?;
    ensure!(split > 0 && split < all, "{split} of {all} split cards");
    let with_tag = js(
        app,
        "return [...document.querySelectorAll('#library .card')].every(c => [...c.querySelectorAll('.op-tag')].some(t => t.textContent === 'split_huge_pmd'))",
    )
    .await?;
    ensure_eq!(with_tag.as_bool(), Some(true), "every split card splits");
    app.find("#library-op").await?.select_by_value("").await?;
    app.find("#library-inv")
        .await?
        .select_by_value("lost-write")
        .await?;
    app.settle().await?;
    ensure_eq!(app.count("#library .card").await?, 2, "lost-write cards");
    app.find("#library-inv").await?.select_by_value("").await?;
    app.settle().await?;
    // Text search, then open.
    set_input(app, "#library-search", "stale entry (v6.4)").await?;
    let n = app.count("#library .card").await?;
    ensure_eq!(n, 1, "cards matching the search");
    app.click("#library .card .open-scenario").await?;
    app.wait_for("#step", DEFAULT_TIMEOUT).await?;
    ensure_eq!(app.count("#library").await?, 0, "the library page closed");
    ensure_eq!(
        app.find("#scenario").await?.prop("value").await?,
        Some("whatif-c-restore-from-stale-entry-v6.4.json".to_string()),
        "the opened scenario"
    );
    ensure_eq!(cursor(app).await?, 0, "at step 0");
    poll("the link in the address bar", DEFAULT_TIMEOUT, async || {
        Ok(js(app, "return location.hash.startsWith('#v1.')")
            .await?
            .as_bool()
            == Some(true))
    })
    .await?;
    // It steps.
    app.click("button#step").await?;
    ensure_eq!(cursor(app).await?, 1, "stepped");
    // The header opens the library again.
    app.click("button#open-library").await?;
    app.wait_for("#library .card", DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn the_library_page_filters_and_opens_a_scenario() -> Result<()> {
    let app = start().await?;
    let result = gallery(&app).await;
    app.finish("the_library_page_filters_and_opens_a_scenario", result)
        .await
}

async fn builder(app: &App) -> Result<()> {
    open(app, "/").await?;
    app.click("button#author").await?;
    app.click("#builder summary").await?;
    let threads = app.count("article[data-thread]").await?;
    set_input(app, "#b-thread-name", "reader").await?;
    set_input(app, "#b-thread-cpu", "1").await?;
    app.click("button#b-add-thread").await?;
    poll("the new thread", DEFAULT_TIMEOUT, async || {
        Ok(app.count("article[data-thread]").await? == threads + 1)
    })
    .await?;
    app.find("#b-op-thread")
        .await?
        .select_by_value(&threads.to_string())
        .await?;
    app.find("#b-op-kind")
        .await?
        .select_by_value("read")
        .await?;
    set_input(app, "#b-op-0", "0x7f0000001000").await?;
    app.click("button#b-add-op").await?;
    let want = "thread \"reader\" on cpu 1 {\n  read 0x7f0000001000\n}";
    poll("the text to show the thread", DEFAULT_TIMEOUT, async || {
        let t = js(app, "return document.getElementById('editor-text').value").await?;
        Ok(t.as_str().is_some_and(|t| t.contains(want)))
    })
    .await?;
    // Bad input: the message names the field.
    set_input(app, "#b-vma-start", "").await?;
    app.click("button#b-add-vma").await?;
    let msg = app.text("#builder-msg").await?;
    ensure!(msg.starts_with("start:"), "builder message: {msg}");
    Ok(())
}

#[tokio::test]
async fn the_builder_adds_a_thread_and_an_operation() -> Result<()> {
    let app = start().await?;
    let result = builder(&app).await;
    app.finish("the_builder_adds_a_thread_and_an_operation", result)
        .await
}
