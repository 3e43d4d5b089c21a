//! Serving the frontend: from --static-dir (with SPA fallback and traversal refused), with no
//! frontend at all, and embedded (feature `embed`).

mod common;

use axum::http::Method;
use common::{app, get, request, TempDir};
use server::frontend::{Frontend, NOT_BUILT_PAGE};

const INDEX: &str = "<!doctype html><title>mmrace test index</title>";
const SECRET: &str = "top secret outside the static dir";

/// dir/www is served; dir/secret.txt must never be reachable.
fn static_site(dir: &TempDir) -> std::path::PathBuf {
    let www = dir.path().join("www");
    std::fs::create_dir_all(www.join("assets")).unwrap();
    std::fs::write(www.join("index.html"), INDEX).unwrap();
    std::fs::write(www.join("frontend.js"), "export default 1;").unwrap();
    std::fs::write(www.join("frontend_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(www.join("style.css"), "body{}").unwrap();
    std::fs::write(www.join("assets/logo.svg"), "<svg/>").unwrap();
    std::fs::write(www.join("assets/logo.png"), b"\x89PNG").unwrap();
    std::fs::write(www.join("scenarios.json"), "{}").unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    www
}

#[tokio::test]
async fn static_dir_serves_files_with_their_types() {
    let dir = TempDir::new("static");
    let www = static_site(&dir);
    let (app, store) = app(&dir, Frontend::select(Some(www))).await;

    for (uri, ty, body) in [
        ("/", "text/html; charset=utf-8", INDEX.as_bytes()),
        ("/index.html", "text/html; charset=utf-8", INDEX.as_bytes()),
        (
            "/frontend.js",
            "text/javascript; charset=utf-8",
            b"export default 1;",
        ),
        ("/frontend_bg.wasm", "application/wasm", b"\0asm\x01\0\0\0"),
        ("/style.css", "text/css; charset=utf-8", b"body{}"),
        ("/assets/logo.svg", "image/svg+xml", b"<svg/>"),
        ("/assets/logo.png", "image/png", b"\x89PNG"),
        ("/scenarios.json", "application/json", b"{}"),
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert_eq!(reply.content_type(), ty, "{uri}");
        assert_eq!(reply.body, body, "{uri}");
    }
    store.close().await;
}

#[tokio::test]
async fn static_dir_spa_fallback_is_index_with_200() {
    let dir = TempDir::new("spa");
    let www = static_site(&dir);
    let (app, store) = app(&dir, Frontend::select(Some(www))).await;

    // (`/s/{id}` and `/embed/{id}` are routes of their own: tests/api.rs.)
    for uri in [
        "/explore",
        "/scenario/mprotect-vs-migration/step/17?x=1",
        "/s/abc/extra",
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert_eq!(reply.content_type(), "text/html; charset=utf-8", "{uri}");
        assert_eq!(reply.text(), INDEX, "{uri}");
    }
    // A missing asset file is a 404, not HTML pretending to be JavaScript...
    let reply = get(&app, "/missing.js").await;
    assert_eq!(reply.status, 404);
    // ...unless a browser navigates to it (asks for HTML): then it is an app route.
    let reply = request(&app, Method::GET, "/x/a.b", &[("accept", "text/html,*/*")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), INDEX);
    // The API never falls back to the app.
    assert_eq!(get(&app, "/api/nope").await.status, 404);
    store.close().await;
}

#[tokio::test]
async fn path_traversal_is_refused() {
    let dir = TempDir::new("traversal");
    let www = static_site(&dir);
    let (app, store) = app(&dir, Frontend::select(Some(www))).await;
    for uri in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets%5c..%5c..%5csecret.txt",
    ] {
        let reply = get(&app, uri).await;
        assert!(
            reply.status == 400 || reply.status == 404,
            "{uri}: {}",
            reply.status
        );
        assert!(!reply.text().contains(SECRET), "{uri} leaked the file");
        assert!(!reply.text().contains("root:"), "{uri} leaked /etc/passwd");
    }
    store.close().await;
}

#[tokio::test]
async fn only_get_and_head() {
    let dir = TempDir::new("methods");
    let www = static_site(&dir);
    let (app, store) = app(&dir, Frontend::select(Some(www))).await;
    let reply = request(&app, Method::HEAD, "/frontend.js", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    let reply = request(&app, Method::POST, "/", &[]).await;
    assert_eq!(reply.status, 405);
    store.close().await;
}

#[tokio::test]
async fn without_a_frontend_the_root_says_how_to_build_it() {
    let dir = TempDir::new("missing");
    let (app, store) = app(&dir, Frontend::Missing).await;
    for uri in ["/", "/explore"] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert!(reply.content_type().starts_with("text/html"), "{uri}");
        assert_eq!(reply.text(), NOT_BUILT_PAGE);
        assert!(reply.text().contains("not built"));
        assert!(reply.text().contains("cargo xtask serve"));
    }
    assert_eq!(get(&app, "/frontend.js").await.status, 404);
    assert_eq!(get(&app, "/healthz").await.status, 200);
    store.close().await;
}

/// Only meaningful when built with `--features embed` (needs a built `dist/`).
#[cfg(feature = "embed")]
#[tokio::test]
async fn embedded_frontend_serves_index_types_and_etags() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let index = std::fs::read(dist.join("index.html")).unwrap();
    let dir = TempDir::new("embed");
    let frontend = Frontend::select(None);
    assert!(matches!(frontend, Frontend::Embedded), "{frontend:?}");
    let (app, store) = app(&dir, frontend).await;

    let root = get(&app, "/").await;
    assert_eq!(root.status, 200);
    assert_eq!(root.content_type(), "text/html; charset=utf-8");
    assert_eq!(root.body, index);
    let spa = get(&app, "/explore").await;
    assert_eq!((spa.status.as_u16(), &spa.body), (200, &index));
    // The short-link page is index.html with tags injected (tests/api.rs has the details).
    let share = get(&app, "/s/00000000000000000000").await;
    assert_eq!(share.status, 404);
    let share = share.text();
    assert!(share.contains("<base href=\"/\">"), "{share}");
    assert!(share.contains("mmrace-scenario"), "{share}");
    assert_eq!(get(&app, "/missing.js").await.status, 404);
    assert_eq!(get(&app, "/api/nope").await.status, 404);
    for uri in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%252e%252e/Cargo.toml",
    ] {
        assert_eq!(get(&app, uri).await.status, 400, "{uri}");
    }

    // Every embedded file comes back with the type from the shared table.
    for entry in walk(&dist) {
        let rel = entry
            .strip_prefix(&dist)
            .unwrap()
            .to_str()
            .unwrap()
            .replace('\\', "/");
        let reply = get(&app, &format!("/{rel}")).await;
        assert_eq!(reply.status, 200, "{rel}");
        assert_eq!(
            reply.content_type(),
            server::frontend::content_type(&rel),
            "{rel}"
        );
        assert_eq!(reply.body, std::fs::read(&entry).unwrap(), "{rel}");
    }

    let etag = root.headers["etag"].to_str().unwrap().to_owned();
    let again = request(&app, Method::GET, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    store.close().await;
}

#[cfg(feature = "embed")]
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
