//! What every request handler can reach: the store, the frontend, the options and the
//! per-process state shared by all requests (metrics, the scenario cache, the upload rate
//! limiter, the explorer slots). Built once at start ([`AppState::with_options`]); cheap to
//! clone.

use std::sync::Arc;

use crate::api::ScenarioCache;
use crate::frontend::Frontend;
use crate::limits::{Limits, RateLimiter};
use crate::metrics::Metrics;
use crate::store::Store;

/// Memory for stored scenarios kept hot (they are immutable, so never stale).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Options of the HTTP layer beyond the store and the frontend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub limits: Limits,
    /// Reverse proxies / load balancers whose `X-Forwarded-For` entries are believed (for
    /// rate limiting by client address); empty: the header is ignored.
    pub trusted_proxies: Vec<crate::limits::Cidr>,
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub frontend: Arc<Frontend>,
    pub shared: Arc<Shared>,
}

/// Per-process state shared by all requests.
pub struct Shared {
    pub options: Options,
    pub metrics: Metrics,
    pub cache: ScenarioCache,
    pub uploads: RateLimiter,
    pub explorer: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Default options (the limits a production server runs with).
    pub fn new(store: Store, frontend: Frontend) -> Self {
        Self::with_options(store, frontend, Options::default())
    }

    pub fn with_options(store: Store, frontend: Frontend, options: Options) -> Self {
        let limits = &options.limits;
        let shared = Shared {
            metrics: Metrics::default(),
            cache: ScenarioCache::new(CACHE_BYTES),
            uploads: RateLimiter::new(limits.uploads_per_minute, limits.upload_burst),
            explorer: Arc::new(tokio::sync::Semaphore::new(
                limits.explorer_concurrency.max(1),
            )),
            options,
        };
        AppState {
            store,
            frontend: Arc::new(frontend),
            shared: Arc::new(shared),
        }
    }
}
