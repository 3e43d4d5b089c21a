//! Short links in a real browser, against the release binary: a scenario uploaded to
//! `POST /api/scenarios` opens from `/s/<id>?step=N` at step N; HTML and script in its title
//! are shown as text and never run; `/embed/<id>` opens in embed mode; an unknown id shows a
//! message; the pages carry the security headers.
//!
//! The server ↔ app contract (server/src/page.rs, README "Short links"): the page for
//! `/s/<id>` and `/embed/<id>` is index.html with, in `<head>`, `<base href="/">`,
//! `<meta name="mmrace-scenario" content="<id>">` (the app fetches `/api/scenarios/<id>`),
//! `<meta name="mmrace-step" content="N">` for `?step=N`, `<meta name="mmrace-schedule"
//! content="NAME">` for `?schedule=NAME`, `<meta name="mmrace-embed" content="1">` on
//! `/embed/`, and `<meta name="mmrace-error" content="...">` when the link cannot open a
//! scenario (malformed or unknown id).
//!
//! DOM used here (the frontend's): `body[data-ready="1"]` once mounted, `.app[data-cursor]`
//! the current step, `.scenario-title` the scenario's title, `[role="alert"]` an error.
//!
//! Run: `MMRACE_BIN=<abs mmrace> MMRACE_DIST=<abs dist> cargo test -p e2e --test server_links
//! -- --test-threads=1` (`cargo xtask test` does).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use e2e::{bail, ensure_eq, App, Result, Server, DEFAULT_TIMEOUT};
use serde_json::Value;

const READY: &str = "body[data-ready=\"1\"]";

/// A title full of markup: if any of it ran, `window.__pwned` would be set.
const EVIL_TITLE: &str =
    "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>\
                          \"'><b>mprotect</b> vs migration & friends";

/// `POST /api/scenarios` over a plain socket: (status, JSON body).
fn upload(addr: SocketAddr, body: &str) -> Result<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST /api/scenarios HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let Some((head, rest)) = raw.split_once("\r\n\r\n") else {
        bail!("POST /api/scenarios: malformed response {raw:?}");
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Small JSON answers; tolerate chunked encoding by taking the JSON object in the body.
    let json = rest
        .find('{')
        .and_then(|i| rest.rfind('}').map(|j| &rest[i..=j]))
        .unwrap_or("null");
    Ok((status, serde_json::from_str(json)?))
}

/// The seed scenario (mprotect vs migration, v6.4) with `title`.
fn scenario(title: &str) -> Result<String> {
    let path = e2e::workspace_root().join("assets/scenarios/seed-mprotect-vs-migration-v6.4.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    v["title"] = Value::from(title);
    Ok(v.to_string())
}

fn store(server: &Server, title: &str) -> Result<String> {
    let (status, body) = upload(server.addr(), &scenario(title)?)?;
    if status != 201 && status != 200 {
        bail!("upload answered {status}: {body}");
    }
    match body["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("upload answered without an id: {body}"),
    }
}

async fn js(app: &App, script: &str) -> Result<Value> {
    Ok(app.client().execute(script, vec![]).await?)
}

/// Wait until the app shows step `n` (the scenario is fetched asynchronously).
async fn wait_cursor(app: &App, n: usize) -> Result<()> {
    let start = Instant::now();
    loop {
        let cursor = app.attr(".app", "data-cursor").await?;
        if cursor.as_deref() == Some(&n.to_string()) {
            return Ok(());
        }
        if start.elapsed() > DEFAULT_TIMEOUT {
            bail!("the app did not open at step {n} (data-cursor is {cursor:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn opens_at_step_and_title_is_inert(app: &App) -> Result<()> {
    let id = store(app.server(), EVIL_TITLE)?;

    app.goto(&format!("/s/{id}?step=5")).await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    wait_cursor(app, 5).await?;
    ensure_eq!(
        app.text(".scenario-title").await?,
        EVIL_TITLE.trim(),
        "the title is shown as plain text"
    );

    // Nothing in the title became markup or ran.
    let pwned = js(app, "return typeof window.__pwned;").await?;
    ensure_eq!(pwned.as_str(), Some("undefined"), "window.__pwned");
    let injected = js(
        app,
        "return document.querySelectorAll('img[src=\"x\"], script:not([src])').length;",
    )
    .await?;
    ensure_eq!(injected.as_u64(), Some(0), "elements made from the title");
    let doc_title = js(app, "return document.title;").await?;
    let doc_title = doc_title.as_str().unwrap_or_default().to_string();
    if !doc_title.contains("<script>window.__pwned=2</script>") {
        bail!("document.title should hold the title as text, got {doc_title:?}");
    }
    let meta = js(
        app,
        "return document.querySelector('meta[property=\"og:title\"]').content;",
    )
    .await?;
    ensure_eq!(meta.as_str(), Some(EVIL_TITLE), "og:title as text");

    // The step survives a reload (the link is the state).
    app.client().refresh().await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    wait_cursor(app, 5).await?;
    Ok(())
}

async fn embed_and_unknown(app: &App) -> Result<()> {
    let id = store(app.server(), "embedded seed")?;
    app.goto(&format!("/embed/{id}?step=3")).await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    wait_cursor(app, 3).await?;
    let embed = js(
        app,
        "return document.querySelector('meta[name=\"mmrace-embed\"]').content;",
    )
    .await?;
    ensure_eq!(embed.as_str(), Some("1"), "mmrace-embed");

    // Well-formed but never stored: the app says so.
    let first = if id.starts_with('0') { '1' } else { '0' };
    let unknown = format!("{first}{}", &id[1..]);
    app.goto(&format!("/s/{unknown}")).await?;
    app.wait_for(READY, DEFAULT_TIMEOUT).await?;
    app.wait_for("[role=\"alert\"]", DEFAULT_TIMEOUT).await?;
    Ok(())
}

#[tokio::test]
async fn short_link_opens_at_step_and_html_in_the_title_is_inert() -> Result<()> {
    let app = App::start().await?;
    let result = opens_at_step_and_title_is_inert(&app).await;
    app.finish(
        "short_link_opens_at_step_and_html_in_the_title_is_inert",
        result,
    )
    .await
}

#[tokio::test]
async fn embed_link_and_unknown_id() -> Result<()> {
    let app = App::start().await?;
    let result = embed_and_unknown(&app).await;
    app.finish("embed_link_and_unknown_id", result).await
}

/// The release binary's pages: status codes, the injected tags, the security headers.
#[test]
fn short_link_pages_and_headers_from_the_release_binary() -> Result<()> {
    let server = Server::start(&[])?;
    let id = store(&server, "headers")?;

    let page = server.get(&format!("/s/{id}?step=7"))?;
    ensure_eq!(page.status, 200, "GET /s/{id}");
    let html = String::from_utf8_lossy(&page.body).into_owned();
    for tag in [
        "<base href=\"/\">".to_string(),
        format!("<meta name=\"mmrace-scenario\" content=\"{id}\">"),
        "<meta name=\"mmrace-step\" content=\"7\">".to_string(),
        "<meta property=\"og:title\" content=\"headers\">".to_string(),
    ] {
        if !html.contains(&tag) {
            bail!("GET /s/{id} lacks {tag}");
        }
    }
    ensure_eq!(
        page.header("x-frame-options"),
        Some("DENY"),
        "/s/ X-Frame-Options"
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    if !csp.contains("script-src 'self' 'wasm-unsafe-eval'")
        || !csp.contains("frame-ancestors 'none'")
    {
        bail!("/s/ CSP: {csp}");
    }
    ensure_eq!(
        page.header("x-content-type-options"),
        Some("nosniff"),
        "nosniff"
    );

    let embed = server.get(&format!("/embed/{id}"))?;
    ensure_eq!(embed.status, 200, "GET /embed/{id}");
    ensure_eq!(
        embed.header("x-frame-options"),
        None,
        "/embed/ may be framed"
    );
    let csp = embed.header("content-security-policy").unwrap_or_default();
    if !csp.contains("frame-ancestors *") {
        bail!("/embed/ CSP: {csp}");
    }

    let api = server.get(&format!("/api/scenarios/{id}"))?;
    ensure_eq!(api.status, 200, "GET /api/scenarios/{id}");
    ensure_eq!(api.header("x-mmrace-format"), Some("1"), "format header");
    ensure_eq!(server.get("/s/not-an-id")?.status, 400, "malformed id");
    Ok(())
}
