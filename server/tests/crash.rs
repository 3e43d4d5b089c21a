//! Crash safety of the real binary, on SQLite and on PostgreSQL: clients upload distinct
//! scenarios concurrently, the server is SIGKILLed in the middle, restarted on the same
//! database — and every upload that had been answered 201 must be there, byte-identical.
//! (SQLite runs with WAL and synchronous=FULL: a commit is on disk before it is answered.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{canonical, http, variant, ServerProcess, TempDir};

const CLIENTS: usize = 8;

/// Upload from `CLIENTS` threads until told to stop; returns (id, canonical body) of every
/// upload answered 201, and how many requests were cut by the kill (sent, never answered;
/// refused connections after the kill do not count).
fn upload_until_killed(server: &mut ServerProcess) -> (Vec<(String, String)>, usize) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for c in 0..CLIENTS {
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        let addr = server.addr.clone();
        threads.push(std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = variant(c * 1_000_000 + k);
                k += 1;
                match http(&addr, "POST", "/api/scenarios", Some(&text)) {
                    Ok((201, body)) => {
                        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                        let id = v["id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push((id, canonical(&text)));
                    }
                    Ok((status, body)) => panic!("upload answered {status}: {body}"),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Let uploads get going, then kill mid-stream.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 60 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    (acked, failed.load(Ordering::Relaxed))
}

fn crash_and_check(args: &[&str], env: &[(&str, &str)]) {
    let mut all = vec!["--uploads-per-minute", "0", "--explorer-max-ms", "200"];
    all.extend_from_slice(args);
    let mut server = ServerProcess::start(&all, env);
    let (acked, failed) = upload_until_killed(&mut server);
    assert!(
        acked.len() >= 60,
        "only {} uploads acknowledged",
        acked.len()
    );
    assert!(
        failed > 0,
        "the kill interrupted no request (it came too late)"
    );

    let server = ServerProcess::start(&all, env);
    for (id, body) in &acked {
        let (status, got) = http(&server.addr, "GET", &format!("/api/scenarios/{id}"), None)
            .unwrap_or_else(|e| panic!("GET {id}: {e}"));
        assert_eq!(
            status, 200,
            "acknowledged scenario {id} lost after the crash"
        );
        assert_eq!(&got, body, "scenario {id} changed after the crash");
    }
    // Still writable.
    let (status, _) = http(
        &server.addr,
        "POST",
        "/api/scenarios",
        Some(&variant(424242)),
    )
    .unwrap();
    assert_eq!(status, 201);
    eprintln!(
        "crash test: {} acknowledged uploads all present after SIGKILL ({failed} requests cut)",
        acked.len()
    );
}

#[test]
fn sqlite_acknowledged_uploads_survive_sigkill() {
    let dir = TempDir::new("crash");
    let db = dir.path().join("crash.sqlite3");
    crash_and_check(&["--db", db.to_str().unwrap()], &[]);
    // The file is a sound database.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    });
}

#[test]
fn postgres_acknowledged_uploads_survive_sigkill() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(common::pg::database()) else {
        return;
    };
    crash_and_check(&[], &[("DATABASE_URL", &url)]);
}
