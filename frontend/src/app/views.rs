//! The root's views that are not panels of the machine: the header (pickers, buttons), the
//! embed's header, the banners' link box, the jump box, the help, and the authoring
//! buttons, panel and library page (full bundle).

use std::rc::Rc;

use sim_core::Scenario;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::share::{copy_link, share};
use super::ui::{LinkBox, Ui, UiAction};
use crate::dom;
#[cfg(feature = "authoring")]
use crate::dom::LIBRARY_HASH;
#[cfg(feature = "authoring")]
use crate::editor::Authoring;
use crate::explore;
#[cfg(feature = "authoring")]
use crate::gallery::Gallery;
use crate::panels;
use crate::state::{self, Action, App as AppState};
use crate::timeline::Timeline;

// ------------------------------------------------------------------------------ the library

struct Entry {
    path: &'static str,
    title: String,
    group: &'static str,
    schedules: Vec<String>,
}

thread_local! {
    static LIBRARY: Vec<Entry> = state::library()
        .iter()
        .filter_map(|(path, json)| {
            let sc = Scenario::from_json(json).ok()?;
            let group = if path.starts_with("seed-") {
                "The seed races (commit 717f95b494ac)"
            } else if path.starts_with("whatif-") {
                "What-if kernels (hypothetical) and controls"
            } else if path.starts_with("mprotect-") {
                "Basics"
            } else {
                "Other races"
            };
            Some(Entry {
                path,
                title: sc.title.clone(),
                group,
                schedules: sc.schedules.iter().map(|s| s.name.clone()).collect(),
            })
        })
        .collect();
}

const GROUPS: [&str; 4] = [
    "Basics",
    "The seed races (commit 717f95b494ac)",
    "What-if kernels (hypothetical) and controls",
    "Other races",
];

/// The chosen value of the `<select>` an event came from.
fn select_value(e: &Event) -> Option<String> {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
        .map(|sel| sel.value())
}

fn scenario_picker(state: &UseReducerHandle<AppState>) -> Html {
    let onchange = {
        let s = state.dispatcher();
        Callback::from(move |e: Event| {
            let Some(path) = select_value(&e) else {
                return;
            };
            if path.is_empty() {
                return;
            }
            s.dispatch(match AppState::from_library(&path, None) {
                Ok(a) => Action::Load(Box::new(a)),
                Err(e) => Action::ShowError(e),
            });
        })
    };
    let current = state.source.unwrap_or("");
    LIBRARY.with(|lib| {
        html! {
            <label class="picker">
                <span class="sr-only">{ "Scenario" }</span>
                <select id="scenario" {onchange} title="The shipped scenarios">
                    { for state.source.is_none().then(|| html! { <option value="" selected=true>{ format!("(from link) {}", state.scenario.title) }</option> }) }
                    { for GROUPS.iter().map(|g| html! {
                        <optgroup label={*g}>
                            { for lib.iter().filter(|e| e.group == *g).map(|e| html! {
                                <option value={e.path} selected={e.path == current}
                                        title={format!("{} — schedules: {}", e.path, e.schedules.join(", "))}>{ e.title.clone() }</option>
                            }) }
                        </optgroup>
                    }) }
                </select>
            </label>
        }
    })
}

fn schedule_picker(state: &UseReducerHandle<AppState>) -> Html {
    let onchange = {
        let s = state.clone();
        Callback::from(move |e: Event| {
            let Some(name) = select_value(&e) else {
                return;
            };
            let name = (!name.is_empty()).then_some(name);
            s.dispatch(match s.with_schedule(name.as_deref()) {
                Ok(a) => Action::Load(Box::new(a)),
                Err(e) => Action::ShowError(e),
            });
        })
    };
    let current = state.named.as_ref().map(|n| n.name.as_str());
    let follows = state.named_prefix == state.schedule.len();
    html! {
        <label class="picker">
            <span class="sr-only">{ "Schedule" }</span>
            <select id="schedule" {onchange} title="The scenario's named schedules (loading one starts at step 0)">
                <option value="" selected={current.is_none()}>{ "free: you schedule" }</option>
                { for state.scenario.schedules.iter().map(|s| {
                    let label = if current == Some(s.name.as_str()) && !follows {
                        format!("{} (modified)", s.name)
                    } else {
                        s.name.clone()
                    };
                    html! { <option value={s.name.clone()} selected={current == Some(s.name.as_str())} title={s.description.clone()}>{ label }</option> }
                }) }
            </select>
        </label>
    }
}

pub fn header(
    state: &UseReducerHandle<AppState>,
    ui: &UseReducerHandle<Ui>,
    _link: &str,
    explore_req: &UseReducerHandle<explore::Requests>,
    authoring: Html,
) -> Html {
    let u = ui.dispatcher();
    let explore = {
        let r = explore_req.dispatcher();
        Callback::from(move |_| r.dispatch(()))
    };
    let share_cb = {
        let u = u.clone();
        let st = state.clone();
        Callback::from(move |_| share(&st, &u))
    };
    let copy = {
        let u = u.clone();
        Callback::from(move |_| copy_link(&u))
    };
    let theme = {
        let u = u.clone();
        Callback::from(move |_| u.dispatch(UiAction::CycleTheme))
    };
    let present = {
        let u = u.clone();
        Callback::from(move |_| u.dispatch(UiAction::TogglePresentation))
    };
    let help = Callback::from(move |_| u.dispatch(UiAction::ToggleHelp));
    html! {
        <header class="toolbar">
            <span class="brand" title="step through Linux mm races">{ "mmrace" }</span>
            { scenario_picker(state) }
            { schedule_picker(state) }
            { panels::kernel_badges(state.machine().kernel()) }
            <span class="spacer"></span>
            <button id="explore" onclick={explore} aria-label="Explore all interleavings" title="Explore all interleavings of this scenario in the background: a verdict per invariant with the shortest counterexample (E)">{ "Explore all" }</button>
            { authoring }
            <button id="share" onclick={share_cb} title="Store the scenario on the server and copy its short link">{ "Share" }</button>
            <button id="copy-link" onclick={copy} title="Copy a self-contained link to exactly this step (C)">{ "Copy link" }</button>
            <crate::export::ExportButton cursor={state.cursor} len={state.schedule.len()} />
            <button id="theme" onclick={theme} title="Theme: auto (system) → light → dark → high contrast (T)">{ format!("◐ {}", ui.theme.name()) }</button>
            <button id="present" onclick={present} title="Presentation mode (P; Esc leaves)">{ "▣ Present" }</button>
            <button id="help-button" onclick={help} title="Keyboard shortcuts (?)" aria-label="Keyboard shortcuts">{ "?" }</button>
        </header>
    }
}

pub fn embed_header(state: &UseReducerHandle<AppState>, link: &str) -> Html {
    html! {
        <header class="toolbar embed-bar">
            <span class="brand">{ "mmrace" }</span>
            <strong class="scenario-title">{ state.scenario.title.clone() }</strong>
            { panels::kernel_badges(state.machine().kernel()) }
            <span class="spacer"></span>
            <a id="open-full" href={dom::full_app_url(link)} target="_blank" rel="noopener">{ "Open in mmrace ↗" }</a>
        </header>
    }
}

pub fn link_box(b: &LinkBox, ui: &UseReducerHandle<Ui>) -> Html {
    let u = ui.dispatcher();
    let close = Callback::from(move |_| u.dispatch(UiAction::CloseLink));
    let msg = match (b.copied, b.url.is_empty()) {
        (_, true) => "",
        (Some(true), _) => "Link copied to the clipboard.",
        (Some(false), _) => "Copying is not allowed here: select the link and copy it.",
        (None, _) => "Copying…",
    };
    let onfocus = Callback::from(|e: FocusEvent| {
        if let Some(i) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        {
            i.select();
        }
    });
    html! {
        <div class="banner link-box" id="link-box" role="status">
            { for b.note.iter().map(|n| html! { <span class="msg link-note" id="link-note">{ n.clone() }</span> }) }
            <span class="msg">{ msg }</span>
            <input id="link-url" type="text" readonly=true value={b.url.clone()} {onfocus}
                   aria-label="Link to this step" size="40" />
            <span class="dim">{ format!("{} characters", b.url.len()) }</span>
            <button class="dismiss" onclick={close} aria-label="Close">{ "✕" }</button>
        </div>
    }
}

pub fn jump_input(state: &UseReducerHandle<AppState>) -> Html {
    let go = {
        let s = state.dispatcher();
        move |input: &web_sys::HtmlInputElement| {
            if let Ok(n) = input.value().trim().parse::<usize>() {
                s.dispatch(Action::Jump(n));
            }
        }
    };
    let onchange = {
        let go = go.clone();
        Callback::from(move |e: Event| {
            if let Some(i) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                go(&i);
            }
        })
    };
    let onkeydown = Callback::from(move |e: KeyboardEvent| {
        if e.key() == "Enter" {
            if let Some(i) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                go(&i);
            }
        }
    });
    html! {
        <label class="jump" title="Jump to step N (G)">
            { "jump to " }
            <input id="jump" type="number" min="0" max={state.schedule.len().to_string()}
                   value={state.cursor.to_string()} {onchange} {onkeydown} />
        </label>
    }
}

pub fn help(ui: &UseReducerHandle<Ui>) -> Html {
    let u = ui.dispatcher();
    let close = Callback::from(move |_| u.dispatch(UiAction::ToggleHelp));
    let keys: &[(&str, &str)] = &[
        ("→  Space  PageDown  N", "step: the next step of the schedule; past its end the selected thread (or the first runnable)"),
        ("S  Shift+→", "step by line: the selected thread (else the next one) until its pseudo-code line changes; each action stays a step"),
        ("←  PageUp  B", "back one step"),
        ("Home / End", "start / end of the loaded schedule"),
        ("0 – 7", "select a thread"),
        ("Enter", "step the selected thread (you become the scheduler)"),
        ("L", "forward to the next lock event"),
        ("V", "forward to the next invariant violation"),
        ("F", "run: to the end of the schedule, then until every thread finished"),
        ("G", "jump to step N"),
        ("C", "copy a link to this exact step"),
        ("E", "explore all interleavings (in the background): a verdict per invariant, Open loads a shortest counterexample"),
        ("P", "presentation mode (large type, high contrast; Esc leaves)"),
        ("T", "theme: auto → light → dark → high contrast"),
        ("?", "this help"),
        ("Esc", "close help, the link box or the exploration panel / leave presentation mode"),
        ("click a thread", "step it; a blocked thread says what it waits for"),
        ("click / drag the timeline", "jump; ↑/↓ on the focused timeline jump 10 steps"),
    ];
    html! {
        <div class="overlay" role="presentation">
            <div class="help" id="help" role="dialog" aria-modal="true" aria-labelledby="help-title">
                <h2 id="help-title">{ "Keyboard shortcuts" }</h2>
                <table>
                    <tbody>
                    { for keys.iter().map(|(k, what)| html! {
                        <tr><th scope="row"><kbd>{ *k }</kbd></th><td>{ *what }</td></tr>
                    }) }
                    </tbody>
                </table>
                <p class="dim">{ "Steps count from 1: “step 5” is the state after the fifth atomic action. Every PTE bit is shown as text and colour; raw values are the real x86-64 encodings." }</p>
                <button id="help-close" onclick={close}>{ "Close" }</button>
            </div>
        </div>
    }
}

/// The header's "Library" and "Author" buttons. In the first-load bundle both load the full
/// bundle (the page reloads with the link of what is on screen, so nothing is lost); the
/// button says so while the editor loads.
pub fn authoring_buttons(library: &UseStateHandle<bool>, authoring: &UseStateHandle<bool>) -> Html {
    // Through the fragment, so that Back returns to the stepper and the page has a URL.
    #[cfg(feature = "authoring")]
    let open_library = Callback::from(|_: MouseEvent| {
        let _ = dom::window().location().set_hash(LIBRARY_HASH);
    });
    #[cfg(not(feature = "authoring"))]
    let open_library = Callback::from(|_: MouseEvent| dom::load_full_bundle(true));
    #[cfg(feature = "authoring")]
    let toggle = {
        let a = authoring.clone();
        Callback::from(move |_: MouseEvent| a.set(!*a))
    };
    #[cfg(not(feature = "authoring"))]
    let toggle = {
        let a = authoring.clone();
        Callback::from(move |_: MouseEvent| {
            a.set(true);
            dom::load_full_bundle(false);
        })
    };
    // Lean bundle: `authoring` only means "the editor is loading".
    let label = if cfg!(feature = "authoring") || !**authoring {
        "✎ Author"
    } else {
        "Loading the editor…"
    };
    html! {
        <>
            <button id="open-library" onclick={open_library} aria-pressed={library.to_string()}
                    title="The scenario library: search the shipped scenarios">{ "Library" }</button>
            <button id="author" onclick={toggle} aria-pressed={authoring.to_string()}
                    title="Edit the scenario as text, record a schedule, narrate steps">{ label }</button>
        </>
    }
}

/// The author panel (full bundle only).
#[cfg(feature = "authoring")]
pub fn authoring_panel(state: &UseReducerHandle<AppState>) -> Html {
    let s = state.dispatcher();
    html! { <Authoring app={Rc::new((**state).clone())}
    on_load={Callback::from(move |a: AppState| s.dispatch(Action::Load(Box::new(a))))} /> }
}

/// The first-load bundle has no author panel (the button loads the full bundle).
#[cfg(not(feature = "authoring"))]
pub fn authoring_panel(_: &UseReducerHandle<AppState>) -> Html {
    html! {}
}

/// The library page in place of the stepper (full bundle only).
#[cfg(feature = "authoring")]
pub fn library_page(state: &UseReducerHandle<AppState>, library: &UseStateHandle<bool>) -> Html {
    let on_open = {
        let (s, l) = (state.dispatcher(), library.clone());
        Callback::from(move |path: &'static str| {
            s.dispatch(match AppState::from_library(path, None) {
                Ok(a) => Action::Load(Box::new(a)),
                Err(e) => Action::ShowError(e),
            });
            l.set(false);
        })
    };
    let on_close = {
        let l = library.clone();
        Callback::from(move |_| l.set(false))
    };
    html! { <Gallery {on_open} {on_close} /> }
}

/// The first-load bundle never shows the library page (`#library` loads the full bundle).
#[cfg(not(feature = "authoring"))]
pub fn library_page(_: &UseReducerHandle<AppState>, _: &UseStateHandle<bool>) -> Html {
    html! {}
}

/// What the screen reader's live region says after a step.
pub fn live_text(state: &AppState) -> String {
    let m = state.machine();
    let len = state.schedule.len();
    match &state.view.last {
        Some(r) => format!(
            "Step {} of {len}. T{} {}, {}: {}{}",
            state.cursor,
            r.thread,
            m.thread_name(r.thread),
            r.func,
            r.explanation,
            if r.violations.is_empty() {
                String::new()
            } else {
                format!(" Invariant broken: {}.", r.violations.join(", "))
            }
        ),
        None => format!("Step 0 of {len}. {}", state.scenario.title),
    }
}

/// The banners: a stored scenario loading, a link that could not be opened, an error, the
/// link box, and the exploration panel.
pub fn banners(
    state: &UseReducerHandle<AppState>,
    ui: &UseReducerHandle<Ui>,
    stored: Option<&super::boot::Stored>,
    explore_req: &UseReducerHandle<explore::Requests>,
) -> Html {
    html! {
        <div class="banners">
        { for stored.map(|s| html! {
            <div class="banner loading-banner" role="status">{ format!("Loading the stored scenario {}…", s.id) }</div>
        }) }
        { for ui.link_error.as_ref().map(|e| {
            let u = ui.dispatcher();
            html! {
                <div class="banner error" id="link-error" role="alert">
                    <strong>{ "This link could not be opened: " }</strong>{ format!("{e}.") }
                    { " Showing the default scenario instead." }
                    <button class="dismiss" onclick={Callback::from(move |_| u.dispatch(UiAction::LinkError(None)))}
                            aria-label="Dismiss">{ "✕" }</button>
                </div>
            }
        }) }
        { for state.error.as_ref().map(|e| {
            let s = state.dispatcher();
            html! {
                <div class="banner error" role="alert">{ e.clone() }
                    <button class="dismiss" onclick={Callback::from(move |_| s.dispatch(Action::ClearError))} aria-label="Dismiss">{ "✕" }</button>
                </div>
            }
        }) }
        { for ui.link_box.as_ref().map(|b| link_box(b, ui)) }
        { for (!ui.embed).then(|| {
            let s = state.dispatcher();
            let on_open = Callback::from(move |(sched, at)| s.dispatch(Action::LoadSchedule(sched, at)));
            html! { <explore::Explore scenario={state.scenario.clone()} requests={explore_req.0} {on_open} /> }
        }) }
        </div>
    }
}

/// The transport: step controls, the jump box, the step count, notices, and the timeline.
pub fn transport(state: &UseReducerHandle<AppState>, names: Rc<Vec<String>>, look: String) -> Html {
    let dispatch = |a: fn() -> Action| {
        let s = state.dispatcher();
        Callback::from(move |_: MouseEvent| s.dispatch(a()))
    };
    let on_jump = {
        let s = state.dispatcher();
        Callback::from(move |n: usize| s.dispatch(Action::Jump(n)))
    };
    let m = state.machine();
    let len = state.schedule.len();
    let can_step = state.cursor < len || (!state.read_only && !m.runnable().is_empty());
    html! {
        <footer class="transport">
            <div class="controls" role="toolbar" aria-label="Stepping">
                <button id="reset" onclick={dispatch(|| Action::Jump(0))} disabled={state.cursor == 0} title="Start (Home)">{ "⇤" }<span class="sr-only">{ "Start" }</span></button>
                <button id="back" onclick={dispatch(|| Action::Back)} disabled={state.cursor == 0} title="Back one step (← or PageUp)">{ "◀ Back" }</button>
                <button id="step" class="primary" onclick={dispatch(|| Action::Step)} disabled={!can_step} title="Step (→, Space or PageDown)">{ "Step ▶" }</button>
                <button id="step-line" onclick={dispatch(|| Action::StepLine)} disabled={!can_step} title="Step by line: the selected thread (or the next one) runs until its pseudo-code line changes (S or Shift+→)">{ "by line ▶" }</button>
                <button id="end" onclick={dispatch(|| Action::Jump(usize::MAX))} disabled={state.cursor >= len} title="End of the loaded schedule (End)">{ "⇥" }<span class="sr-only">{ "End of schedule" }</span></button>
                <span class="sep" aria-hidden="true"></span>
                <button id="next-lock" onclick={dispatch(|| Action::NextLock)} title="Forward to the next step that takes, releases or waits for a lock (L)">{ "next lock ⟳" }</button>
                <button id="next-violation" onclick={dispatch(|| Action::NextViolation)} title="Forward to the next step that breaks an invariant (V)">{ "next violation ✗" }</button>
                { for (!state.read_only).then(|| html! {
                    <button id="finish" onclick={dispatch(|| Action::Finish)} title="Run to the end of the schedule; past it, until every thread finished (F)">{ "run »" }</button>
                }) }
                <span class="sep" aria-hidden="true"></span>
                { jump_input(state) }
                <span class="step-count" id="step-count">{ format!("step {} / {len}", state.cursor) }</span>
                <span class="notice" id="notice" role="status">{ state.notice.clone().unwrap_or_default() }</span>
            </div>
            <Timeline schedule={state.schedule.clone()} summary={state.summary.clone()} cursor={state.cursor}
                      names={names} look={look} {on_jump} />
        </footer>
    }
}
