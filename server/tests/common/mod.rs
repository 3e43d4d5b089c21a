//! Helpers shared by the integration tests (no extra crates): a temp dir, request helpers,
//! a throwaway PostgreSQL ([`pg`]), and [`TestDb`] + [`on_both_backends!`] to run one test body
//! against SQLite and against PostgreSQL.

#![allow(dead_code)] // each test binary uses a different subset

pub mod pg;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use server::frontend::Frontend;
use server::state::{AppState, Options};
use server::store::Store;
use server::web::router;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "mmrace-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A router over a fresh SQLite store in `dir`.
pub async fn app(dir: &TempDir, frontend: Frontend) -> (Router, Store) {
    let store = Store::open_sqlite(&dir.path().join("test.sqlite3"))
        .await
        .unwrap();
    (router(AppState::new(store.clone(), frontend)), store)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

pub async fn request(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    request_body(app, method, uri, headers, Body::empty()).await
}

pub async fn request_body(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(body.into()).unwrap()).await
}

/// `POST /api/scenarios` with a JSON body.
pub async fn upload(app: &Router, body: &str) -> Reply {
    request_body(
        app,
        Method::POST,
        "/api/scenarios",
        &[("content-type", "application/json")],
        body.to_owned(),
    )
    .await
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    request(app, Method::GET, uri, &[]).await
}

/// A store for one test: SQLite in a temp dir, or a fresh database on the shared throwaway
/// PostgreSQL.
pub struct TestDb {
    pub store: Store,
    pub kind: &'static str,
    /// SQLite: the file. PostgreSQL: the DATABASE_URL.
    pub location: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = TempDir::new("db");
        let path = dir.path().join("test.sqlite3");
        let store = Store::open_sqlite(&path).await.unwrap();
        TestDb {
            store,
            kind: "sqlite",
            location: path.to_str().unwrap().to_owned(),
            _dir: Some(dir),
        }
    }

    /// `None` (after a loud message) when PostgreSQL is not installed and not required.
    pub async fn postgres() -> Option<TestDb> {
        let url = pg::database().await?;
        let store = Store::open_postgres(&url).await.unwrap();
        Some(TestDb {
            store,
            kind: "postgres",
            location: url,
            _dir: None,
        })
    }

    /// A second handle on the same database (as another server instance would have).
    pub async fn reopen(&self) -> Store {
        match self.kind {
            "sqlite" => Store::open_sqlite(std::path::Path::new(&self.location))
                .await
                .unwrap(),
            _ => Store::open_postgres(&self.location).await.unwrap(),
        }
    }

    pub fn app(&self, frontend: Frontend) -> Router {
        router(AppState::new(self.store.clone(), frontend))
    }

    pub fn app_with(&self, frontend: Frontend, options: Options) -> Router {
        router(AppState::with_options(
            self.store.clone(),
            frontend,
            options,
        ))
    }

    pub async fn close(self) {
        self.store.close().await;
    }
}

/// Options for tests that upload a lot: no rate limit.
pub fn unlimited() -> Options {
    let mut o = Options::default();
    o.limits.uploads_per_minute = 0;
    o
}

/// `on_both_backends!(a, b)` with `async fn a(db: &TestDb)` defined in the test file makes
/// the tests `sqlite::a`, `postgres::a`, `sqlite::b`, `postgres::b`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres().await else {
                        return;
                    };
                    super::$name(&db).await;
                    db.close().await;
                }
            )*
        }
    };
}

/// A small valid scenario (one thread write-protecting one page), as a user might write it.
pub const SMALL: &str = r#"{
  "format": 1,
  "title": "small",
  "kernel": { "version": "v6.4" },
  "cpus": 1,
  "vmas": [ { "start": "0x7f0000000000", "end": "0x7f0000001000", "prot": "PROT_READ|PROT_WRITE" } ],
  "pages": [ { "addr": "0x7f0000000000", "pfn": "0x12345", "data": "0x11" } ],
  "threads": [ { "name": "T0", "cpu": 0, "ops": [
    { "op": "mprotect", "addr": "0x7f0000000000", "len": "0x1000", "prot": "PROT_READ" } ] } ]
}"#;

/// `SMALL` as JSON, for tests that modify one field.
pub fn small() -> serde_json::Value {
    serde_json::from_str(SMALL).unwrap()
}

/// The `i`-th of many distinct valid scenarios.
pub fn variant(i: usize) -> String {
    let mut v = small();
    v["title"] = format!("variant {i}").into();
    v.to_string()
}

/// The canonical form the server stores for `text`.
pub fn canonical(text: &str) -> String {
    sim_core::Scenario::from_json(text).unwrap().to_json()
}

/// A shipped scenario with several named schedules (what-if ones included elsewhere).
pub fn seed() -> &'static str {
    sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").expect("shipped")
}

/// A `mmrace serve` process (the real binary), killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: String,
}

impl ServerProcess {
    /// Start `mmrace serve --addr 127.0.0.1:0 ARGS...` with `env`, and wait for the line
    /// announcing its address.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut cmd = mmrace_command();
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("mmrace listening on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ServerProcess { child, addr }
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`): (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(std::time::Duration::from_secs(20)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest).ok_or_else(|| std::io::Error::other("truncated chunked body"))?
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut raw: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = raw.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        raw = rest.get(size + 2..)?;
    }
}

/// The `mmrace` binary under test, with the environment it reads cleared so that the
/// developer's settings cannot leak into a test.
#[allow(dead_code)] // not every test binary that includes `common` spawns the binary
pub fn mmrace_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mmrace"));
    for var in [
        "DATABASE_URL",
        "MMRACE_ADDR",
        "MMRACE_DB",
        "MMRACE_LOG",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
