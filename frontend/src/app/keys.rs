//! The keyboard: every shortcut the help lists (`views::help`), on the document.

use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::share::copy_link;
use super::ui::{Ui, UiAction};
use crate::dom::{self, LIBRARY_HASH};
use crate::explore;
use crate::state::{Action, App as AppState};

pub fn on_key(
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
