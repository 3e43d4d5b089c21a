//! "Export": pictures of the stepper for slides — this step as SVG or PNG, a range of steps
//! as SVG files or as an animated GIF. Only the toolbar button lives in the app's wasm (the
//! app's first-load payload is at its budget): its first click loads the dialog
//! (`static/export-dialog.js`), which runs the `export-wasm` module in a Web Worker
//! (`static/export-worker.js`). The pictures are the bytes `mmrace export <link>` writes for
//! the link on screen, which the button puts in the address bar before the dialog reads it.

use std::cell::Cell;

use yew::prelude::*;

use crate::dom;

thread_local! {
    static LOADED: Cell<bool> = const { Cell::new(false) };
}

#[derive(Properties, PartialEq)]
pub struct Props {
    /// The step on screen and the schedule's length (the dialog's default range).
    pub cursor: usize,
    pub len: usize,
}

#[function_component(ExportButton)]
pub fn export_button(p: &Props) -> Html {
    let onclick = Callback::from(|_| {
        // The dialog exports the link in the address bar: make it the one on screen.
        dom::flush_link();
        if !LOADED.with(|l| l.replace(true)) {
            // The module opens the dialog when it loads, then handles later clicks itself.
            let doc = dom::document();
            if let Ok(s) = doc.create_element("script") {
                let _ = s.set_attribute("type", "module");
                let _ = s.set_attribute("src", "./export-dialog.js");
                if let Some(head) = doc.head() {
                    let _ = head.append_child(&s);
                }
            }
        }
    });
    html! {
        <button id="export-button" {onclick} data-cursor={p.cursor.to_string()} data-len={p.len.to_string()}
                title="Export this step or a range of steps as SVG, PNG or an animated GIF, for slides">{ "Export" }</button>
    }
}
