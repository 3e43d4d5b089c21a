//! End-to-end test harness: the real `mmrace` release binary, driven through headless
//! Chromium by chromedriver and [fantoccini].
//!
//! Every [`App`] owns a fresh temporary directory (SQLite file, Chromium profile, logs), its own
//! `mmrace serve` process and its own chromedriver + Chromium, all on free loopback ports.
//! Everything is killed when the `App` is dropped — also when a test panics — so no process
//! outlives a test.
//!
//! Configuration (environment):
//! - `MMRACE_BIN` (required): absolute path of the release server binary built with
//!   `--features embed`. `cargo xtask test` sets it.
//! - `MMRACE_DIST` (optional): the `dist/` folder the binary embedded; used by tests that
//!   compare what is served with what was built. `cargo xtask test` sets it.
//! - `MMRACE_CHROMIUM` (default `/usr/bin/chromium`), `MMRACE_CHROMEDRIVER` (default
//!   `chromedriver` on `PATH`).
//! - `MMRACE_E2E_ARTIFACTS` (default `<workspace>/target/e2e-artifacts`): where a failing test
//!   leaves its screenshot, page source and logs.
//!
//! Every wait is bounded ([`DEFAULT_TIMEOUT`] unless a test passes its own) and a timeout error
//! names what was awaited.

use std::fmt;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub use fantoccini::key::Key;

/// The bound on every wait unless a caller passes its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Starting Chromium and opening a WebDriver session can take longer on a cold, busy machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Present once the app is mounted.
pub const READY: &str = "body[data-ready=\"1\"]";
/// Viewport of every browser session (and size of every screenshot), in CSS pixels.
pub const VIEWPORT: (u32, u32) = (1280, 720);

// ---------------------------------------------------------------------------------------------
// Errors

/// A test failure with a human-readable message (printed as-is by `cargo test`).
pub struct Error(String);

/// Result type of the harness and of the tests.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(msg: impl Into<String>) -> Self {
        Error(msg.into())
    }

    /// Prefix the message with what was being done.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error(format!("{what}: {}", self.0))
    }
}

// `Error` deliberately does not implement `std::error::Error`, so that this blanket
// conversion (the same trick anyhow uses) lets `?` work on fantoccini and io errors.
impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Return early with an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::msg(format!($($arg)*)))
    };
}

/// Like `assert_eq!`, but returns an [`Error`] (so the test still cleans up and leaves artifacts).
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {
        // A match keeps temporaries of `$left` alive for the comparison.
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    $crate::bail!("{}: expected {:?}, got {:?}", format!($($arg)+), right, left);
                }
            }
        }
    };
}

trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
}

// ---------------------------------------------------------------------------------------------
// Small std-only helpers

/// A directory under the system temp dir, removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}-{}-{nanos:09}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).context(format!("creating temp dir {}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests run one at a time).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A child process in its own process group; the whole group is killed on drop.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Result<Self> {
        let out = fs::File::create(&log).context(format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .context(format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// An error if the process has already exited.
    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited early ({status}); last lines of its output:\n{}",
                self.name,
                log_tail(&self.log, 40)
            );
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pgid) = i32::try_from(self.child.id()) {
                // SAFETY: kill(2) with a negative pid signals the process group we created.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a log file (or a note that it could not be read).
fn log_tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            let tail = lines[start..].join("\n");
            if tail.is_empty() {
                "(no output)".to_string()
            } else {
                tail
            }
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// SIGKILL every process whose command line contains `marker` (used to make sure no Chromium
/// child survives, whatever process group it put itself in).
fn kill_by_cmdline(marker: &str) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let hit = cmdline
            .split(|&b| b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(marker));
        if hit {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: plain kill(2) on a pid we just found; errors are irrelevant here.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// A response to [`http_get`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A GET with ureq (the workspace already builds it for wasm-bindgen's test runner): a
/// fresh agent per call, no redirects followed, no `Accept-Encoding` sent (so what a test
/// reads is what the server sent for a plain request), any status returned as a response.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<HttpResponse> {
    let url = format!("http://{addr}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .timeout_connect(Some(Duration::from_secs(2)))
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut res = agent.get(&url).call().context(format!("GET {url}"))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .context(format!("GET {url}: reading the body"))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn env_path(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// `MMRACE_DIST`: the built `dist/` folder.
pub fn dist_dir() -> Result<PathBuf> {
    match std::env::var_os("MMRACE_DIST") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => bail!(
            "MMRACE_DIST is not set: run the browser tests with `cargo xtask test`, or set \
             MMRACE_DIST=<abs path of dist/> after `cargo xtask build-frontend`"
        ),
    }
}

fn server_bin() -> Result<PathBuf> {
    match std::env::var_os("MMRACE_BIN") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                bail!("MMRACE_BIN={} does not exist", p.display());
            }
            Ok(p)
        }
        _ => bail!(
            "MMRACE_BIN is not set: run the browser tests with `cargo xtask test`, or build with \
             `cargo build --release -p server --features embed` and set \
             MMRACE_BIN=<abs path of target/release/mmrace>"
        ),
    }
}

/// Poll `ready` every [`POLL_INTERVAL`] until it returns `Ok(true)` or `timeout` passes.
/// Errors from `ready` are remembered and reported on timeout, not returned at once.
pub async fn poll(
    what: &str,
    timeout: Duration,
    mut ready: impl AsyncFnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let last = match ready().await {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(e) => Some(e),
        };
        if start.elapsed() >= timeout {
            let why = last
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            bail!("timed out after {timeout:?} waiting for {what}{why}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Run `fut` with a bound, naming `what` if it does not finish.
async fn bounded<T>(
    what: &str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.context(what),
        Err(_) => bail!("timed out after {timeout:?}: {what}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// A running `mmrace serve` on a free loopback port with a fresh SQLite file.
pub struct Server {
    // Declared before `work`: the process dies before its directory is removed.
    proc: Proc,
    addr: SocketAddr,
    work: TempDir,
}

impl Server {
    /// Start `$MMRACE_BIN serve --addr 127.0.0.1:PORT --db <tmp>/t.sqlite3 [extra...]` and wait
    /// for `GET /healthz` to answer 200.
    pub fn start(extra_args: &[&str]) -> Result<Self> {
        let bin = server_bin()?;
        let work = TempDir::new("mmrace-e2e")?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let db = work.path().join("t.sqlite3");
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--db")
            .arg(&db)
            .args(extra_args)
            .env_remove("MMRACE_ADDR")
            .env_remove("MMRACE_DB")
            .env_remove("DATABASE_URL");
        let proc = Proc::spawn("mmrace serve", &mut cmd, work.path().join("server.log"))?;
        let mut server = Server { proc, addr, work };
        server.wait_healthy()?;
        Ok(server)
    }

    fn wait_healthy(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            self.proc.ensure_running()?;
            let last = match http_get(self.addr, "/healthz") {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("status {}", r.status),
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= DEFAULT_TIMEOUT {
                bail!(
                    "timed out after {DEFAULT_TIMEOUT:?} waiting for http://{}/healthz to answer \
                     200 (last: {last}); server output:\n{}",
                    self.addr,
                    self.log_tail(40)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Result<HttpResponse> {
        http_get(self.addr, path)
    }

    /// The temporary directory holding the database and logs.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.proc.log, lines)
    }
}

// ---------------------------------------------------------------------------------------------
// The browser + server

/// A running server plus a headless Chromium session pointed at it.
pub struct App {
    client: Client,
    chromedriver: Proc,
    profile_marker: String,
    server: Server,
    // Declared last: removed after every process is gone.
    _browser_dir: TempDir,
}

impl App {
    /// Start the server (embedded frontend) and a browser.
    pub async fn start() -> Result<Self> {
        Self::start_with_server_args(&[]).await
    }

    /// Start the server serving `MMRACE_DIST` from disk (`--static-dir`), so that a test sees
    /// exactly the frontend that was built, and a browser.
    pub async fn start_dist() -> Result<Self> {
        let dist = dist_dir()?;
        let dist = dist.to_string_lossy().into_owned();
        Self::start_with_server_args(&["--static-dir", &dist]).await
    }

    /// Start the server with extra `serve` arguments (e.g. `--static-dir DIR`) and a browser.
    pub async fn start_with_server_args(extra_args: &[&str]) -> Result<Self> {
        let server = Server::start(extra_args)?;
        let browser_dir = TempDir::new("mmrace-e2e-chromium")?;
        let profile = browser_dir.path().join("profile");
        fs::create_dir(&profile)?;

        let driver_port = free_port()?;
        let driver_addr: SocketAddr = format!("127.0.0.1:{driver_port}").parse()?;
        let chromedriver_bin = env_path("MMRACE_CHROMEDRIVER", "chromedriver");
        let chromium_bin = env_path("MMRACE_CHROMIUM", "/usr/bin/chromium");
        let mut cmd = Command::new(&chromedriver_bin);
        cmd.arg(format!("--port={driver_port}"));
        let mut chromedriver = Proc::spawn(
            "chromedriver",
            &mut cmd,
            browser_dir.path().join("chromedriver.log"),
        )
        .context("is chromedriver installed (Debian package chromium-driver)?")?;

        // chromedriver answers GET /status once it listens.
        let start = Instant::now();
        loop {
            chromedriver.ensure_running()?;
            if matches!(http_get(driver_addr, "/status"), Ok(r) if r.status == 200) {
                break;
            }
            if start.elapsed() >= DEFAULT_TIMEOUT {
                bail!(
                    "timed out after {DEFAULT_TIMEOUT:?} waiting for chromedriver on \
                     {driver_addr}; its output:\n{}",
                    log_tail(&chromedriver.log, 40)
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }

        let profile_arg = format!("--user-data-dir={}", profile.display());
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &profile_arg,
            "--window-size=1280,720",
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium_bin, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("capabilities are a JSON object")
        };
        let connect = async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://{driver_addr}"))
                .await
                .map_err(Error::from)
        };
        let client = match bounded("opening a Chromium session", SESSION_TIMEOUT, connect).await {
            Ok(c) => c,
            Err(e) => {
                kill_by_cmdline(&profile_arg);
                return Err(e.context(format!(
                    "chromium {chromium_bin}; chromedriver output:\n{}",
                    log_tail(&chromedriver.log, 40)
                )));
            }
        };
        let app = App {
            client,
            chromedriver,
            profile_marker: profile_arg,
            server,
            _browser_dir: browser_dir,
        };
        app.set_viewport(VIEWPORT.0, VIEWPORT.1).await?;
        Ok(app)
    }

    /// Resize the window so that the page viewport (and so every screenshot) is exactly
    /// `width` x `height` CSS pixels; headless Chromium's window includes invisible chrome.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .context("reading the viewport size")?;
        let (w, h) = self
            .client
            .get_window_size()
            .await
            .context("reading the window size")?;
        let iw = inner[0].as_u64().unwrap_or(w);
        let ih = inner[1].as_u64().unwrap_or(h);
        let extra_w = u32::try_from(w.saturating_sub(iw)).unwrap_or(0);
        let extra_h = u32::try_from(h.saturating_sub(ih)).unwrap_or(0);
        self.client
            .set_window_size(width + extra_w, height + extra_h)
            .await
            .context("resizing the window")?;
        Ok(())
    }

    /// The fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Navigate to `path` on the server (bounded).
    pub async fn goto(&self, path: &str) -> Result<()> {
        let url = self.server.url(path);
        bounded(&format!("loading {url}"), DEFAULT_TIMEOUT, async {
            self.client.goto(&url).await.map_err(Error::from)
        })
        .await
    }

    /// Wait until an element matches `css`, polling, for at most `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let start = Instant::now();
        loop {
            let last = match self.client.find(Locator::Css(css)).await {
                Ok(el) => return Ok(el),
                Err(e) => e,
            };
            if start.elapsed() >= timeout {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| "?".into());
                bail!(
                    "timed out after {timeout:?} waiting for element `{css}` on {url} \
                     (last error: {last})"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The element matching `css`, waiting up to [`DEFAULT_TIMEOUT`] for it to appear.
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.wait_for(css, DEFAULT_TIMEOUT).await
    }

    /// Number of elements matching `css` right now.
    pub async fn count(&self, css: &str) -> Result<usize> {
        let all = self.client.find_all(Locator::Css(css)).await;
        Ok(all.context(format!("finding `{css}`"))?.len())
    }

    /// The rendered text of the element matching `css` (trimmed).
    pub async fn text(&self, css: &str) -> Result<String> {
        let el = self.find(css).await?;
        let text = el.text().await.context(format!("text of `{css}`"))?;
        Ok(text.trim().to_string())
    }

    /// Attribute `name` of the element matching `css` (`None` if absent).
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        let el = self.find(css).await?;
        el.attr(name)
            .await
            .context(format!("attribute {name} of `{css}`"))
    }

    /// Click the element matching `css`, then let the app re-render.
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        el.click().await.context(format!("clicking `{css}`"))?;
        self.settle().await
    }

    /// Press and release one key (a character, or a [`Key`] such as `Key::Right`) on whatever
    /// has focus, then let the app re-render.
    pub async fn press_key(&self, key: impl Into<char>) -> Result<()> {
        let value = key.into();
        let actions = KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value })
            .then(KeyAction::Up { value });
        self.client
            .perform_actions(actions)
            .await
            .context(format!("pressing key {value:?}"))?;
        self.settle().await
    }

    /// Wait for the next animation frame plus one task, so that a re-render scheduled by the
    /// last event has reached the DOM.
    pub async fn settle(&self) -> Result<()> {
        let script = "const done = arguments[arguments.length - 1];\
                      requestAnimationFrame(() => setTimeout(done, 0));";
        bounded("the page to settle", DEFAULT_TIMEOUT, async {
            self.client
                .execute_async(script, vec![])
                .await
                .map_err(Error::from)
        })
        .await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // The mmrace app's own DOM (shared by the UI tests and the render benchmark)

    /// Open `path` and wait until the app is mounted and rendered.
    pub async fn open(&self, path: &str) -> Result<()> {
        self.goto(path).await?;
        self.wait_for(READY, DEFAULT_TIMEOUT).await?;
        self.settle().await
    }

    /// Run `script` in the page and return its result.
    pub async fn js(&self, script: &str) -> Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Take focus away from whatever has it (pickers and inputs keep keys otherwise).
    pub async fn blur(&self) -> Result<()> {
        self.js("document.activeElement && document.activeElement.blur();")
            .await?;
        Ok(())
    }

    /// The cursor, from `.app[data-cursor]` (readable also when the controls are hidden).
    pub async fn cursor(&self) -> Result<usize> {
        let c = self.attr(".app", "data-cursor").await?;
        c.as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::msg(format!("no data-cursor on .app: {c:?}")))
    }

    /// `(cursor, schedule length)` from `#step-count` ("step 3 / 18").
    pub async fn step_count(&self) -> Result<(usize, usize)> {
        let t = self.text("#step-count").await?;
        let nums: Vec<usize> = t
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        match nums[..] {
            [a, b] => Ok((a, b)),
            _ => bail!("cannot read the step count from {t:?}"),
        }
    }

    /// Pick a library scenario (and a named schedule) with the pickers, as a user would; the
    /// app is then at step 0 with the focus on the page.
    pub async fn pick(&self, scenario: &str, schedule: Option<&str>) -> Result<()> {
        self.find("#scenario")
            .await?
            .select_by_value(scenario)
            .await?;
        self.settle().await?;
        poll("the scenario to load", DEFAULT_TIMEOUT, async || {
            Ok(self
                .find("#scenario")
                .await?
                .prop("value")
                .await?
                .as_deref()
                == Some(scenario))
        })
        .await?;
        if let Some(s) = schedule {
            self.find("#schedule").await?.select_by_value(s).await?;
            self.settle().await?;
        }
        self.blur().await?;
        ensure_eq!(self.cursor().await?, 0, "cursor after loading {scenario}");
        Ok(())
    }

    /// Jump to step `n` with the jump box, then give the focus back to the page.
    pub async fn jump(&self, n: usize) -> Result<()> {
        let input = self.find("#jump").await?;
        input.clear().await?;
        input.send_keys(&format!("{n}\n")).await?;
        self.settle().await?;
        self.blur().await?;
        ensure_eq!(self.cursor().await?, n, "cursor after jumping to {n}");
        Ok(())
    }

    /// Save a PNG screenshot of the viewport (parent directories are created).
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let png = self
            .client
            .screenshot()
            .await
            .context("taking a screenshot")?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(path, png).context(format!("writing {}", path.display()))?;
        Ok(())
    }

    /// End a test: on failure, leave a screenshot, the page source and the logs under
    /// `MMRACE_E2E_ARTIFACTS/<name>/` and add the server's last log lines to the error; then
    /// close the browser session. Returns `result` unchanged otherwise.
    pub async fn finish(self, name: &str, result: Result<()>) -> Result<()> {
        let result = match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let dir = PathBuf::from(env_path(
                    "MMRACE_E2E_ARTIFACTS",
                    &workspace_root()
                        .join("target/e2e-artifacts")
                        .to_string_lossy(),
                ))
                .join(name);
                let saved = self.save_artifacts(&dir).await;
                let note = match saved {
                    Ok(()) => format!("artifacts in {}", dir.display()),
                    Err(e2) => format!("saving artifacts in {} failed: {e2}", dir.display()),
                };
                Err(Error::msg(format!(
                    "{e}\n({note})\n--- last server output ---\n{}",
                    self.server.log_tail(30)
                )))
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.clone().close()).await;
        result
    }

    async fn save_artifacts(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        for (src, name) in [
            (self.server.proc.log.clone(), "server.log"),
            (self.chromedriver.log.clone(), "chromedriver.log"),
        ] {
            let _ = fs::copy(src, dir.join(name));
        }
        if let Ok(Ok(html)) =
            tokio::time::timeout(Duration::from_secs(5), self.client.source()).await
        {
            fs::write(dir.join("page.html"), html)?;
        }
        bounded(
            "failure screenshot",
            Duration::from_secs(10),
            self.screenshot(dir.join("screenshot.png")),
        )
        .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started, then anything left with our profile dir;
        // the server and the temp dirs follow as fields drop.
        self.chromedriver.kill();
        kill_by_cmdline(&self.profile_marker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `http_get` returns non-2xx answers as responses, undoes chunked encoding and keeps
    /// the headers, against a one-shot server on loopback.
    #[test]
    fn http_get_reads_chunked_error_responses() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                conn.read_exact(&mut byte).unwrap();
                head.push(byte[0]);
            }
            conn.write_all(
                b"HTTP/1.1 404 Not Found\r\nX-Test: yes\r\nTransfer-Encoding: chunked\r\n\r\n\
                  4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n",
            )
            .unwrap();
            String::from_utf8(head).unwrap()
        });
        let res = http_get(addr, "/x?y=1").unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{request}");
        assert!(
            !request.to_ascii_lowercase().contains("accept-encoding"),
            "{request}"
        );
        assert_eq!(res.status, 404);
        assert_eq!(res.header("x-test"), Some("yes"));
        assert_eq!(res.body, b"Wikipedia ");
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("mmrace-e2e-selftest").unwrap();
        let path = dir.path().to_path_buf();
        fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
