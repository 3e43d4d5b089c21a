//! The mmrace web app: a Yew (client-side rendered) front end that runs sim-core in wasm.
//!
//! The UI is a pure function of (scenario, schedule, cursor): [`state::App`] is a reducer
//! over [`state::Action`]s, and every panel renders the machine obtained by replaying the
//! schedule up to the cursor. Stepping back is just a smaller cursor.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod panels;
mod state;

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

/// The frontend only runs in the browser; natively there is nothing to do (this keeps
/// `cargo build --workspace` and clippy happy on the host).
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let _ = state::App::default_scenario();
}
