//! A throwaway PostgreSQL server for the tests, on loopback, in a temporary directory.
//!
//! One cluster per test binary, started on first use (about a second): `initdb` as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root), then
//! `pg_ctl start` listening on 127.0.0.1 and a free port, with its Unix socket inside the
//! temporary directory. Every test gets its own fresh database in it ([`database`]).
//!
//! Stopping, whatever happens:
//! - normal end of the test binary (also after failed tests): an `atexit` hook stops the server
//!   (`pg_ctl stop -m immediate`) and removes the directory;
//! - a panic inside a test: the cluster is shared, so it stays up for the other tests and
//!   stops at exit as above; a [`PgCluster`] owned by a test (see [`PgCluster::start`]) stops
//!   when dropped — also during unwinding;
//! - the test binary killed (SIGKILL, a CI timeout): a small watchdog process started with
//!   the cluster notices that the test process is gone within a second and does the same.
//!
//! When the PostgreSQL binaries are missing: the PostgreSQL tests are skipped with a loud
//! message, unless `CI` or `MMRACE_REQUIRE_POSTGRES` is set — then they fail (CI installs
//! `postgresql`: `cargo xtask test` does). `MMRACE_PG_BIN` overrides where the binaries are.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

/// A running PostgreSQL server.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Run the PostgreSQL commands through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    stopped: bool,
}

/// Where the binaries are: `MMRACE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MMRACE_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").is_file().then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn required() -> bool {
    ["CI", "MMRACE_REQUIRE_POSTGRES"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "0" && s != "false"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|s| s.trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgCluster {
    /// Start a new cluster (owned: stopped when dropped). `None` if PostgreSQL is not
    /// installed and not required (a message says so); panics if it is required and missing
    /// or if it fails to start.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = find_bin() else {
            let msg = "PostgreSQL binaries not found (looked in MMRACE_PG_BIN and \
                       /usr/lib/postgresql/*/bin; install the Debian package `postgresql`)";
            if required() {
                panic!("{msg}; CI/MMRACE_REQUIRE_POSTGRES is set, so this is a failure");
            }
            // Straight to the process's stderr: `eprintln!` output of a passing test is
            // captured by the test harness, and this must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPING every PostgreSQL test of this test binary: {msg}.\n\
                 !!! Set CI=1 or MMRACE_REQUIRE_POSTGRES=1 to make this a failure.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return None;
        };
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "mmrace-pg-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            stopped: false,
        };
        cluster.spawn_watchdog();
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed ({}):\n{}\n{}\nserver log:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Stops the cluster if this process dies without stopping it.
    fn spawn_watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{}{} -D {} stop -m immediate",
            if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl.display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f {data}/postmaster.pid ]; then {stop} >/dev/null 2>&1; fi; rm -rf {dir}",
            pid = std::process::id(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        use std::os::unix::process::CommandExt;
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C of the test run must not stop the cleanup.
            .process_group(0)
            .spawn();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Create a fresh, empty database on this cluster and return its URL.
    pub async fn create_database(&self) -> String {
        create_database(self.port).await
    }

    /// Stop now (idempotent) and remove the directory.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "stop", "-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connect_retrying(url: &str) -> PgConnection {
    let start = Instant::now();
    loop {
        match PgConnection::connect(url).await {
            Ok(c) => return c,
            Err(e) if start.elapsed() > Duration::from_secs(20) => panic!("connect {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The cluster shared by the tests of this binary, started on first use; stopped at exit.
static SHARED: OnceLock<Option<Mutex<PgCluster>>> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    if let Some(Some(cluster)) = SHARED.get() {
        if let Ok(mut c) = cluster.lock() {
            c.stop();
        }
    }
}

extern "C" {
    fn atexit(f: extern "C" fn()) -> std::os::raw::c_int;
}

/// A fresh database on the shared cluster, as a `DATABASE_URL`; `None` when PostgreSQL is
/// not installed and not required.
pub async fn database() -> Option<String> {
    let shared = SHARED.get_or_init(|| {
        let cluster = PgCluster::start()?;
        // SAFETY: registering a plain extern "C" function with the C library.
        unsafe {
            atexit(stop_shared_at_exit);
        }
        Some(Mutex::new(cluster))
    });
    let cluster = shared.as_ref()?;
    let port = cluster.lock().unwrap_or_else(|e| e.into_inner()).port;
    Some(create_database(port).await)
}

async fn create_database(port: u16) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
    let url = |db: &str| format!("postgres://postgres@127.0.0.1:{port}/{db}");
    let mut conn = connect_retrying(&url("postgres")).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    url(&name)
}
