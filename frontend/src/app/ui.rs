//! The view state that is not the stepper's: theme, presentation mode, help, the link box and
//! the link error — a small reducer of its own, beside the stepper's (`state::App`).

use std::rc::Rc;

use yew::prelude::*;

use crate::dom;
use crate::state::{Action, App as AppState};

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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Theme {
    Auto,
    Light,
    Dark,
    Contrast,
}

impl Theme {
    pub fn name(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::Contrast => "contrast",
        }
    }
    pub fn parse(s: &str) -> Theme {
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
    pub url: String,
    pub copied: Option<bool>,
    /// What kind of link this is (short link from the server, or the self-contained
    /// fallback and why).
    pub note: Option<String>,
}

#[derive(Clone, PartialEq)]
pub struct Ui {
    pub presentation: bool,
    pub theme: Theme,
    /// The theme while presenting (high contrast unless changed with `t`).
    pub pres_theme: Theme,
    pub help: bool,
    pub link_box: Option<LinkBox>,
    pub link_error: Option<String>,
    pub embed: bool,
}

impl Ui {
    pub fn new(link_error: Option<String>) -> Ui {
        Ui {
            presentation: false,
            theme: Theme::parse(&dom::storage_get("mmrace-theme").unwrap_or_default()),
            pres_theme: Theme::Contrast,
            help: false,
            link_box: None,
            link_error,
            embed: dom::is_embed(),
        }
    }

    pub fn theme(&self) -> Theme {
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
