//! What the app opens on: the link in the fragment, else the stored scenario a short-link
//! page names (fetched after mounting), else the default scenario.

use sim_core::link::Link;
use sim_core::Scenario;

use crate::dom::{self, LIBRARY_HASH};
use crate::state::App as AppState;

/// A stored scenario to fetch: the page of a short link (`/s/<id>`, `/embed/<id>`).
#[derive(Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    step: usize,
    schedule: Option<String>,
}

/// The app at start: the link in the fragment; else the stored scenario the server's page
/// names (fetched after mounting); else the default scenario — with an error to show if the
/// link could not be opened.
pub fn boot() -> (AppState, Option<String>, Option<Stored>) {
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
pub async fn fetch_stored(s: Stored) -> Result<AppState, String> {
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
