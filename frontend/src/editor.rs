//! The authoring panel: "record" (save the schedule on screen into the scenario), narration
//! notes for the step on screen, and the litmus text editor — line numbers, highlighting
//! (a transparent `<textarea>` over a highlighted `<pre>` of the same text and metrics),
//! errors shown at their line as you type, and the state panels following the edited
//! scenario (debounced). The logic is `authoring.rs`.

use std::rc::Rc;

use sim_core::{litmus, Scenario};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::authoring::{self, Add, LineError};
use crate::dom;
use crate::state::App as AppState;

/// How long typing must pause before the edited scenario replaces the one on screen (the
/// replay to the cursor can take a while on long schedules; errors show at once).
const DEBOUNCE_MS: i32 = 300;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub app: Rc<AppState>,
    /// Replace what is on screen (the reducer's `Action::Load`).
    pub on_load: Callback<AppState>,
}

/// One component for the whole panel (each Yew component costs its own copy of the
/// lifecycle code in the wasm).
#[function_component(Authoring)]
pub fn authoring_panel(p: &Props) -> Html {
    let record = use_record(p);
    let builder = use_builder(p);
    let editor = use_editor(p);
    html! {
        <aside class="authoring" id="authoring" aria-label="Authoring">
            { record }
            { builder }
            { editor }
        </aside>
    }
}

// ------------------------------------------------------------------------------ record, notes

fn value_of(r: &NodeRef) -> String {
    if let Some(i) = r.cast::<web_sys::HtmlInputElement>() {
        i.value()
    } else if let Some(t) = r.cast::<web_sys::HtmlTextAreaElement>() {
        t.value()
    } else {
        String::new()
    }
}

/// The record & notes section (hooks of [`Authoring`], called unconditionally and in order).
#[hook]
fn use_record(p: &Props) -> Html {
    let msg = use_state(|| None::<(bool, String)>);
    let name_ref = use_node_ref();
    let note_ref = use_node_ref();
    let app = &p.app;

    let save = {
        let (app, on_load, msg, name_ref) = (
            p.app.clone(),
            p.on_load.clone(),
            msg.clone(),
            name_ref.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let name = value_of(&name_ref);
            match authoring::save_schedule(&app, &name) {
                Ok(a) => {
                    msg.set(Some((
                        true,
                        format!(
                            "Saved {} steps as schedule “{}”.",
                            a.schedule.len(),
                            name.trim()
                        ),
                    )));
                    on_load.emit(a);
                }
                Err(e) => msg.set(Some((false, e))),
            }
        })
    };
    let attach = {
        let (app, on_load, msg, note_ref) = (
            p.app.clone(),
            p.on_load.clone(),
            msg.clone(),
            note_ref.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let text = value_of(&note_ref);
            match authoring::set_note(&app, &text) {
                Ok(a) => {
                    let what = if text.trim().is_empty() {
                        "Note removed"
                    } else {
                        "Note attached"
                    };
                    msg.set(Some((true, format!("{what} at step {}.", a.cursor))));
                    on_load.emit(a);
                }
                Err(e) => msg.set(Some((false, e))),
            }
        })
    };

    let target = authoring::note_target(app);
    let default_name = app
        .named
        .as_ref()
        .map(|n| n.name.clone())
        .unwrap_or_else(|| "recorded".into());
    let note_label = match target {
        Some((name, k)) => format!("Note for step {} of “{name}”", k + 1),
        None if app.cursor == 0 => "Note (step forward first)".to_string(),
        None => "Note (save the schedule first)".to_string(),
    };
    // Re-created when the step or the scenario changes, so it shows that step's note.
    let note_key = format!("{}-{}", app.cursor, Rc::as_ptr(&app.scenario) as usize);
    html! {
        <section class="record" aria-labelledby="record-title">
            <h3 id="record-title">{ "Record & narrate" }</h3>
            <p class="dim">{ "Click threads to step them; the steps so far form the schedule. Save it into the scenario, then attach a note to any step — notes travel with links and show in presentation mode." }</p>
            <div class="row">
                <label for="schedule-name">{ "Schedule name" }</label>
                <input id="schedule-name" type="text" maxlength="64" value={default_name} ref={name_ref} />
                <button id="save-schedule" onclick={save} disabled={app.schedule.is_empty() || app.read_only}
                        title="Save the steps on screen as a named schedule of the scenario">{ format!("Save {} steps", app.schedule.len()) }</button>
            </div>
            <label for="note-text" id="note-label">{ note_label }</label>
            <div class="row">
                <textarea id="note-text" key={note_key} rows="2" maxlength="4000" ref={note_ref}
                          value={app.note().unwrap_or_default().to_string()} disabled={target.is_none()} />
                <button id="attach-note" onclick={attach} disabled={target.is_none()}
                        title="Attach this note to the step on screen (empty removes it)">{ "Attach note" }</button>
            </div>
            { for msg.as_ref().map(|(ok, m)| html! {
                <p id="author-msg" class={classes!("author-msg", (!ok).then_some("error"))} role="status">{ m.clone() }</p>
            }) }
        </section>
    }
}

// ------------------------------------------------------------------------------ builder

/// The value of the `<input>` or `<select>` with this id.
fn val(id: &str) -> String {
    let Some(e) = dom::document().get_element_by_id(id) else {
        return String::new();
    };
    match e.dyn_into::<web_sys::HtmlInputElement>() {
        Ok(i) => i.value(),
        Err(e) => e
            .dyn_into::<web_sys::HtmlSelectElement>()
            .map(|s| s.value())
            .unwrap_or_default(),
    }
}

/// The form `which` (`vma`, `page`, `tlb`, `thread`, `op`) as read from the page.
fn form(which: &str) -> Add {
    match which {
        "vma" => Add::Vma {
            start: val("b-vma-start"),
            end: val("b-vma-end"),
            prot: val("b-vma-prot"),
        },
        "page" => Add::Page {
            thp: val("b-page-kind") == "thp",
            addr: val("b-page-addr"),
            pfn: val("b-page-pfn"),
            data: val("b-page-data"),
        },
        "tlb" => Add::Tlb {
            cpu: val("b-tlb-cpu"),
            addr: val("b-tlb-addr"),
        },
        "thread" => Add::Thread {
            name: val("b-thread-name"),
            cpu: val("b-thread-cpu"),
        },
        _ => Add::Op {
            thread: val("b-op-thread").parse().unwrap_or(usize::MAX),
            kind: val("b-op-kind"),
            fields: (0..authoring::op_form_slots())
                .map(|i| val(&format!("b-op-{i}")))
                .collect(),
        },
    }
}

/// "Build without typing": the scenario's parts with a remove button each, and a form per
/// kind of part (`authoring::builder_html`, one delegated click listener). The text below
/// follows every change.
#[hook]
fn use_builder(p: &Props) -> Html {
    let msg = use_state(|| None::<(bool, String)>);
    let onclick = {
        let (app, on_load, msg) = (p.app.clone(), p.on_load.clone(), msg.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(el) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            else {
                return;
            };
            let sc = &app.scenario;
            let change = if let Some(which) = el.get_attribute("data-add") {
                authoring::add(sc, &form(&which))
            } else if let Some(key) = el.get_attribute("data-remove") {
                match authoring::Part::parse(&key) {
                    Some(part) => authoring::remove(sc, part),
                    None => return,
                }
            } else {
                return;
            };
            match change.and_then(|sc| authoring::reload(&app, sc)) {
                Ok(a) => {
                    msg.set(Some((
                        true,
                        "Done: the text and the panels show it.".into(),
                    )));
                    on_load.emit(a);
                }
                Err(e) => msg.set(Some((false, e))),
            }
        })
    };
    let inner = use_memo(p.app.scenario.clone(), |sc| authoring::builder_html(sc));
    html! {
        <details class="builder" id="builder">
            <summary>{ "Build without typing" }</summary>
            <div class="builder-body" {onclick}>{ Html::from_html_unchecked((*inner).clone().into()) }</div>
            { for msg.as_ref().map(|(ok, m)| html! {
                <p id="builder-msg" class={classes!("author-msg", (!ok).then_some("error"))} role="status">{ m.clone() }</p>
            }) }
        </details>
    }
}

// ------------------------------------------------------------------------------ the text editor

/// The text editor section (hooks of [`Authoring`]).
#[hook]
fn use_editor(p: &Props) -> Html {
    let text = use_state(|| litmus::print(&p.app.scenario));
    // The scenario the editor itself last put on screen: a different one came from elsewhere
    // (the picker, a saved schedule or note), and the text is reprinted from it.
    let produced = use_mut_ref(|| None::<Scenario>);
    let load_error = use_state(|| None::<String>);
    // An error the debounced full check found, with the text it belongs to.
    let late_error = use_state(|| None::<(String, LineError)>);
    {
        let (text, produced, sc) = (text.clone(), produced.clone(), p.app.scenario.clone());
        use_effect_with(Rc::as_ptr(&p.app.scenario) as usize, move |_| {
            if produced.borrow().as_ref() != Some(&*sc) {
                *produced.borrow_mut() = None;
                text.set(litmus::print(&sc));
            }
        });
    }
    let result = use_memo((*text).clone(), |t| authoring::analyse(t));

    // Debounced: the schedules are checked and the edited scenario replaces the one on
    // screen once typing pauses.
    {
        let (app, on_load, produced, load_error, late_error) = (
            p.app.clone(),
            p.on_load.clone(),
            produced.clone(),
            load_error.clone(),
            late_error.clone(),
        );
        let result = result.clone();
        use_effect_with((*text).clone(), move |text| {
            let mut handle = None;
            if let Ok(sc) = &*result {
                if *sc != *app.scenario {
                    let (sc, text) = (sc.clone(), text.clone());
                    let cb = wasm_bindgen::closure::Closure::once_into_js(move || {
                        if let Err(e) = authoring::check_schedules(&text, &sc) {
                            late_error.set(Some((text, e)));
                            return;
                        }
                        late_error.set(None);
                        match authoring::reload(&app, sc.clone()) {
                            Ok(a) => {
                                *produced.borrow_mut() = Some(sc);
                                load_error.set(None);
                                on_load.emit(a);
                            }
                            Err(e) => load_error.set(Some(e)),
                        }
                    });
                    handle = dom::window()
                        .set_timeout_with_callback_and_timeout_and_arguments_0(
                            cb.unchecked_ref(),
                            DEBOUNCE_MS,
                        )
                        .ok();
                }
            }
            move || {
                if let Some(h) = handle {
                    dom::window().clear_timeout_with_handle(h);
                }
            }
        });
    }

    let oninput = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(t) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
            {
                text.set(t.value());
            }
        })
    };

    let late = late_error
        .as_ref()
        .filter(|(t, _)| *t == *text)
        .map(|(_, e)| e);
    let err: Option<&LineError> = (*result).as_ref().err().or(late);
    let (pre, gutter) = authoring::highlight_html(&text, err);
    let status = match (err, &*load_error) {
        (Some(e), _) => html! {
            <p class="ed-status error" id="editor-status" role="status">
                { format!("✗ line {}{}: {}", e.line, e.col.map(|c| format!(":{c}")).unwrap_or_default(), e.message) }
            </p>
        },
        (None, Some(le)) => html! {
            <p class="ed-status error" id="editor-status" role="status">{ format!("✗ {le}") }</p>
        },
        (None, None) => html! {
            <p class="ed-status ok" id="editor-status" role="status">{ "✓ valid — the state panels follow the text" }</p>
        },
    };

    html! {
        <section class="editor" aria-labelledby="editor-title">
            <h3 id="editor-title">{ "Scenario text" }</h3>
            { status }
            <div class="ed-scroll">
                <div class="ed-gutter" aria-hidden="true">{ Html::from_html_unchecked(gutter.into()) }</div>
                <div class="ed-stack">
                    <pre class="ed-hl" aria-hidden="true">{ Html::from_html_unchecked(pre.into()) }</pre>
                    <textarea id="editor-text" class="ed-text" spellcheck="false" autocomplete="off"
                              wrap="off" value={(*text).clone()} {oninput}
                              aria-label="Scenario in the litmus text format"
                              aria-invalid={err.is_some().to_string()} />
                </div>
            </div>
        </section>
    }
}
