//! The HTTP side: routes, the middleware every response goes through, and serving with
//! graceful shutdown.
//!
//! Routes (also in the OpenAPI document, `src/openapi.json`, served at `/api/openapi.json`;
//! a test checks that both list the same routes):
//! - `GET /healthz` — 200 `{"status":"ok","db":"ok"}` after a round trip to the database,
//!   503 with the error otherwise;
//! - `GET /metrics` — Prometheus text ([`crate::metrics`]);
//! - `GET /api/openapi.json`, `GET /api/examples`, `POST /api/scenarios`,
//!   `GET /api/scenarios/{id}`, `GET /api/scenarios/{id}/info`, `GET /s/{id}`,
//!   `GET /embed/{id}` — see [`crate::api`];
//! - other `/api/...` paths — a JSON 404, never the app's index.html;
//! - everything else — the frontend ([`Frontend::respond`]).
//!
//! Every response gets the security headers ([`security_headers`]), is bounded by the request
//! timeout (503 with a message naming it), and is counted in the metrics.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::api::{self, ScenarioCache};
use crate::frontend::Frontend;
use crate::limits::{Limits, RateLimiter};
use crate::metrics::Metrics;
use crate::store::Store;

/// How long `/healthz` waits for the database before answering 503.
const HEALTH_DB_TIMEOUT: Duration = Duration::from_secs(3);
/// After a shutdown signal, how long in-flight requests get to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Memory for stored scenarios kept hot (they are immutable, so never stale).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The Content-Security-Policy of every page but `/embed/`: only the app's own script, style
/// and wasm; no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                       style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       base-uri 'self'; form-action 'self'; object-src 'none'; \
                       frame-ancestors 'none'";
/// The same for `/embed/{id}`, the one page any site may frame.
pub const CSP_EMBED: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                             style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                             base-uri 'self'; form-action 'self'; object-src 'none'; \
                             frame-ancestors *";

/// Options of the HTTP layer beyond the store and the frontend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub limits: Limits,
    /// Take the client address for rate limiting from the last `X-Forwarded-For` entry
    /// (behind a reverse proxy or load balancer that sets it), not from the socket.
    pub trust_forwarded_for: bool,
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

/// Every routed path with its methods, as the router is built from it ([`router`]). The
/// OpenAPI document must list exactly these.
fn route_table() -> Vec<(
    &'static [&'static str],
    &'static str,
    MethodRouter<AppState>,
)> {
    vec![
        (&["GET"], "/healthz", get(healthz)),
        (&["GET"], "/metrics", get(metrics)),
        (&["GET"], "/api/openapi.json", get(api::openapi)),
        (&["GET"], "/api/examples", get(api::examples)),
        (&["POST"], "/api/scenarios", post(api::upload)),
        (&["GET"], "/api/scenarios/{id}", get(api::get_scenario)),
        (&["GET"], "/api/scenarios/{id}/info", get(api::get_info)),
        (&["GET"], "/s/{id}", get(api::share_page)),
        (&["GET"], "/embed/{id}", get(api::embed_page)),
    ]
}

/// `(method, path template)` of every route, e.g. `("GET", "/api/scenarios/{id}")`.
pub fn routes() -> &'static [(&'static str, &'static str)] {
    static ROUTES: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        route_table()
            .into_iter()
            .flat_map(|(methods, path, _)| methods.iter().map(move |&m| (m, path)))
            .collect()
    })
}

/// The whole application as a router (tests drive it in-process).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in route_table() {
        router = router.route(path, method_router);
    }
    router
        .fallback(frontend)
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The route label for metrics: the matched template, or what kind of unrouted path.
fn route_label(matched: Option<&MatchedPath>, path: &str) -> &'static str {
    if let Some(m) = matched {
        if let Some((_, p)) = routes().iter().find(|(_, p)| *p == m.as_str()) {
            return p;
        }
    }
    let api = crate::frontend::asset_path(path).is_some_and(|p| p.split('/').next() == Some("api"));
    if api {
        "/api/(unknown)"
    } else {
        "(frontend)"
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Around every request: the request timeout, the security headers, the metrics.
async fn edge(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(req.extensions().get::<MatchedPath>(), req.uri().path());
    let method = method_label(req.method());
    let timeout = state.shared.options.limits.request_timeout;
    let mut res = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(route, "request timed out after {timeout:?}");
            api::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request was not answered within {} s (the server's request timeout)",
                    timeout.as_secs_f64()
                ),
            )
        }
    };
    security_headers(res.headers_mut(), route == "/embed/{id}");
    state
        .shared
        .metrics
        .observe(route, method, res.status().as_u16(), start.elapsed());
    res
}

/// The headers every response carries. Only `/embed/{id}` may be framed (by anyone).
pub fn security_headers(h: &mut HeaderMap, embed: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if embed { CSP_EMBED } else { CSP }),
    );
    if !embed {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

async fn healthz(State(state): State<AppState>) -> Response {
    let db = match tokio::time::timeout(HEALTH_DB_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(error_chain(&e)),
        Err(_) => Err(format!(
            "no answer from the database within {HEALTH_DB_TIMEOUT:?}"
        )),
    };
    match db {
        Ok(()) => Json(Health {
            status: "ok",
            db: "ok",
            error: None,
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database not ok");
            let health = Health {
                status: "error",
                db: "error",
                error: Some(error),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response()
        }
    }
}

/// The `/healthz` body; a struct so the keys keep this order: `{"status":"ok","db":"ok"}`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    db: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn metrics(State(state): State<AppState>) -> Response {
    let stored = match tokio::time::timeout(HEALTH_DB_TIMEOUT, state.store.count_scenarios()).await
    {
        Ok(Ok(n)) => Some(n),
        Ok(Err(e)) => {
            tracing::warn!(error = %error_chain(&e), "metrics: cannot count scenarios");
            None
        }
        Err(_) => None,
    };
    let mut res = state.shared.metrics.render(stored).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(crate) fn api_not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

async fn frontend(State(state): State<AppState>, req: Request<Body>) -> Response {
    // Routed API paths never get here; no other spelling of the prefix (`/api/`, `//api/x`,
    // `/%61pi/x`) may fall through to the app's index.html.
    if let Some(path) = crate::frontend::asset_path(req.uri().path()) {
        if path.split('/').next() == Some("api") {
            return api_not_found();
        }
    }
    state.frontend.respond(req).await
}

/// `error: cause: cause` on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    let mut previous = s.clone();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !previous.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        previous = text;
        source = cause.source();
    }
    s
}

/// Serve `app` on `listener` until `shutdown` completes; then stop accepting, let in-flight
/// requests finish (at most [`SHUTDOWN_GRACE`]) and return. Handlers see the peer address
/// (`ConnectInfo<SocketAddr>`) for per-client rate limiting.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = signalled.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests");
        notify.notify_one();
    })
    .into_future();
    tokio::select! {
        res = server => res,
        () = async {
            signalled.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown; dropping them");
            Ok(())
        }
    }
}
