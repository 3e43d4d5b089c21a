//! The root component: the reducer, URL/link sync, keyboard, the layout (header, narration,
//! threads, state panels, transport + timeline), presentation mode, themes, help and the embed
//! view.

use std::rc::Rc;

use sim_core::link::Link;
use sim_core::Scenario;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::dom::{self, LIBRARY_HASH};
#[cfg(feature = "authoring")]
use crate::editor::Authoring;
use crate::explore;
#[cfg(feature = "authoring")]
use crate::gallery::Gallery;
use crate::panels::{self, Changed, Threads};
use crate::state::{self, Action, App as AppState};
use crate::tables::PageTables;
use crate::timeline::Timeline;

impl Reducible for AppState {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let next = self.apply(action);
        if next == *self {
            self
        } else {
            Rc::new(next)
        }
    }
}

// ------------------------------------------------------------------------------ view state

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Theme {
    Auto,
    Light,
    Dark,
    Contrast,
}

impl Theme {
    fn name(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::Contrast => "contrast",
        }
    }
    fn parse(s: &str) -> Theme {
        match s {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            "contrast" => Theme::Contrast,
            _ => Theme::Auto,
        }
    }
    fn next(self) -> Theme {
        match self {
            Theme::Auto => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Contrast,
            Theme::Contrast => Theme::Auto,
        }
    }
}

#[derive(Clone, PartialEq)]
pub struct LinkBox {
    url: String,
    copied: Option<bool>,
    /// What kind of link this is (short link from the server, or the self-contained
    /// fallback and why).
    note: Option<String>,
}

#[derive(Clone, PartialEq)]
pub struct Ui {
    presentation: bool,
    theme: Theme,
    /// The theme while presenting (high contrast unless changed with `t`).
    pres_theme: Theme,
    help: bool,
    link_box: Option<LinkBox>,
    link_error: Option<String>,
    embed: bool,
}

impl Ui {
    fn theme(&self) -> Theme {
        if self.presentation {
            self.pres_theme
        } else {
            self.theme
        }
    }
}

pub enum UiAction {
    TogglePresentation,
    ToggleHelp,
    CycleTheme,
    ShowLink(LinkBox),
    CloseLink,
    LinkError(Option<String>),
    Escape,
}

impl Reducible for Ui {
    type Action = UiAction;
    fn reduce(self: Rc<Self>, a: UiAction) -> Rc<Self> {
        let mut u = (*self).clone();
        match a {
            UiAction::TogglePresentation => u.presentation = !u.presentation,
            UiAction::ToggleHelp => u.help = !u.help,
            UiAction::CycleTheme => {
                if u.presentation {
                    u.pres_theme = u.pres_theme.next();
                } else {
                    u.theme = u.theme.next();
                    dom::storage_set("mmrace-theme", u.theme.name());
                }
            }
            UiAction::ShowLink(b) => u.link_box = Some(b),
            UiAction::CloseLink => u.link_box = None,
            UiAction::LinkError(e) => u.link_error = e,
            UiAction::Escape => {
                if u.help {
                    u.help = false;
                } else if u.link_box.is_some() {
                    u.link_box = None;
                } else if u.presentation {
                    u.presentation = false;
                } else {
                    u.link_error = None;
                }
            }
        }
        Rc::new(u)
    }
}

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

// ------------------------------------------------------------------------------ boot

/// A stored scenario to fetch: the page of a short link (`/s/<id>`, `/embed/<id>`).
#[derive(Clone, PartialEq)]
struct Stored {
    id: String,
    step: usize,
    schedule: Option<String>,
}

/// The app at start: the link in the fragment; else the stored scenario the server's page
/// names (fetched after mounting); else the default scenario — with an error to show if the
/// link could not be opened.
fn boot() -> (AppState, Option<String>, Option<Stored>) {
    let h = dom::hash();
    let mut stored = None;
    // The library page (`#library`) shows the gallery over the default scenario.
    let (mut app, err) = if h.is_empty() || h == LIBRARY_HASH {
        let err = dom::meta("mmrace-error");
        if err.is_none() {
            stored = dom::meta("mmrace-scenario").map(|id| Stored {
                id,
                step: dom::meta("mmrace-step")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                schedule: dom::meta("mmrace-schedule"),
            });
        }
        (AppState::default_app(), err)
    } else {
        match Link::decode(&h)
            .map_err(|e| e.to_string())
            .and_then(AppState::from_link)
        {
            Ok(a) => (a, None),
            Err(e) => (AppState::default_app(), Some(e)),
        }
    };
    app.read_only = dom::is_embed();
    (app, err, stored)
}

/// Fetch a stored scenario (`GET /api/scenarios/<id>`) and load it.
async fn fetch_stored(s: Stored) -> Result<AppState, String> {
    let (status, body) = dom::fetch_text(&format!("api/scenarios/{}", s.id))
        .await
        .map_err(|e| format!("the scenario {} could not be fetched: {e}", s.id))?;
    match status {
        200 => {}
        404 => return Err(format!("no scenario is stored under the id {}", s.id)),
        _ => {
            return Err(format!(
                "the server answered {status} for the scenario {}",
                s.id
            ))
        }
    }
    let sc = Scenario::from_json(&body).map_err(|e| format!("the stored scenario: {e}"))?;
    let mut app = AppState::from_scenario(sc, s.schedule.as_deref(), s.step)?;
    app.read_only = dom::is_embed();
    Ok(app)
}

// ------------------------------------------------------------------------------ the root

#[function_component(App)]
pub fn app() -> Html {
    let booted = use_mut_ref(|| Some(boot()));
    let state = use_reducer(|| {
        booted
            .borrow()
            .as_ref()
            .map(|(a, _, _)| a.clone())
            .expect("booted once")
    });
    let stored = use_state(|| booted.borrow().as_ref().and_then(|(_, _, s)| s.clone()));
    let explore_req = use_reducer(explore::Requests::default);
    // `#library` loads the full bundle (boot.js), the only one with the library page.
    let library = use_state(|| cfg!(feature = "authoring") && dom::hash() == LIBRARY_HASH);
    // The full bundle is loaded with `?author` to open the author panel (see `authoring_buttons`).
    #[cfg(feature = "authoring")]
    let authoring = use_state(dom::take_author_request);
    #[cfg(not(feature = "authoring"))]
    let authoring = use_state(|| false);
    let ui = use_reducer(|| {
        let err = booted.borrow_mut().take().and_then(|(_, e, _)| e);
        Ui {
            presentation: false,
            theme: Theme::parse(&dom::storage_get("mmrace-theme").unwrap_or_default()),
            pres_theme: Theme::Contrast,
            help: false,
            link_box: None,
            link_error: err,
            embed: dom::is_embed(),
        }
    });

    // A short link's stored scenario: fetch it, then load it.
    {
        let d = state.dispatcher();
        let u = ui.dispatcher();
        let stored = stored.clone();
        use_effect_with((), move |_| {
            if let Some(s) = (*stored).clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    match fetch_stored(s).await {
                        Ok(a) => d.dispatch(Action::Load(Box::new(a))),
                        Err(e) => u.dispatch(UiAction::LinkError(Some(e))),
                    }
                    stored.set(None);
                });
            }
        });
    }

    // Tell tests (and anyone else) that the app is mounted.
    use_effect_with((), |_| {
        if let Some(l) = dom::document().get_element_by_id("loading") {
            l.remove();
        }
        if let Some(body) = dom::document().body() {
            let _ = body.set_attribute("data-ready", "1");
        }
    });

    // Theme and presentation on <html>, set while rendering (not in an effect) so that
    // children's effects — the timeline reads colours — already see them.
    dom::set_root_attr(
        "data-theme",
        (ui.theme() != Theme::Auto).then_some(ui.theme().name()),
    );
    dom::set_root_attr("data-presentation", ui.presentation.then_some("1"));

    // The address bar always holds the link of what is on screen.
    let link = use_memo(
        (
            Rc::as_ptr(&state.scenario) as usize,
            Rc::as_ptr(&state.schedule) as usize,
            state.cursor,
            state.named_prefix,
        ),
        {
            let s = state.clone();
            move |_| s.link()
        },
    );
    {
        let link = link.clone();
        // On the library page the address bar keeps `#library`.
        use_effect_with((link, *library), move |(link, lib)| {
            dom::set_link(if *lib { "" } else { link })
        });
    }
    // Leaving or reloading the page right after a step: the address bar must be current.
    use_effect_with((), |_| {
        use wasm_bindgen::closure::Closure;
        let cb = Closure::<dyn Fn()>::new(dom::flush_link);
        let w = dom::window();
        let _ = w.add_event_listener_with_callback("pagehide", cb.as_ref().unchecked_ref());
        move || {
            let _ = w.remove_event_listener_with_callback("pagehide", cb.as_ref().unchecked_ref());
            drop(cb);
        }
    });

    // A link pasted into the address bar (only the fragment changes: no reload).
    {
        let d = state.dispatcher();
        let u = ui.dispatcher();
        let library = library.setter();
        use_effect_with((), move |_| {
            use wasm_bindgen::closure::Closure;
            let cb = Closure::<dyn Fn()>::new(move || {
                let h = dom::hash();
                if h == LIBRARY_HASH {
                    if cfg!(feature = "authoring") {
                        library.set(true);
                    } else {
                        // The first-load bundle has no library page: load the full one.
                        dom::load_full_bundle(true);
                    }
                    return;
                }
                if h.is_empty() || h == dom::current_link() {
                    return;
                }
                library.set(false);
                match Link::decode(&h)
                    .map_err(|e| e.to_string())
                    .and_then(AppState::from_link)
                {
                    Ok(mut a) => {
                        a.read_only = dom::is_embed();
                        u.dispatch(UiAction::LinkError(None));
                        d.dispatch(Action::Load(Box::new(a)));
                    }
                    Err(e) => {
                        u.dispatch(UiAction::LinkError(Some(e)));
                        // Put the link of what is on screen back.
                        dom::flush_link();
                    }
                }
            });
            let w = dom::window();
            let _ = w.add_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
            move || {
                let _ = w
                    .remove_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
                drop(cb);
            }
        });
    }

    // Keyboard.
    {
        let d = state.dispatcher();
        let u = ui.dispatcher();
        use_effect_with((), move |_| {
            use wasm_bindgen::closure::Closure;
            let cb =
                Closure::<dyn Fn(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
                    on_key(&e, &d, &u)
                });
            let doc = dom::document();
            let _ = doc.add_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
            move || {
                let _ =
                    doc.remove_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
                drop(cb);
            }
        });
    }

    // After every render: keep each thread's current line in view.
    use_effect(|| {
        dom::scroll_current_lines();
    });

    // Focus the help dialog's close button when it opens.
    use_effect_with(ui.help, |open| {
        if *open {
            dom::focus("help-close");
        }
    });

    let dispatch = |a: fn() -> Action| {
        let s = state.dispatcher();
        Callback::from(move |_: MouseEvent| s.dispatch(a()))
    };
    let step_thread = {
        let s = state.dispatcher();
        Callback::from(move |t: usize| s.dispatch(Action::StepThread(t)))
    };
    let on_jump = {
        let s = state.dispatcher();
        Callback::from(move |n: usize| s.dispatch(Action::Jump(n)))
    };

    let m = state.machine();
    let v = &state.view;
    let changed = Changed::of(m, v.last.as_ref());
    let len = state.schedule.len();
    let can_step = state.cursor < len || (!state.read_only && !m.runnable().is_empty());
    let names: Rc<Vec<String>> = Rc::new(m.spec.threads.iter().map(|t| t.name.clone()).collect());
    let violated = !v.violated_ids().is_empty();
    let live = match &v.last {
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
    };
    let look = format!("{}-{}-{}", ui.theme().name(), ui.presentation, names.len());

    let mut root = classes!("app");
    if ui.presentation {
        root.push("presentation");
    }
    if ui.embed {
        root.push("embed");
    }
    if violated {
        root.push("violated");
    }
    // In the lean bundle `authoring` only means "the full bundle is loading".
    let show_authoring =
        cfg!(feature = "authoring") && *authoring && !ui.presentation && !ui.embed && !*library;
    if show_authoring {
        root.push("authoring-open");
    }

    html! {
        <div class={root} data-cursor={state.cursor.to_string()}
             data-state-hash={format!("{:016x}", m.state_hash())}>
            { if ui.embed { embed_header(&state, &link) } else { header(&state, &ui, &link, &explore_req, authoring_buttons(&library, &authoring)) } }
            <div class="banners">
            { for stored.as_ref().map(|s| html! {
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
            { for ui.link_box.as_ref().map(|b| link_box(b, &ui)) }
            { for (!ui.embed).then(|| {
                let s = state.dispatcher();
                let on_open = Callback::from(move |(sched, at)| s.dispatch(Action::LoadSchedule(sched, at)));
                html! { <explore::Explore scenario={state.scenario.clone()} requests={explore_req.0} {on_open} /> }
            }) }
            </div>
            { if *library { library_page(&state, &library) } else { html! { <>
            { for show_authoring.then(|| authoring_panel(&state)) }
            { panels::narration(&state) }
            <div id="live" class="sr-only" aria-live="polite" aria-atomic="true">{ live }</div>
            <main class="main">
                <Threads app={Rc::new((*state).clone())} on_step={step_thread} />
                <div class="state">
                    <div class="col col-mem">
                        { panels::vmas(m, &changed) }
                        <PageTables view={v.clone()} />
                    </div>
                    <div class="col col-locks">
                        { panels::locks(m, &changed) }
                        { panels::tlbs(m, &changed) }
                    </div>
                    <div class="col col-inv">
                        { panels::invariants(m, v) }
                        { panels::folios(m, &changed) }
                    </div>
                </div>
            </main>
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
                    { jump_input(&state) }
                    <span class="step-count" id="step-count">{ format!("step {} / {len}", state.cursor) }</span>
                    <span class="notice" id="notice" role="status">{ state.notice.clone().unwrap_or_default() }</span>
                </div>
                <Timeline schedule={state.schedule.clone()} summary={state.summary.clone()} cursor={state.cursor}
                          names={names.clone()} look={look} on_jump={on_jump} />
            </footer>
            </> } } }
            { if ui.help { help(&ui) } else { html! {} } }
        </div>
    }
}

fn on_key(
    e: &web_sys::KeyboardEvent,
    d: &UseReducerDispatcher<AppState>,
    u: &UseReducerDispatcher<Ui>,
) {
    // The library page hides the stepper: its keys would step what is not on screen.
    if e.ctrl_key() || e.meta_key() || e.alt_key() || dom::hash() == LIBRARY_HASH {
        return;
    }
    let target = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
    let tag = target
        .as_ref()
        .map(|t| t.tag_name().to_ascii_uppercase())
        .unwrap_or_default();
    let key = e.key();
    if matches!(tag.as_str(), "INPUT" | "SELECT" | "TEXTAREA") {
        if key == "Escape" {
            if let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = el.blur();
            }
        }
        return;
    }
    // A control focused from the keyboard keeps Space/Enter for itself.
    let control_focus = target.as_ref().is_some_and(|t| {
        t.matches("button, a, summary").unwrap_or(false)
            && t.matches(":focus-visible").unwrap_or(false)
    });
    let act = |a: Action| d.dispatch(a);
    match key.as_str() {
        "ArrowRight" if e.shift_key() => act(Action::StepLine),
        "s" | "S" => act(Action::StepLine),
        "ArrowRight" | "PageDown" | "n" => act(Action::Step),
        " " if !control_focus => act(Action::Step),
        "Enter" if !control_focus => act(Action::StepSelected),
        "ArrowLeft" | "PageUp" | "b" => act(Action::Back),
        "Home" => act(Action::Jump(0)),
        "End" => act(Action::Jump(usize::MAX)),
        "l" | "L" => act(Action::NextLock),
        "v" | "V" => act(Action::NextViolation),
        "f" | "F" => act(Action::Finish),
        "g" | "G" => dom::focus("jump"),
        "p" | "P" => u.dispatch(UiAction::TogglePresentation),
        "t" | "T" => u.dispatch(UiAction::CycleTheme),
        "?" => u.dispatch(UiAction::ToggleHelp),
        "c" | "C" => copy_link(u),
        "e" | "E" => explore::click("explore"),
        "Escape" => {
            // Innermost first: the help and the link box, then the exploration panel, then
            // presentation mode and the link error (the `Ui` reducer's order).
            let shown = |id: &str| dom::document().get_element_by_id(id).is_some();
            if !shown("help") && !shown("link-box") && shown("explore-close") {
                explore::click("explore-close");
            } else {
                u.dispatch(UiAction::Escape);
            }
            act(Action::ClearNotice);
        }
        k if k.len() == 1 && k.as_bytes()[0].is_ascii_digit() => {
            act(Action::Select((k.as_bytes()[0] - b'0') as usize))
        }
        _ => return,
    }
    e.prevent_default();
}

/// Copy the link of what is on screen (and bring the address bar up to date).
fn copy_link(u: &UseReducerDispatcher<Ui>) {
    dom::flush_link();
    let url = dom::url_with_hash(&dom::current_link());
    show_and_copy(u, url, None);
}

/// Show `url` in the link box and copy it.
fn show_and_copy(u: &UseReducerDispatcher<Ui>, url: String, note: Option<String>) {
    u.dispatch(UiAction::ShowLink(LinkBox {
        url: url.clone(),
        copied: None,
        note: note.clone(),
    }));
    let u2 = u.clone();
    let shown = url.clone();
    dom::copy_text(&url, move |ok| {
        u2.dispatch(UiAction::ShowLink(LinkBox {
            url: shown,
            copied: Some(ok),
            note,
        }));
    });
}

/// What "Share" uploads: the scenario, with the schedule on screen as a named schedule (the
/// loaded one if the steps still follow it, else one named `shared`), and the step to open.
fn share_payload(state: &AppState) -> (String, String, usize) {
    let mut sc = (*state.scenario).clone();
    let name = match &state.named {
        Some(n) if state.named_prefix == state.schedule.len() && *n.steps == *state.schedule => {
            n.name.clone()
        }
        _ => {
            let mut name = "shared".to_string();
            let mut i = 2;
            while sc.schedules.iter().any(|s| s.name == name) {
                name = format!("shared-{i}");
                i += 1;
            }
            sc.schedules.push(sim_core::scenario::NamedSchedule {
                name: name.clone(),
                description: String::new(),
                steps: sim_core::scenario::Steps::List((*state.schedule).clone()),
                expect: None,
                notes: Default::default(),
            });
            name
        }
    };
    // Compact: the server stores its own canonical form, and the compact serializer is the
    // one the link encoder already links in (`to_json`'s pretty one would add a second copy).
    let json = serde_json::to_string(&sc).expect("a scenario serialises");
    (json, name, state.cursor)
}

/// Upload the scenario (`POST /api/scenarios`) and show its short link; without a server
/// (a static folder, offline) fall back to the self-contained link and say so.
/// What `POST /api/scenarios` answers: `{"url": ...}` (and more), or `{"error": ...}`.
#[derive(serde::Deserialize)]
struct Reply {
    url: Option<String>,
    error: Option<String>,
}

fn share(state: &AppState, u: &UseReducerDispatcher<Ui>) {
    let (json, name, step) = share_payload(state);
    u.dispatch(UiAction::ShowLink(LinkBox {
        url: String::new(),
        copied: None,
        note: Some("Uploading to the server…".into()),
    }));
    let u = u.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let reply = dom::post_json("api/scenarios", &json).await;
        let short = match &reply {
            Ok((200 | 201, body)) => serde_json::from_str::<Reply>(body).ok().and_then(|r| r.url),
            _ => None,
        };
        match short {
            Some(path) => {
                let enc: String = name
                    .bytes()
                    .map(|b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                let url = format!("{}{path}?schedule={enc}&step={step}", dom::origin());
                show_and_copy(
                    &u,
                    url,
                    Some(
                        "Short link: the scenario is stored on this server and will not change."
                            .into(),
                    ),
                );
            }
            None => {
                let why = match reply {
                    Ok((status, body)) => {
                        let msg = serde_json::from_str::<Reply>(&body)
                            .ok()
                            .and_then(|r| r.error)
                            .unwrap_or_default();
                        format!("the server answered {status} {msg}")
                    }
                    Err(_) => "no mmrace server is reachable".to_string(),
                };
                dom::flush_link();
                let url = dom::url_with_hash(&dom::current_link());
                show_and_copy(
                    &u,
                    url,
                    Some(format!(
                        "Could not store a short link ({}): here is the self-contained link instead — it works without any server.",
                        why.trim()
                    )),
                );
            }
        }
    });
}

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

fn header(
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

fn embed_header(state: &UseReducerHandle<AppState>, link: &str) -> Html {
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

fn link_box(b: &LinkBox, ui: &UseReducerHandle<Ui>) -> Html {
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

fn jump_input(state: &UseReducerHandle<AppState>) -> Html {
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

fn help(ui: &UseReducerHandle<Ui>) -> Html {
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
fn authoring_buttons(library: &UseStateHandle<bool>, authoring: &UseStateHandle<bool>) -> Html {
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
fn authoring_panel(state: &UseReducerHandle<AppState>) -> Html {
    let s = state.dispatcher();
    html! { <Authoring app={Rc::new((**state).clone())}
    on_load={Callback::from(move |a: AppState| s.dispatch(Action::Load(Box::new(a))))} /> }
}

/// The first-load bundle has no author panel (the button loads the full bundle).
#[cfg(not(feature = "authoring"))]
fn authoring_panel(_: &UseReducerHandle<AppState>) -> Html {
    html! {}
}

/// The library page in place of the stepper (full bundle only).
#[cfg(feature = "authoring")]
fn library_page(state: &UseReducerHandle<AppState>, library: &UseStateHandle<bool>) -> Html {
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
fn library_page(_: &UseReducerHandle<AppState>, _: &UseStateHandle<bool>) -> Html {
    html! {}
}
