//! "Export": pictures of the stepper for slides — this step as SVG or PNG, a range of steps
//! as SVG files or as an animated GIF. Only the toolbar button lives in the app's wasm (the
//! app's first-load payload is at its budget): its first click loads the dialog
//! (`static/export-dialog.js`), which runs the `export-wasm` module in a Web Worker
//! (`static/export-worker.js`). The pictures are the bytes `mmrace export <link>` writes for
//! the link on screen, which the button puts in the address bar before the dialog reads it.
//! If the dialog's script cannot be loaded, the button says so and its next click retries.

use std::cell::Cell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::dom;

thread_local! {
    static LOADED: Cell<bool> = const { Cell::new(false) };
    /// Failed loads so far: a retry asks for `export-dialog.js?retry=N`, because the
    /// browser remembers a module URL that failed and would not fetch it again.
    static FAILURES: Cell<u32> = const { Cell::new(0) };
}

#[derive(Properties, PartialEq)]
pub struct Props {
    /// The step on screen and the schedule's length (the dialog's default range).
    pub cursor: usize,
    pub len: usize,
}

#[function_component(ExportButton)]
pub fn export_button(p: &Props) -> Html {
    // Set when the dialog's script could not be loaded (offline, a static folder missing
    // the file): said next to the button, and the next click tries again.
    let failed = use_state(|| false);
    let onclick = {
        let failed = failed.clone();
        Callback::from(move |_| {
            // The dialog exports the link in the address bar: make it the one on screen.
            dom::flush_link();
            if LOADED.with(|l| l.replace(true)) {
                return;
            }
            failed.set(false);
            // The module opens the dialog when it loads, then handles later clicks itself.
            let doc = dom::document();
            let Ok(s) = doc.create_element("script") else {
                return;
            };
            let src = match FAILURES.with(Cell::get) {
                0 => "./export-dialog.js".to_string(),
                n => format!("./export-dialog.js?retry={n}"),
            };
            let _ = s.set_attribute("type", "module");
            let _ = s.set_attribute("src", &src);
            let on_error = {
                let failed = failed.clone();
                Closure::once_into_js(move || {
                    LOADED.with(|l| l.set(false));
                    FAILURES.with(|f| f.set(f.get() + 1));
                    failed.set(true);
                })
            };
            let _ = s.add_event_listener_with_callback("error", on_error.unchecked_ref());
            if let Some(head) = doc.head() {
                let _ = head.append_child(&s);
            }
        })
    };
    html! {
        <>
            <button id="export-button" {onclick} data-cursor={p.cursor.to_string()} data-len={p.len.to_string()}
                    title="Export this step or a range of steps as SVG, PNG or an animated GIF, for slides">{ "Export" }</button>
            { for failed.then(|| html! {
                <span class="notice error" id="export-error" role="alert">
                    { "Export could not load export-dialog.js — click Export to retry." }
                </span>
            }) }
        </>
    }
}
