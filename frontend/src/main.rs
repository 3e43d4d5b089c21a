//! The mmrace web app: a Yew (client-side rendered) front end that runs sim-core in wasm.
//!
//! The UI is a pure function of (scenario, schedule, cursor): [`state::App`] is a reducer
//! over [`state::Action`]s, and every panel renders the machine obtained by replaying the
//! schedule up to the cursor. Stepping back is just a smaller cursor. The URL fragment always
//! holds a self-contained link (`sim_core::link`) to what is on screen.

#[cfg(target_arch = "wasm32")]
mod app;
// The authoring logic is tested natively; its views (`editor`, `gallery`) are wasm-only. In
// wasm all three exist only in the full bundle (feature `authoring`): the first-load bundle
// leaves them out to stay within its size budget.
#[cfg(any(feature = "authoring", not(target_arch = "wasm32")))]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod authoring;
#[cfg(target_arch = "wasm32")]
mod dom;
// The panel is wasm-only; the result reading is tested natively.
#[cfg(all(target_arch = "wasm32", feature = "authoring"))]
mod editor;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod explore;
#[cfg(target_arch = "wasm32")]
mod export;
#[cfg(all(target_arch = "wasm32", feature = "authoring"))]
mod gallery;
#[cfg(target_arch = "wasm32")]
mod panels;
// Natively only the tests use these (the UI that calls them is wasm-only).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod state;
#[cfg(target_arch = "wasm32")]
mod tables;
#[cfg(target_arch = "wasm32")]
mod timeline;

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

/// The frontend only runs in the browser; natively there is nothing to do (this keeps
/// `cargo build --workspace` and clippy happy on the host; the state and the row grouping are
/// tested natively).
#[cfg(not(target_arch = "wasm32"))]
fn main() {}
