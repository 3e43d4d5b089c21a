//! The command line: configuration checks (called directly) and the real binary (spawned):
//! the stdout line tools read, /healthz over a socket, graceful SIGTERM, exit statuses.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use common::TempDir;
use server::cli::{Cli, Command as Sub, ConfigError, Database, ServeArgs};

fn serve_args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec![
        "mmrace",
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--db",
        "x.sqlite3",
    ];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).unwrap().command {
        Sub::Serve(args) => args,
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn database_url_selects_postgres_and_other_schemes_are_refused() {
    for url in [
        "postgres://mmrace:hunter2@db.example/mmrace",
        "postgresql://mmrace@db.example:5433/mmrace?sslmode=require",
    ] {
        let config = serve_args(&[]).resolve(Some(url.as_ref())).unwrap();
        assert_eq!(config.database, Database::Postgres(url.to_owned()));
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "the password must not be in debug output"
        );
    }
    let err = serve_args(&[])
        .resolve(Some("mysql://mmrace:hunter2@db.example/mmrace".as_ref()))
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnsupportedDatabaseUrl {
            scheme: "mysql://".into()
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("DATABASE_URL"), "{msg}");
    assert!(msg.contains("PostgreSQL"), "{msg}");
    assert!(
        !msg.contains("hunter2"),
        "the password must not be echoed: {msg}"
    );
    let err = serve_args(&[])
        .resolve(Some("user:hunter2@host/db".as_ref()))
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn limits_come_from_arguments() {
    let config = serve_args(&[
        "--uploads-per-minute",
        "0",
        "--upload-burst",
        "3",
        "--explorer-concurrency",
        "2",
        "--explorer-max-states",
        "1000",
        "--explorer-max-ms",
        "500",
        "--trust-proxy",
        "10.0.0.0/8,::1",
        "--max-replay-steps",
        "5000",
    ])
    .resolve(None)
    .unwrap();
    let l = &config.options.limits;
    assert_eq!(l.uploads_per_minute, 0);
    assert_eq!(l.upload_burst, 3);
    assert_eq!(l.explorer_concurrency, 2);
    assert_eq!(l.explorer_max_states, 1000);
    assert_eq!(l.explorer_max_time, Duration::from_millis(500));
    assert_eq!(
        config.options.trusted_proxies,
        vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert_eq!(l.max_replay_steps, 5000);
    for bad in [
        &["--upload-burst", "0"][..],
        &["--explorer-concurrency", "0"],
        &["--explorer-max-ms", "60000"],
        &["--trust-proxy", "10.0.0.0/33"],
        &["--trust-proxy", "proxy.example"],
        &["--max-replay-steps", "0"],
    ] {
        let mut argv = vec!["mmrace", "serve"];
        argv.extend_from_slice(bad);
        assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

#[test]
fn empty_or_absent_database_url_uses_sqlite() {
    for url in [None, Some("".as_ref())] {
        let config = serve_args(&[]).resolve(url).unwrap();
        assert_eq!(config.database, Database::Sqlite("x.sqlite3".into()));
        assert_eq!(config.options, server::state::Options::default());
        assert_eq!(config.addr.to_string(), "127.0.0.1:0");
        assert_eq!(config.static_dir, None);
    }
}

#[test]
fn defaults() {
    // MMRACE_ADDR / MMRACE_DB in the environment would change these; the test environment
    // has neither.
    if std::env::var_os("MMRACE_ADDR").is_some() || std::env::var_os("MMRACE_DB").is_some() {
        return;
    }
    let Sub::Serve(args) = Cli::try_parse_from(["mmrace", "serve"]).unwrap().command else {
        panic!("`mmrace serve` did not parse as serve");
    };
    let config = args.resolve(None).unwrap();
    assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database, Database::Sqlite("mmrace.sqlite3".into()));
}

#[test]
fn bad_arguments_are_clap_errors_with_status_2() {
    for argv in [
        &["mmrace"][..],
        &["mmrace", "serve", "--addr", "localhost"],
        &["mmrace", "serve", "--addr", "127.0.0.1"],
        &["mmrace", "serve", "--log", "server=notalevel"],
        &["mmrace", "serve", "--bogus"],
        &["mmrace", "frobnicate"],
    ] {
        let err = Cli::try_parse_from(argv).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{argv:?}: {err}");
    }
}

#[test]
fn static_dir_must_be_a_directory() {
    let dir = TempDir::new("cli-static");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = serve_args(&["--static-dir", file.to_str().unwrap()])
        .resolve(None)
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::StaticDirNotADirectory(_)),
        "{err}"
    );
    let ok = serve_args(&["--static-dir", dir.path().to_str().unwrap()]).resolve(None);
    assert!(ok.is_ok());
}

fn mmrace() -> Command {
    common::mmrace_command()
}

/// Kills the server if the test fails before stopping it (no stray processes).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn binary_serves_announces_its_address_and_stops_on_sigterm() {
    let dir = TempDir::new("bin");
    let db = dir.path().join("bin.sqlite3");
    let mut server = Running(
        mmrace()
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut server.0;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim_end()
        .strip_prefix("mmrace listening on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    assert!(db.is_file());

    let reply = http_get(&addr, "/healthz");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with(r#"{"status":"up","db":"up"}"#), "{reply}");
    let reply = http_get(&addr, "/");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    if !cfg!(feature = "embed") {
        assert!(reply.contains("cargo xtask serve"), "{reply}");
    }

    // Graceful stop on SIGTERM, exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            panic!("mmrace did not stop within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "stdout carries only the listening line");
}

#[test]
fn binary_reports_errors_with_status_1_and_bad_arguments_with_2() {
    let dir = TempDir::new("bin-err");
    let out = mmrace()
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("x.sqlite3"))
        .env("DATABASE_URL", "mysql://u:secretpw@localhost/db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL is set (mysql:// URL)"),
        "{stderr}"
    );
    assert!(!stderr.contains("secretpw"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A PostgreSQL server that is not there: a clear error naming host, port and database,
    // never the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = mmrace()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env(
            "DATABASE_URL",
            format!("postgres://u:secretpw@127.0.0.1:{port}/mmrace?connect_timeout=2"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to the PostgreSQL database 127.0.0.1:{port}/mmrace"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secretpw"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = mmrace()
        .args(["serve", "--db"])
        .arg(dir.path().join("missing-dir/x.sqlite3"))
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open the SQLite database"),
        "{stderr}"
    );
    assert!(stderr.contains("caused by"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = mmrace().args(["serve", "--addr", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IP:PORT"));
}
