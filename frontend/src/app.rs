//! The root component: the reducer, the toolbar and the panel layout.

use std::rc::Rc;

use yew::prelude::*;

use crate::panels;
use crate::state::{Action, App as AppState};

impl Reducible for AppState {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        Rc::new(self.apply(action))
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| {
        AppState::new(AppState::default_scenario(), Vec::new(), 0)
            .expect("the default scenario builds")
    });

    // Tell tests (and anyone else) that the app is mounted.
    use_effect_with((), |_| {
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-ready", "1");
        }
    });

    // Keyboard: →/Space/PageDown step, ←/PageUp back, Home/End, digits choose a thread.
    {
        let d = state.dispatcher();
        use_effect_with((), move |_| {
            use wasm_bindgen::closure::Closure;
            use wasm_bindgen::JsCast;
            let cb = Closure::<dyn Fn(web_sys::KeyboardEvent)>::new(move |e: web_sys::KeyboardEvent| {
                if e.ctrl_key() || e.meta_key() || e.alt_key() {
                    return;
                }
                let action = match e.key().as_str() {
                    "ArrowRight" | " " | "PageDown" => Action::Step,
                    "ArrowLeft" | "PageUp" => Action::Back,
                    "Home" => Action::Reset,
                    "End" => Action::Jump(usize::MAX),
                    k if k.len() == 1 && k.as_bytes()[0].is_ascii_digit() => {
                        Action::Select((k.as_bytes()[0] - b'0') as usize)
                    }
                    _ => return,
                };
                e.prevent_default();
                d.dispatch(action);
            });
            let doc = web_sys::window().and_then(|w| w.document());
            if let Some(doc) = &doc {
                let _ = doc.add_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
            }
            move || {
                if let Some(doc) = doc {
                    let _ = doc.remove_event_listener_with_callback("keydown", cb.as_ref().unchecked_ref());
                }
                drop(cb);
            }
        });
    }

    let step = {
        let s = state.clone();
        Callback::from(move |_| s.dispatch(Action::Step))
    };
    let back = {
        let s = state.clone();
        Callback::from(move |_| s.dispatch(Action::Back))
    };
    let reset = {
        let s = state.clone();
        Callback::from(move |_| s.dispatch(Action::Reset))
    };
    let step_thread = {
        let s = state.clone();
        Callback::from(move |t: usize| s.dispatch(Action::StepThread(t)))
    };

    let m = &state.view.machine;
    let last = state.view.last.as_ref();
    let sc = &state.scenario;
    let finished = m.runnable().is_empty();
    html! {
        <div class="app">
            <header class="toolbar">
                <h1 class="title">{ "mmrace" }</h1>
                <span class="scenario-title">{ sc.title.clone() }</span>
                <span class="kernel" title="kernel behaviour modelled">{ m.kernel().label() }</span>
                <div class="controls" role="toolbar" aria-label="Stepping">
                    <button id="reset" onclick={reset} disabled={state.cursor == 0}>{ "⏮ Reset" }</button>
                    <button id="back" onclick={back} disabled={state.cursor == 0}>{ "◀ Back" }</button>
                    <button id="step" onclick={step} disabled={finished && state.cursor >= state.schedule.len()}>{ "Step ▶" }</button>
                    <span class="step-count" id="step-count">{ format!("step {} / {}", state.cursor, state.schedule.len()) }</span>
                </div>
            </header>
            if let Some(e) = &state.error {
                <div class="error" role="alert">{ e.clone() }</div>
            }
            <section class="narration" id="narration" aria-live="polite">
                {
                    match last {
                        Some(r) => html! {
                            <>
                                <span class="who">{ format!("{} · {}", m.thread_name(r.thread), r.func) }</span>
                                <span class="text">{ r.explanation.clone() }</span>
                            </>
                        },
                        None => html! { <span class="text">{ sc.description.clone() }</span> },
                    }
                }
            </section>
            <main class="panels">
                { panels::threads(m, last, step_thread) }
                <div class="column">
                    { panels::vmas(m, last) }
                    { panels::page_tables(m, last) }
                </div>
                <div class="column">
                    { panels::locks(m) }
                    { panels::tlbs(m, last) }
                    { panels::folios(m, last) }
                    { panels::invariants(m) }
                </div>
            </main>
        </div>
    }
}
