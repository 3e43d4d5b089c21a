//! The root component's effects, one hook each: a listener on the window or the document
//! (added once, removed on unmount), the stored scenario of a short link, the "mounted"
//! marker, the address bar's link, links pasted into the address bar, the keyboard, and
//! keeping each listing's current line in view.

use std::rc::Rc;

use sim_core::link::Link;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::boot::{fetch_stored, Stored};
use super::keys::on_key;
use super::ui::{Ui, UiAction};
use crate::dom::{self, LIBRARY_HASH};
use crate::state::{Action, App as AppState};

/// Where a listener goes.
#[derive(Clone, Copy)]
pub enum On {
    Window,
    Document,
}

/// Listen to `event` on the window or the document for the component's lifetime. The
/// handler is fixed at mount: it should only hold dispatchers and setters (which stay valid).
#[hook]
pub fn use_listener<F>(on: On, event: &'static str, handler: F)
where
    F: Fn(web_sys::Event) + 'static,
{
    let handler = use_mut_ref(|| Some(handler));
    use_effect_with((), move |_| {
        let f = handler.borrow_mut().take().expect("mounted once");
        let cb = Closure::<dyn Fn(web_sys::Event)>::new(f);
        let target: web_sys::EventTarget = match on {
            On::Window => dom::window().into(),
            On::Document => dom::document().into(),
        };
        let _ = target.add_event_listener_with_callback(event, cb.as_ref().unchecked_ref());
        move || {
            let _ = target.remove_event_listener_with_callback(event, cb.as_ref().unchecked_ref());
            drop(cb);
        }
    });
}

/// A short link's stored scenario: fetch it after mounting, then load it (or say why not).
#[hook]
pub fn use_stored_scenario(
    stored: UseStateHandle<Option<Stored>>,
    state: UseReducerDispatcher<AppState>,
    ui: UseReducerDispatcher<Ui>,
) {
    use_effect_with((), move |_| {
        if let Some(s) = (*stored).clone() {
            wasm_bindgen_futures::spawn_local(async move {
                match fetch_stored(s).await {
                    Ok(a) => state.dispatch(Action::Load(Box::new(a))),
                    Err(e) => ui.dispatch(UiAction::LinkError(Some(e))),
                }
                stored.set(None);
            });
        }
    });
}

/// Tell tests (and anyone else) that the app is mounted: the loading text goes, and
/// `<body data-ready="1">`.
#[hook]
pub fn use_ready_marker() {
    use_effect_with((), |_| {
        if let Some(l) = dom::document().get_element_by_id("loading") {
            l.remove();
        }
        if let Some(body) = dom::document().body() {
            let _ = body.set_attribute("data-ready", "1");
        }
    });
}

/// The address bar always holds the link of what is on screen (on the library page it keeps
/// `#library`), also when the page is left or reloaded right after a step. Returns the link.
#[hook]
pub fn use_link_sync(state: &UseReducerHandle<AppState>, library: bool) -> Rc<String> {
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
        use_effect_with((link, library), move |(link, lib)| {
            dom::set_link(if *lib { "" } else { link })
        });
    }
    use_listener(On::Window, "pagehide", |_| dom::flush_link());
    link
}

/// A link pasted into the address bar (only the fragment changes: no reload) replaces what
/// is on screen; `#library` opens the library page.
#[hook]
pub fn use_hash_navigation(
    state: UseReducerDispatcher<AppState>,
    ui: UseReducerDispatcher<Ui>,
    library: UseStateSetter<bool>,
) {
    use_listener(On::Window, "hashchange", move |_| {
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
                ui.dispatch(UiAction::LinkError(None));
                state.dispatch(Action::Load(Box::new(a)));
            }
            Err(e) => {
                ui.dispatch(UiAction::LinkError(Some(e)));
                // Put the link of what is on screen back.
                dom::flush_link();
            }
        }
    });
}

/// The keyboard (see [`on_key`]).
#[hook]
pub fn use_keyboard(state: UseReducerDispatcher<AppState>, ui: UseReducerDispatcher<Ui>) {
    use_listener(On::Document, "keydown", move |e: web_sys::Event| {
        if let Some(k) = e.dyn_ref::<web_sys::KeyboardEvent>() {
            on_key(k, &state, &ui);
        }
    });
}

/// After every render, keep each thread's current line in view (scrolling the listing only).
#[hook]
pub fn use_current_lines_in_view() {
    use_effect(|| {
        dom::scroll_current_lines();
    });
}
