//! The scenario store's API and the short-link pages.
//!
//! - `POST /api/scenarios` — body: a scenario (JSON, format 1). Validated by sim-core (the same
//!   errors as the CLI: `400 {"error": "<path>: <message>", "path": ..., "message": ...}`),
//!   canonicalised (`Scenario::to_json` of the parsed value), explored within a budget,
//!   stored: `201 {"id", "url": "/s/<id>", "api": "/api/scenarios/<id>", "format", "verdict"}`
//!   with `Location`, or `200` with the same body if it was already stored. Limits: 413 (body
//!   size), 400 (JSON depth, invalid scenario), 415 (not JSON), 408 (body too slow), 429 with
//!   `Retry-After` (rate), 503 with `Retry-After` (explorer busy).
//! - `GET /api/scenarios/{id}` — the stored bytes, byte-identical, `Content-Type:
//!   application/json`, `X-Mmrace-Format: <format version>`, `ETag: "<id>"`,
//!   `Cache-Control: public, max-age=31536000, immutable`; 304 for a matching
//!   `If-None-Match`; 404 unknown id; 400 malformed id.
//! - `GET /api/scenarios/{id}/info` — `{"id", "format", "title", "created_at", "verdict", "url",
//!   "api"}`, cached the same way.
//! - `GET /s/{id}[?step=N&schedule=NAME]`, `GET /embed/{id}` — the app page with tags injected
//!   ([`crate::page`] documents the contract): 200, 404 (unknown id), 400 (malformed id).
//! - `GET /api/examples` — the shipped scenario library: path, title, kernel, description,
//!   schedules.
//! - `GET /api/openapi.json` — the OpenAPI 3.1 document.
//!
//! Stored scenarios are immutable, so the hot ones are kept in memory ([`ScenarioCache`]):
//! a read of a cached scenario touches neither the database nor the JSON.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};
use sim_core::scenario::BuildError;
use sim_core::Scenario;

use crate::id;
use crate::page::{self, PageMeta};
use crate::state::AppState;
use crate::store::{Inserted, StoredScenario};
use crate::verdict::{self, Budget, Verdict};

/// The header that carries a stored scenario's format version.
pub const FORMAT_HEADER: HeaderName = HeaderName::from_static("x-mmrace-format");
/// Stored scenarios never change.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const JSON_TYPE: HeaderValue = HeaderValue::from_static("application/json");
const HTML_TYPE: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
/// How long a client is asked to wait when every explorer slot is busy.
const EXPLORER_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The OpenAPI document (hand-written; `tests/api.rs` checks it lists every route).
pub const OPENAPI: &str = include_str!("openapi.json");

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer: a status and the JSON body every error has, `{"error": "<what is
/// wrong, in plain words>", "path": "<JSON path, for scenario errors>", "request_id": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    path: Option<String>,
    retry_after: Option<Duration>,
}

/// The most characters of an error message (values quoted from the input are shortened
/// before this; this bounds everything else).
const MAX_ERROR_CHARS: usize = 1_000;

/// How long a client is asked to wait after a 503 that is not about the explorer.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// The id of the request being answered (set by the middleware around every handler):
    /// in every error body and every log line about the request.
    pub static REQUEST_ID: RequestId;
}

/// A request's id: 16 hex digits, unique within the process and unlikely to repeat across
/// instances; also sent as `X-Request-Id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl RequestId {
    /// The next id: a per-process random start plus a counter, mixed.
    pub fn next() -> RequestId {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::AtomicU64;
        static SEED: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = *SEED.get_or_init(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        RequestId(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
    }

    /// The id of the request being answered, if called inside one.
    pub fn current() -> Option<RequestId> {
        REQUEST_ID.try_with(|id| *id).ok()
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            path: None,
            retry_after: None,
        }
    }

    fn scenario(e: &sim_core::ScenarioError) -> Self {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, e.to_string());
        err.path = Some(e.path.clone());
        err
    }

    fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The store failed: the details go to the log (with the request id), never to the
    /// client, who is told to retry.
    fn store(what: &str, e: &dyn std::error::Error) -> Self {
        let chain = error_chain(e);
        let request_id = RequestId::current().map(|id| id.to_string());
        tracing::error!(request_id, error = %chain, "{what}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{what}: the database did not answer; retry shortly (the server's log has                  the details under this request id)"
            ),
        )
        .retry_after(RETRY_AFTER)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = error_body(
            self.status,
            &self.message,
            self.path.as_deref(),
            RequestId::current(),
        );
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up, at least 1.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

/// The JSON error body every error has: `{"error", "path"?, "request_id"}` (`no-store`).
pub fn error_body(
    status: StatusCode,
    message: &str,
    path: Option<&str>,
    request_id: Option<RequestId>,
) -> Response {
    let message = if message.chars().count() > MAX_ERROR_CHARS {
        let head: String = message.chars().take(MAX_ERROR_CHARS).collect();
        format!("{head}…")
    } else {
        message.to_owned()
    };
    let mut body = serde_json::Map::new();
    body.insert("error".into(), Value::String(message));
    if let Some(path) = path {
        body.insert(
            "path".into(),
            Value::String(sim_core::strict_json::shorten_path(path)),
        );
    }
    if let Some(id) = request_id {
        body.insert("request_id".into(), Value::String(id.to_string()));
    }
    let mut res = (status, Json(Value::Object(body))).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
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

// ---------------------------------------------------------------------------------------------
// The cache of stored scenarios

/// A stored scenario, ready to answer with.
#[derive(Debug)]
pub struct Cached {
    pub id: String,
    pub body: Bytes,
    pub format: i64,
    pub title: String,
    /// For link previews: the scenario's description, or a summary when it has none.
    pub description: String,
    pub verdict: Option<String>,
    pub created_at: String,
    etag: HeaderValue,
    format_header: HeaderValue,
}

impl Cached {
    fn from_row(row: StoredScenario) -> Cached {
        let parsed = std::str::from_utf8(&row.body)
            .ok()
            .and_then(|t| Scenario::from_json(t).ok());
        let (title, description) = match &parsed {
            Some(sc) => (sc.title.clone(), describe(sc)),
            None => (row.title.clone().unwrap_or_default(), String::new()),
        };
        Cached {
            etag: HeaderValue::from_str(&format!("\"{}\"", row.id)).expect("ids are ASCII"),
            format_header: HeaderValue::from(row.format),
            id: row.id,
            body: Bytes::from(row.body),
            format: row.format,
            title,
            description,
            verdict: row.verdict,
            created_at: row.created_at,
        }
    }

    fn size(&self) -> usize {
        self.body.len() + self.title.len() + self.description.len() + 256
    }

    fn verdict_json(&self) -> Value {
        self.verdict
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(Value::Null)
    }
}

/// The description for link previews.
fn describe(sc: &Scenario) -> String {
    if !sc.description.trim().is_empty() {
        return sc.description.clone();
    }
    let names: Vec<&str> = sc.threads.iter().map(|t| t.name.as_str()).collect();
    format!(
        "Linux {}: {} thread{} ({})",
        sc.kernel.label(),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

/// Stored scenarios kept in memory, first in first out within a byte budget. Immutable
/// content: an entry can never be stale.
pub struct ScenarioCache {
    inner: RwLock<CacheInner>,
    max_bytes: usize,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<String, Arc<Cached>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ScenarioCache {
    pub fn new(max_bytes: usize) -> Self {
        ScenarioCache {
            inner: RwLock::new(CacheInner::default()),
            max_bytes,
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Cached>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.map.get(id).cloned()
    }

    pub fn insert(&self, entry: Arc<Cached>) {
        let size = entry.size();
        if size > self.max_bytes {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.map.contains_key(&entry.id) {
            return;
        }
        while inner.bytes + size > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(e) = inner.map.remove(&old) {
                inner.bytes -= e.size();
            }
        }
        inner.bytes += size;
        inner.order.push_back(entry.id.clone());
        inner.map.insert(entry.id.clone(), entry);
    }
}

/// The scenario stored under the canonical `id`: from memory, else from the database.
async fn lookup(state: &AppState, id: &str) -> Result<Option<Arc<Cached>>, ApiError> {
    let shared = &state.shared;
    if let Some(c) = shared.cache.get(id) {
        shared.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(Some(c));
    }
    shared.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
    let row = state
        .store
        .get_scenario(id)
        .await
        .map_err(|e| ApiError::store("cannot read the scenario", &e))?;
    Ok(row.map(|row| {
        let c = Arc::new(Cached::from_row(row));
        shared.cache.insert(c.clone());
        c
    }))
}

fn parse_id(raw: &str) -> Result<String, ApiError> {
    id::parse(raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed scenario id: {e}"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Reading

/// `GET /api/scenarios/{id}`.
pub async fn get_scenario(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    // The request itself rather than a `HeaderMap` extractor, which would copy the headers.
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw)?;
    let Some(c) = lookup(&state, &id).await? else {
        return Err(not_stored(&id));
    };
    let fresh = if_none_match(req.headers(), &c.etag);
    let mut res = if fresh {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let mut res = Response::new(Body::from(c.body.clone()));
        res.headers_mut().insert(header::CONTENT_TYPE, JSON_TYPE);
        res
    };
    let h = res.headers_mut();
    h.reserve(8);
    h.insert(header::ETAG, c.etag.clone());
    h.insert(header::CACHE_CONTROL, IMMUTABLE);
    h.insert(FORMAT_HEADER, c.format_header.clone());
    Ok(res)
}

/// `GET /api/scenarios/{id}/info`.
pub async fn get_info(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw)?;
    let Some(c) = lookup(&state, &id).await? else {
        return Err(not_stored(&id));
    };
    let body = json!({
        "id": c.id,
        "format": c.format,
        "title": c.title,
        "created_at": c.created_at,
        "verdict": c.verdict_json(),
        "url": format!("/s/{}", c.id),
        "api": format!("/api/scenarios/{}", c.id),
    });
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, IMMUTABLE);
    Ok(res)
}

fn not_stored(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no scenario is stored under id {id}"),
    )
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as for GET).
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let want = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == want)
}

// ---------------------------------------------------------------------------------------------
// Uploading

/// `POST /api/scenarios`.
pub async fn upload(State(state): State<AppState>, req: Request<Body>) -> Response {
    match upload_inner(&state, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn upload_inner(state: &AppState, req: Request<Body>) -> Result<Response, ApiError> {
    let shared = &state.shared;
    let limits = &shared.options.limits;

    let client = client_key(&req, &shared.options.trusted_proxies);
    if let Err(wait) = shared.uploads.check(client) {
        shared.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many uploads from this client (the upload rate limit is {} per minute, \
                 bursts of {}); retry in {} s",
                limits.uploads_per_minute,
                limits.upload_burst,
                wait.as_secs() + 1
            ),
        )
        .retry_after(wait));
    }

    // What the body is, before reading it: only plain (identity) JSON is accepted.
    if let Some(coding) = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("(not text)").split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding `{}` is not supported: send the scenario uncompressed \
                 (no Content-Encoding, or identity)",
                sim_core::strict_json::shorten(coding)
            ),
        ));
    }
    // HTTP/1.1 message framing: hyper undoes `chunked`; any other transfer coding would be
    // read as if it were not there.
    if let Some(coding) = req
        .headers()
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("(not text)").split(','))
        .map(str::trim)
        .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"))
    {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "Transfer-Encoding `{}` is not supported: send the body as is or chunked",
                sim_core::strict_json::shorten(coding)
            ),
        ));
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the scenario as JSON with Content-Type: application/json",
        ));
    }

    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {}-byte limit on scenarios ({} KiB)",
                limits.max_body_bytes,
                limits.max_body_bytes / 1024
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limits.max_body_bytes);
    let body = match tokio::time::timeout(limits.body_timeout, body.collect()).await {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (the body timeout)",
                    limits.body_timeout.as_secs_f64()
                ),
            ))
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };

    // Parsing and hashing: CPU work bounded by the body size.
    let max_depth = limits.max_json_depth;
    let prepared = tokio::task::spawn_blocking(move || prepare(&body, max_depth))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;

    // Already stored: it was validated and explored then; nothing to do.
    if let Some(existing) = lookup(state, &prepared.id).await? {
        return Ok(created_response(StatusCode::OK, &existing));
    }

    let verdict = validate_and_explore(state, prepared.scenario.clone()).await?;
    let row = StoredScenario {
        id: prepared.id.clone(),
        format: i64::from(prepared.scenario.format),
        body: prepared.canonical.into_bytes(),
        title: Some(prepared.scenario.title.clone()).filter(|t| !t.is_empty()),
        verdict: verdict.map(|v| serde_json::to_string(&v).expect("verdicts serialise")),
        created_at: crate::store::now_rfc3339(),
    };
    let inserted = state
        .store
        .insert_scenario(&row)
        .await
        .map_err(|e| ApiError::store("cannot store the scenario", &e))?;
    let status = match inserted {
        Inserted::Created => {
            shared
                .metrics
                .scenarios_created
                .fetch_add(1, Ordering::Relaxed);
            shared.metrics.stored_added();
            tracing::info!(id = %row.id, bytes = row.body.len(), "scenario stored");
            StatusCode::CREATED
        }
        // Another request (or instance) stored it meanwhile; answer with what is stored.
        Inserted::Existed => StatusCode::OK,
    };
    let cached = match lookup(state, &row.id).await? {
        Some(c) => c,
        None => Arc::new(Cached::from_row(row)),
    };
    Ok(created_response(status, &cached))
}

fn created_response(status: StatusCode, c: &Cached) -> Response {
    let api = format!("/api/scenarios/{}", c.id);
    let body = json!({
        "id": c.id,
        "url": format!("/s/{}", c.id),
        "api": api,
        "format": c.format,
        "verdict": c.verdict_json(),
    });
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&api) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A validated upload.
struct Prepared {
    scenario: Scenario,
    canonical: String,
    id: String,
}

fn prepare(body: &[u8], max_depth: usize) -> Result<Prepared, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not UTF-8 text: {e}"),
        )
    })?;
    if crate::limits::json_depth_exceeds(body, max_depth) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("JSON nesting deeper than {max_depth} (the nesting depth limit)"),
        ));
    }
    // The format version first: a scenario from a newer mmrace should be told so, not that
    // its new fields are unknown.
    #[derive(serde::Deserialize)]
    struct Version {
        format: Option<Value>,
    }
    if let Ok(Version {
        format: Some(format),
    }) = serde_json::from_str::<Version>(text)
    {
        let supported = sim_core::scenario::FORMAT;
        let message = match &format {
            Value::Number(n) if n.as_u64() == Some(u64::from(supported)) => None,
            Value::Number(n) => Some(format!(
                "unsupported format version {n} (this mmrace reads version {supported})"
            )),
            Value::String(s) => Some(format!(
                "must be the number {supported}, not the string \"{}\"",
                sim_core::strict_json::shorten(s)
            )),
            _ => Some(format!("must be the number {supported}")),
        };
        if let Some(message) = message {
            return Err(ApiError::scenario(&sim_core::ScenarioError {
                path: "format".into(),
                message,
            }));
        }
    }
    // Parsing is bounded by the body size; validation (`build`, which replays every schedule)
    // is not cheap and runs later, under an explorer slot.
    let scenario = Scenario::from_json(text).map_err(|e| ApiError::scenario(&e))?;
    let canonical = scenario.to_json();
    // What is stored must load again everywhere (the app and the CLI refuse scenarios over
    // sim-core's size limit), and the canonical form is pretty-printed: a schedule written
    // as a list takes about five times the bytes it took compactly.
    let max = sim_core::scenario::MAX_JSON_BYTES;
    if canonical.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the scenario is {} bytes in canonical form (pretty-printed, as stored), over \
                 the {max}-byte limit on scenarios; write long schedules compactly (e.g. \
                 \"0x6 1* 0*\") instead of as lists",
                canonical.len()
            ),
        ));
    }
    let id = id::scenario_id(canonical.as_bytes());
    Ok(Prepared {
        scenario,
        canonical,
        id,
    })
}

/// The rate-limiting key of a request ([`crate::limits::client_bucket`] of
/// [`crate::limits::client_address`]).
fn client_key(req: &Request<Body>, trusted: &[crate::limits::Cidr]) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    crate::limits::client_bucket(crate::limits::client_address(peer, forwarded, trusted))
}

/// Sets the flag when dropped: an abandoned upload (the client went away, or the request
/// timed out) stops its work at the next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Counts a piece of upload work in `mmrace_explorer_running` while it lives.
struct Running<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> Running<'a> {
    fn start(gauge: &'a std::sync::atomic::AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Running(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All the CPU work of an upload — validating the scenario (`build`: every check of sim-core,
/// every schedule replayed) and exploring it — on a blocking thread, at most
/// `explorer_concurrency` at a time, under one budget: one deadline
/// (`explorer_max_time` from when the work starts), one cancellation (the request going
/// away), and a limit on the steps replayed to check the schedules. A validation error is a
/// 400, too many replay steps a 422, a deadline reached before validation finished a 503.
async fn validate_and_explore(state: &AppState, sc: Scenario) -> Result<Option<Verdict>, ApiError> {
    let shared = &state.shared;
    let limits = &shared.options.limits;
    let permit = match tokio::time::timeout(
        limits.explorer_wait,
        shared.explorer.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "every explorer slot is busy (the explorer concurrency limit is {}); \
                     retry shortly",
                    limits.explorer_concurrency
                ),
            )
            .retry_after(EXPLORER_RETRY_AFTER))
        }
    };
    let budget = Budget {
        max_states: limits.explorer_max_states,
        max_time: limits.explorer_max_time,
    };
    let max_replay_steps = limits.max_replay_steps;
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let shared2 = shared.clone();
    let task = tokio::task::spawn_blocking(move || {
        // The permit and the gauge live as long as the work, even if the request is
        // abandoned (the work then stops at its next check).
        let _permit = permit;
        let _running = Running::start(&shared2.metrics.explorer_running);
        let deadline = std::time::Instant::now() + budget.max_time;
        let mut keep_going =
            || !cancel.load(Ordering::Relaxed) && std::time::Instant::now() < deadline;
        let mut replay = sim_core::scenario::ReplayBudget {
            max_steps: max_replay_steps,
            keep_going: &mut keep_going,
        };
        let initial = match sc.build_within(&mut replay) {
            Ok(m) => m,
            Err(e) => {
                shared2.metrics.explorer_run(match e {
                    BuildError::Invalid(_) => "invalid",
                    BuildError::TooManySteps { .. } => "replay-limit",
                    BuildError::Stopped => "cancelled",
                });
                return Err(e);
            }
        };
        let v = verdict::verdict_until(&initial, &budget, deadline, &cancel);
        shared2.metrics.explorer_run(match &v {
            Some(v) => v.outcome_label(),
            None => "cancelled",
        });
        Ok(v)
    });
    let done = task
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    match done {
        Ok(v) => Ok(v),
        Err(BuildError::Invalid(e)) => Err(ApiError::scenario(&e)),
        Err(BuildError::TooManySteps { limit }) => {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "checking the schedules needs more than {limit} replayed steps in total \
                     (the server's limit per upload; every schedule is replayed to check it): \
                     use fewer or shorter schedules, or check the scenario locally with \
                     `mmrace run` and `mmrace check`"
                ),
            );
            err.path = Some("schedules".into());
            Err(err)
        }
        Err(BuildError::Stopped) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server could not finish checking the scenario within its {} s budget \
                 per upload (it is busy); retry shortly",
                budget.max_time.as_secs_f64()
            ),
        )
        .retry_after(EXPLORER_RETRY_AFTER)),
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// `GET /s/{id}`.
pub async fn share_page(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Request<Body>,
) -> Response {
    page_response(&state, &raw, req.uri().query(), false).await
}

/// `GET /embed/{id}`.
pub async fn embed_page(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    req: Request<Body>,
) -> Response {
    page_response(&state, &raw, req.uri().query(), true).await
}

async fn page_response(state: &AppState, raw: &str, query: Option<&str>, embed: bool) -> Response {
    let Some(index) = state.frontend.index_html().await else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            "<!doctype html><title>mmrace</title><p>The app's index.html is missing.</p>"
                .to_owned(),
        );
    };
    let (step, schedule) = link_params(query);
    let mut meta = PageMeta {
        step,
        schedule: schedule.as_deref(),
        embed,
        ..PageMeta::default()
    };
    let id = match id::parse(raw) {
        Ok(id) => id,
        Err(e) => {
            let error = format!("malformed scenario id: {e}");
            meta.error = Some(&error);
            return html(StatusCode::BAD_REQUEST, page::inject(&index, &meta));
        }
    };
    meta.id = Some(&id);
    match lookup(state, &id).await {
        Ok(Some(c)) => {
            meta.title = Some(&c.title);
            meta.description = Some(&c.description);
            html(StatusCode::OK, page::inject(&index, &meta))
        }
        Ok(None) => {
            meta.error = Some("no scenario is stored under this id");
            html(StatusCode::NOT_FOUND, page::inject(&index, &meta))
        }
        Err(e) => e.into_response(),
    }
}

fn html(status: StatusCode, page: String) -> Response {
    let mut res = (status, page).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HTML_TYPE);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `step` (a non-negative integer) and `schedule` (a name, at most 64 characters) from a
/// link's query; anything else is ignored.
fn link_params(query: Option<&str>) -> (Option<u64>, Option<String>) {
    let (mut step, mut schedule) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.replace('+', " ");
        let v = percent_encoding::percent_decode_str(&v).decode_utf8_lossy();
        match k {
            "step" if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                step = v.parse().ok();
            }
            "schedule"
                if !v.is_empty() && v.chars().count() <= sim_core::scenario::limits::MAX_NAME =>
            {
                schedule = Some(v.into_owned());
            }
            _ => {}
        }
    }
    (step, schedule)
}

// ---------------------------------------------------------------------------------------------
// Library and documents

/// `GET /api/examples`.
pub async fn examples() -> Response {
    static BODY: OnceLock<Bytes> = OnceLock::new();
    let body = BODY.get_or_init(|| {
        let list: Vec<Value> = sim_core::library::SCENARIOS
            .iter()
            .filter_map(|(path, text)| match Scenario::from_json(text) {
                Ok(sc) => Some(json!({
                    "path": path,
                    "title": sc.title,
                    "kernel": sc.kernel.label(),
                    "what_if": !sc.kernel.what_if.is_empty(),
                    "description": sc.description,
                    "schedules": sc.schedules.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                })),
                Err(e) => {
                    tracing::error!(path, error = %e, "a shipped scenario does not parse");
                    None
                }
            })
            .collect();
        Bytes::from(serde_json::to_vec(&list).expect("serialisable"))
    });
    let mut res = Response::new(Body::from(body.clone()));
    res.headers_mut().insert(header::CONTENT_TYPE, JSON_TYPE);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The JSON Schema of the scenario format, generated from sim-core's types (a sim-core test
/// keeps the file equal to them).
const SCENARIO_SCHEMA: &str = include_str!("../../assets/scenario.schema.json");

/// The OpenAPI document as served: [`OPENAPI`] with the scenario schema put in as the
/// `Scenario` component (its definitions as `Scenario<Name>` components, references
/// rewritten), so that the document describes exactly what the scenario format is.
pub fn openapi_document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        let mut schema: Value =
            serde_json::from_str(SCENARIO_SCHEMA).expect("scenario.schema.json parses");
        let defs = schema
            .as_object_mut()
            .and_then(|o| o.remove("$defs"))
            .unwrap_or(Value::Null);
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        fn rewrite(v: &mut Value) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get_mut("$ref") {
                        if let Some(name) = r.strip_prefix("#/$defs/") {
                            *r = format!("#/components/schemas/Scenario{name}");
                        }
                    }
                    o.values_mut().for_each(rewrite);
                }
                Value::Array(a) => a.iter_mut().for_each(rewrite),
                _ => {}
            }
        }
        rewrite(&mut schema);
        let schemas = doc["components"]["schemas"]
            .as_object_mut()
            .expect("openapi.json has components.schemas");
        if let Value::Object(defs) = defs {
            for (name, mut def) in defs {
                rewrite(&mut def);
                schemas.insert(format!("Scenario{name}"), def);
            }
        }
        schemas.insert("Scenario".to_owned(), schema);
        serde_json::to_string_pretty(&doc).expect("serialisable")
    })
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    let mut res = Response::new(Body::from(openapi_document()));
    res.headers_mut().insert(header::CONTENT_TYPE, JSON_TYPE);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_parameters() {
        assert_eq!(link_params(None), (None, None));
        assert_eq!(link_params(Some("step=17")), (Some(17), None));
        assert_eq!(
            link_params(Some("step=3&schedule=writer%20first")),
            (Some(3), Some("writer first".into()))
        );
        assert_eq!(
            link_params(Some("schedule=a+b&step=-1")),
            (None, Some("a b".into()))
        );
        assert_eq!(link_params(Some("step=x&step=")), (None, None));
        assert_eq!(
            link_params(Some(&format!("schedule={}", "x".repeat(65)))),
            (None, None)
        );
        assert_eq!(
            link_params(Some("step=99999999999999999999999")),
            (None, None)
        );
    }

    #[test]
    fn etag_matching() {
        let etag = HeaderValue::from_static("\"abc\"");
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, &etag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(if_none_match(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, &etag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abcd\""));
        assert!(!if_none_match(&h, &etag));
    }

    #[test]
    fn client_keys() {
        let req = |peer: &str, xff: Option<&str>| {
            let mut r = Request::new(Body::empty());
            r.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            if let Some(x) = xff {
                r.headers_mut()
                    .insert("x-forwarded-for", HeaderValue::from_str(x).unwrap());
            }
            r
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let lb = ["127.0.0.1".parse().unwrap()];
        assert_eq!(client_key(&req("1.2.3.4:5", None), &[]), ip("1.2.3.4"));
        assert_eq!(
            client_key(&req("1.2.3.4:5", Some("9.9.9.9, 8.8.8.8")), &[]),
            ip("1.2.3.4"),
            "X-Forwarded-For is ignored unless the peer is a trusted proxy"
        );
        assert_eq!(
            client_key(&req("127.0.0.1:5", Some("9.9.9.9, 2001:db8:1:2::77")), &lb),
            ip("2001:db8:1:2::"),
            "the entry the proxy appended, bucketed by /64"
        );
        assert_eq!(
            client_key(&req("[2001:db8:1:2:3:4:5:6]:80", None), &[]),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_key(&req("[::ffff:10.0.0.1]:80", None), &[]),
            ip("10.0.0.1")
        );
        assert_eq!(client_key(&Request::new(Body::empty()), &[]), ip("0.0.0.0"));
    }
}
