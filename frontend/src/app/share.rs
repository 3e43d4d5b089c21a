//! Links out of the app: "Copy link" (the self-contained link of what is on screen) and
//! "Share" (the scenario stored on the server, a short link), shown in the link box.

use yew::prelude::*;

use super::ui::{LinkBox, Ui, UiAction};
use crate::dom;
use crate::state::App as AppState;

/// Copy the link of what is on screen (and bring the address bar up to date).
pub fn copy_link(u: &UseReducerDispatcher<Ui>) {
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

pub fn share(state: &AppState, u: &UseReducerDispatcher<Ui>) {
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
