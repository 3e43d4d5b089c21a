//! mmrace's server and command line (the `mmrace` binary is `src/main.rs`).
//!
//! - [`cli`]: the command line and environment, and what the analysis commands share,
//! - [`run`]: `mmrace run`, the step table of one schedule,
//! - [`check`]: `mmrace check`, every interleaving explored,
//! - [`export`]: `mmrace export`, pictures of steps for slides (the `render` crate),
//! - [`store`]: the database (SQLite or PostgreSQL) and its migrations,
//! - [`state`]: what every request handler can reach ([`state::AppState`]),
//! - [`web`]: the router, the middleware every response goes through, serving with graceful
//!   shutdown,
//! - [`api`]: the scenario store's API and the short-link pages,
//! - [`id`]: content-addressed scenario ids,
//! - [`page`]: the tags injected into the app page for `/s/{id}` and `/embed/{id}`,
//! - [`limits`]: request limits, JSON depth, the upload rate limiter,
//! - [`verdict`]: the explorer run at upload,
//! - [`metrics`]: Prometheus metrics,
//! - [`frontend`]: serving the built web app from a folder or from the binary.

pub mod api;
pub mod check;
pub mod cli;
pub mod export;
pub mod frontend;
pub mod id;
pub mod limits;
pub mod metrics;
pub mod page;
pub mod run;
pub mod state;
pub mod store;
pub mod verdict;
pub mod web;
