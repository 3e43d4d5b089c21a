//! Serving the built frontend (the Yew app: index.html, JS glue, wasm, CSS, images).
//!
//! Three sources, chosen once at start ([`Frontend::select`]):
//! - a folder given with `--static-dir` (frontend development; wins over the embedded copy),
//! - the `dist/` folder embedded in the binary (cargo feature `embed`, release builds),
//! - nothing: every page says how to build the frontend.
//!
//! The rules are the same for all three: the request path is percent-decoded and checked
//! once here ([`asset_path`]) — `..`, backslashes and NUL are refused with 400 before any
//! source sees the path; `/` and `/dir/` mean `index.html`; the Content-Type comes from one
//! table ([`content_type`]); and a path that is not a file gets the app's `index.html` with
//! status 200 (the app routes client-side) — unless it names a file with an extension and the
//! client did not ask for HTML, so a missing `/app.js` is a 404 rather than a page of HTML
//! that the browser would try to run as JavaScript.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Where the frontend comes from.
#[derive(Debug, Clone)]
pub enum Frontend {
    /// `--static-dir`: files are read from this folder on every request.
    Dir(PathBuf),
    /// `dist/` compiled into the binary.
    #[cfg(feature = "embed")]
    Embedded,
    /// No frontend available.
    Missing,
}

/// The message shown at `/` when there is no frontend.
pub const NOT_BUILT_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mmrace: frontend not built</title></head>
<body>
<h1>mmrace: the frontend is not built</h1>
<p>This server has no frontend to serve: it was built without the embedded app and started
without <code>--static-dir</code>. The API (for example <a href=\"/healthz\">/healthz</a>) works.</p>
<p>To build the frontend and serve it, run from the source tree:</p>
<pre>cargo xtask serve</pre>
<p>or, with a frontend already built into <code>dist/</code>, run
<code>mmrace serve --static-dir dist</code>, or build the server with it embedded:
<code>cargo build --release -p server --features embed</code>.</p>
</body></html>
";

impl Frontend {
    /// The folder wins (frontend development against a release binary); then the embedded
    /// copy, if it was compiled in and has an `index.html`; otherwise nothing.
    pub fn select(static_dir: Option<PathBuf>) -> Frontend {
        if let Some(dir) = static_dir {
            if !dir.join("index.html").is_file() {
                tracing::warn!(dir = %dir.display(), "--static-dir has no index.html");
            }
            return Frontend::Dir(dir);
        }
        #[cfg(feature = "embed")]
        {
            if embedded::Dist::get("index.html").is_some() {
                return Frontend::Embedded;
            }
            tracing::warn!("the embedded frontend has no index.html; serving none");
        }
        Frontend::Missing
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        match self {
            Frontend::Dir(dir) => format!("folder {}", dir.display()),
            #[cfg(feature = "embed")]
            Frontend::Embedded => "embedded in the binary".to_owned(),
            Frontend::Missing => "none (not built)".to_owned(),
        }
    }

    /// The app's `index.html` (for the short-link pages, which inject tags into it):
    /// read from the folder on every call (frontend development), from the binary, or the
    /// "not built" page.
    pub async fn index_html(&self) -> Option<String> {
        match self {
            Frontend::Dir(dir) => tokio::fs::read_to_string(dir.join("index.html")).await.ok(),
            #[cfg(feature = "embed")]
            Frontend::Embedded => embedded::Dist::get("index.html")
                .map(|f| String::from_utf8_lossy(&f.data).into_owned()),
            Frontend::Missing => Some(NOT_BUILT_PAGE.to_owned()),
        }
    }

    /// Answer a request for a frontend path (anything not routed elsewhere).
    pub async fn respond(&self, req: Request<Body>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut res = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
        let Some(path) = asset_path(req.uri().path()) else {
            return plain(StatusCode::BAD_REQUEST, "bad path\n");
        };
        let spa = spa_fallback_allowed(&req);
        match self {
            Frontend::Dir(dir) => serve_dir(dir, &path, spa, req).await,
            #[cfg(feature = "embed")]
            Frontend::Embedded => embedded::serve(&path, spa, &req),
            Frontend::Missing => {
                if spa {
                    let mut res = (StatusCode::OK, NOT_BUILT_PAGE).into_response();
                    set_type(&mut res, "text/html; charset=utf-8");
                    res
                } else {
                    not_found()
                }
            }
        }
    }
}

/// The decoded, checked path of a frontend request, relative to the root, with `/` as the
/// separator and without empty segments; a trailing `/` (a folder) becomes `.../index.html`.
/// `None` if the path tries to leave the root or is otherwise unsafe: a `..` segment (also
/// percent-encoded, also double-encoded), a backslash, a NUL byte, or invalid UTF-8.
pub fn asset_path(uri_path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    // Refuse what a second decoding by anything downstream would turn into traversal.
    let twice = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy();
    for candidate in [&*decoded, &*twice] {
        if candidate.contains(['\\', '\0']) || candidate.split('/').any(|segment| segment == "..") {
            return None;
        }
    }
    let mut segments: Vec<&str> = decoded
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if decoded.is_empty() || decoded.ends_with('/') {
        segments.push("index.html");
    }
    Some(segments.join("/"))
}

/// May a request that matches no file be answered with `index.html`? Yes for a folder
/// (`/`, `/x/`) and an app route (last segment without an extension, such as `/s/abc`), and
/// whenever the client asks for HTML (a browser navigating); no for a missing asset file such
/// as `/frontend_bg.wasm` fetched by a script.
fn spa_fallback_allowed(req: &Request<Body>) -> bool {
    let last = req.uri().path().rsplit('/').next().unwrap_or("");
    let has_extension = last.rfind('.').is_some_and(|i| i > 0);
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    !has_extension || wants_html
}

/// The Content-Type for a file name, by extension. One table for every source, so that the
/// folder and the embedded copy answer alike (JS as `text/javascript`, wasm as
/// `application/wasm` — browsers refuse to stream-compile wasm under any other type).
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn serve_dir(dir: &Path, path: &str, spa: bool, req: Request<Body>) -> Response<Body> {
    // ServeDir decodes and checks the original path itself (the same way); keep the request
    // parts to ask for index.html with the same headers (conditional requests) if needed.
    let (parts, _body) = req.into_parts();
    let fallback_parts = parts.clone();
    let Ok(res) = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .oneshot(Request::from_parts(parts, Body::empty()))
        .await;
    if res.status() != StatusCode::NOT_FOUND {
        let mut res = res.map(Body::new);
        fix_type(&mut res, path);
        return res;
    }
    if !spa {
        return not_found();
    }
    let Ok(index) = ServeFile::new(dir.join("index.html"))
        .oneshot(Request::from_parts(fallback_parts, Body::empty()))
        .await;
    if index.status() == StatusCode::NOT_FOUND {
        return not_found();
    }
    let mut index = index.map(Body::new);
    fix_type(&mut index, "index.html");
    index
}

/// Replace mime_guess's Content-Type with ours on a successful file response.
fn fix_type(res: &mut Response<Body>, path: &str) {
    if res.status().is_success() {
        set_type(res, content_type(path));
    }
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn set_type(res: &mut Response<Body>, ty: &'static str) {
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
}

fn plain(status: StatusCode, msg: &'static str) -> Response<Body> {
    let mut res = (status, msg).into_response();
    set_type(&mut res, "text/plain; charset=utf-8");
    res
}

fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(feature = "embed")]
mod embedded {
    use super::*;

    /// The built frontend, `dist/` at the workspace root (`server/build.rs` reruns the build
    /// when it changes).
    #[derive(rust_embed::Embed)]
    #[folder = "../dist/"]
    pub struct Dist;

    pub fn serve(path: &str, spa: bool, req: &Request<Body>) -> Response<Body> {
        let (name, file) = match Dist::get(path) {
            Some(file) => (path, file),
            None if spa => match Dist::get("index.html") {
                Some(file) => ("index.html", file),
                None => return not_found(),
            },
            None => return not_found(),
        };
        // Revalidate every time (names are not content-hashed), cheaply: a strong ETag from
        // the SHA-256 that rust-embed computed at build time.
        let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()));
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut res = if fresh {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            res
        } else {
            let mut res = Response::new(Body::from(file.data));
            set_type(&mut res, content_type(name));
            res
        };
        let headers = res.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, etag);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        res
    }

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths() {
        assert_eq!(asset_path("/").as_deref(), Some("index.html"));
        assert_eq!(asset_path("").as_deref(), Some("index.html"));
        assert_eq!(asset_path("/app.js").as_deref(), Some("app.js"));
        assert_eq!(asset_path("//a/./b/").as_deref(), Some("a/b/index.html"));
        assert_eq!(asset_path("/a%20b.css").as_deref(), Some("a b.css"));
        assert_eq!(asset_path("/s/abc").as_deref(), Some("s/abc"));
        for bad in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/..",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2fetc%2fpasswd",
            "/a/%2e%2e%2f%2e%2e%2fetc",
            "/%252e%252e/etc/passwd",
            "/..%5c..%5cwindows",
            "/a\\b",
            "/a%00.js",
            "/%ff",
        ] {
            assert_eq!(asset_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("a/frontend.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("frontend_bg.wasm"), "application/wasm");
        assert_eq!(content_type("style.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("logo.png"), "image/png");
        assert_eq!(content_type("scenarios.json"), "application/json");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
        assert_eq!(content_type(".hidden"), "application/octet-stream");
    }
}
