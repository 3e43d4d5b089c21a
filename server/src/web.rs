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

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::api::{self, RequestId};
use crate::state::{AppState, Shared};

/// How long `/healthz` (and the metrics' row count) wait for the database.
const HEALTH_DB_TIMEOUT: Duration = Duration::from_secs(1);
/// After a shutdown signal, how long in-flight requests get to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
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
        .layer(EdgeLayer {
            shared: state.shared.clone(),
        })
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

/// Around every request: the request timeout, the security headers, the metrics, and one
/// structured log event (`debug`; `warn` for 5xx answers). A hand-written tower layer rather
/// than `middleware::from_fn`: no boxing, and no timer at all for the requests answered at
/// the first poll (a stored scenario from memory) — this is the hot path.
#[derive(Clone)]
struct EdgeLayer {
    shared: Arc<Shared>,
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
struct Edge<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> tower::Service<Request<Body>> for Edge<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let route = route_label(req.extensions().get::<MatchedPath>(), req.uri().path());
        let method = method_label(req.method());
        let id = RequestId::next();
        req.extensions_mut().insert(id);
        EdgeFuture {
            inner: api::REQUEST_ID.scope(id, self.inner.call(req)),
            timer: None,
            start: Instant::now(),
            route,
            method,
            id,
            shared: self.shared.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    struct EdgeFuture<F> {
        // The handler runs with its request id in scope (`api::REQUEST_ID`).
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RequestId, F>,
        // Armed at the first Pending only.
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        start: Instant,
        route: &'static str,
        method: &'static str,
        id: RequestId,
        shared: Arc<Shared>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for EdgeFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let timeout = this.shared.options.limits.request_timeout;
        let mut res = match this.inner.poll(cx) {
            Poll::Ready(Ok(res)) => res,
            Poll::Pending => {
                let deadline = tokio::time::Instant::from_std(*this.start + timeout);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                tracing::warn!(
                    route = *this.route,
                    request_id = %this.id,
                    "request timed out after {timeout:?}"
                );
                let mut res = api::error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "the request was not answered within {} s (the server's request \
                         timeout); retry shortly",
                        timeout.as_secs_f64()
                    ),
                    None,
                    Some(*this.id),
                );
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(api::RETRY_AFTER.as_secs()),
                );
                res
            }
        };
        let (route, method) = (*this.route, *this.method);
        // Errors from the framework or the static files (empty or plain text) become the
        // JSON every error is; HTML pages (the short-link pages' own 400/404) stay pages.
        if res.status().as_u16() >= 400 && !is_json_or_html(res.headers()) {
            res = plain_error(res, *this.id, route);
        }
        if let Ok(v) = HeaderValue::from_str(&this.id.to_string()) {
            res.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        security_headers(res.headers_mut(), route == "/embed/{id}");
        let status = res.status().as_u16();
        let took = this.start.elapsed();
        this.shared.metrics.observe(route, method, status, took);
        let latency_us = took.as_micros() as u64;
        let request_id = this.id.to_string();
        if status >= 500 {
            tracing::warn!(
                method,
                route,
                status,
                latency_us,
                request_id,
                "request failed"
            );
        } else {
            tracing::debug!(method, route, status, latency_us, request_id, "request");
        }
        Poll::Ready(Ok(res))
    }
}

/// The header that carries a response's request id (also in every error body).
pub const REQUEST_ID_HEADER: header::HeaderName = header::HeaderName::from_static("x-request-id");

fn is_json_or_html(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"))
}

/// An error answered by the framework rather than a handler (an unknown method, a path it
/// cannot decode, ...), with an empty or plain-text body: the same JSON as every other error,
/// in words of our own (the framework's say things like "bad path").
fn plain_error(res: Response, id: RequestId, route: &str) -> Response {
    let status = res.status();
    let allow = res.headers().get(header::ALLOW).cloned().or_else(|| {
        // The methods the route table gives this path (HEAD wherever GET is).
        let mut methods: Vec<&str> = routes()
            .iter()
            .filter(|(_, p)| *p == route)
            .map(|(m, _)| *m)
            .collect();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        (status == StatusCode::METHOD_NOT_ALLOWED && !methods.is_empty())
            .then(|| HeaderValue::from_str(&methods.join(", ")).ok())
            .flatten()
    });
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => match allow.as_ref().and_then(|v| v.to_str().ok()) {
            Some(methods) => format!("this path answers only {methods}"),
            None => "this path does not answer that method".to_owned(),
        },
        StatusCode::NOT_FOUND => "not found".to_owned(),
        StatusCode::BAD_REQUEST => {
            "the request's path cannot be read: malformed percent-encoding, not UTF-8, or a \
             path that leaves the site (`..`)"
                .to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported content type".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_lowercase(),
    };
    let mut out = api::error_body(status, &message, None, Some(id));
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    if let Some(retry) = res.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    out
}

/// The headers every response carries. Only `/embed/{id}` may be framed (by anyone).
pub fn security_headers(h: &mut HeaderMap, embed: bool) {
    // Built at compile time (`from_static` checks every byte when it runs), inserted after one
    // reservation: this runs on every request.
    const CSP_VALUE: HeaderValue = HeaderValue::from_static(CSP);
    const CSP_EMBED_VALUE: HeaderValue = HeaderValue::from_static(CSP_EMBED);
    const DENY: HeaderValue = HeaderValue::from_static("DENY");
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
    h.reserve(4);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        if embed { CSP_EMBED_VALUE } else { CSP_VALUE },
    );
    if !embed {
        h.insert(header::X_FRAME_OPTIONS, DENY);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::REFERRER_POLICY, NO_REFERRER);
}

/// `/healthz`: 200 `{"status":"up","db":"up"}` after a round trip to the database; 503
/// `{"status":"degraded","db":"down","error":..., "request_id":...}` when the database does
/// not answer within [`HEALTH_DB_TIMEOUT`] (stored scenarios already in memory are still
/// served; uploads and other reads get 503). The database's own error goes to the log only.
async fn healthz(State(state): State<AppState>) -> Response {
    let failure = match tokio::time::timeout(HEALTH_DB_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(api::error_chain(&e)),
        Err(_) => Some(format!(
            "no answer within {} s",
            HEALTH_DB_TIMEOUT.as_secs_f64()
        )),
    };
    match failure {
        None => Json(Health {
            status: "up",
            db: "up",
            error: None,
            request_id: None,
        })
        .into_response(),
        Some(error) => {
            let id = RequestId::current();
            tracing::warn!(request_id = id.map(|i| i.to_string()), %error, "health check: the database does not answer");
            let health = Health {
                status: "degraded",
                db: "down",
                error: Some(
                    "the database does not answer (the server's log has the details under \
                     this request id)",
                ),
                request_id: id.map(|i| i.to_string()),
            };
            let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response();
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(api::RETRY_AFTER.as_secs()),
            );
            res
        }
    }
}

/// The `/healthz` body; a struct so the keys keep this order: `{"status":"up","db":"up"}`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
    db: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

/// How old the cached row count may get before a scrape starts a refresh.
const STORED_GAUGE_MAX_AGE: Duration = Duration::from_secs(15);

/// `/metrics`: never waits for the database. The row count (`mmrace_scenarios_stored`) is
/// the last one read; a scrape that finds it older than [`STORED_GAUGE_MAX_AGE`] starts one
/// refresh in the background (bounded by [`HEALTH_DB_TIMEOUT`]) and answers at once.
async fn metrics(State(state): State<AppState>) -> Response {
    let metrics = &state.shared.metrics;
    if metrics.stored_refresh_due(STORED_GAUGE_MAX_AGE) {
        let state = state.clone();
        tokio::spawn(async move {
            let count =
                tokio::time::timeout(HEALTH_DB_TIMEOUT, state.store.count_scenarios()).await;
            let count = match count {
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => {
                    tracing::warn!(error = %api::error_chain(&e), "metrics: cannot count scenarios");
                    None
                }
                Err(_) => None,
            };
            state.shared.metrics.stored_refreshed(count);
        });
    }
    let mut res = metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(crate) fn api_not_found() -> Response {
    api::error_body(
        StatusCode::NOT_FOUND,
        "no such API route (the routes are listed in /api/openapi.json)",
        None,
        RequestId::current(),
    )
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

/// How long a client may take to send a request's headers (also how long an idle keep-alive
/// connection stays open): a slow or silent client cannot hold a connection for longer.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` until `shutdown` completes; then stop accepting, let in-flight
/// requests finish (at most [`SHUTDOWN_GRACE`]) and return. HTTP/1.1 with keep-alive and a
/// header read timeout ([`HEADER_READ_TIMEOUT`]); handlers see the peer address
/// (`ConnectInfo<SocketAddr>`) for per-client rate limiting.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks as we go.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still running {SHUTDOWN_GRACE:?} after shutdown; dropping them");
        connections.abort_all();
    }
    Ok(())
}
