//! The SQLite store: file creation, migrations, idempotent re-open, /healthz.

mod common;

use common::{app, get, TempDir};
use server::frontend::Frontend;
use server::store::{AppliedMigration, Store, StoreError, SQLITE_MIGRATIONS};
use sqlx::{Connection, SqliteConnection};

/// A separate connection straight to the file, to look at what the store left on disk.
async fn raw(path: &std::path::Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

fn expected_migrations() -> Vec<AppliedMigration> {
    SQLITE_MIGRATIONS
        .iter()
        .map(|&(version, description, _)| AppliedMigration {
            version,
            description: description.to_owned(),
            success: true,
        })
        .collect()
}

#[tokio::test]
async fn healthz_is_ok_with_the_database() {
    let dir = TempDir::new("healthz");
    let (app, store) = app(&dir, Frontend::Missing).await;
    let reply = get(&app, "/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"status": "ok", "db": "ok"})
    );
    store.close().await;
}

#[tokio::test]
async fn healthz_is_503_when_the_database_fails() {
    let dir = TempDir::new("healthz-503");
    let (app, store) = app(&dir, Frontend::Missing).await;
    store.close().await; // every query now fails
    let reply = get(&app, "/healthz").await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    assert_eq!(body["status"], "error");
    assert_eq!(body["db"], "error");
    assert!(!body["error"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn creates_the_file_and_applies_the_migrations() {
    let dir = TempDir::new("create");
    let path = dir.path().join("new.sqlite3");
    assert!(!path.exists());
    let store = Store::open_sqlite(&path).await.unwrap();
    assert!(path.is_file());
    assert_eq!(
        store.applied_migrations().await.unwrap(),
        expected_migrations()
    );
    store.close().await;

    let mut conn = raw(&path).await;
    let columns: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info('scenarios')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let columns: Vec<(&str, &str, i64, i64)> = columns
        .iter()
        .map(|(n, t, nn, pk)| (n.as_str(), t.as_str(), *nn, *pk))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "TEXT", 1, 1),
            ("format", "INTEGER", 1, 0),
            ("body", "BLOB", 1, 0),
            ("title", "TEXT", 0, 0),
            ("verdict", "TEXT", 0, 0),
            ("created_at", "TEXT", 1, 0),
        ]
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal", "WAL is a property of the file and persists");
}

#[tokio::test]
async fn reopening_is_idempotent_and_keeps_data() {
    let dir = TempDir::new("reopen");
    let path = dir.path().join("db.sqlite3");
    Store::open_sqlite(&path).await.unwrap().close().await;
    {
        let mut conn = raw(&path).await;
        sqlx::query(
            "INSERT INTO scenarios (id, format, body, title, created_at) \
             VALUES ('abc', 1, x'7b7d', 'kept', '2026-01-01T00:00:00Z')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    for _ in 0..2 {
        let store = Store::open_sqlite(&path).await.unwrap();
        assert_eq!(
            store.applied_migrations().await.unwrap(),
            expected_migrations()
        );
        store.ping().await.unwrap();
        store.close().await;
    }
    let mut conn = raw(&path).await;
    let title: String = sqlx::query_scalar("SELECT title FROM scenarios WHERE id = 'abc'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(title, "kept");
}

#[tokio::test]
async fn a_database_from_a_newer_mmrace_is_refused_clearly() {
    let dir = TempDir::new("newer");
    let path = dir.path().join("db.sqlite3");
    Store::open_sqlite(&path).await.unwrap().close().await;
    {
        let mut conn = raw(&path).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let err = Store::open_sqlite(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownMigration(9999)), "{err:?}");
    assert!(err.to_string().contains("newer mmrace"), "{err}");
}

#[tokio::test]
async fn an_unopenable_path_names_the_file() {
    let dir = TempDir::new("bad-path");
    let path = dir.path().join("no/such/dir/db.sqlite3");
    let err = Store::open_sqlite(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir/db.sqlite3"), "{err}");
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let dir = TempDir::new("api404");
    let (app, store) = app(&dir, Frontend::Missing).await;
    for uri in [
        "/api",
        "/api/",
        "/api/nope",
        "/api/scenarios/x/y",
        "//api/x",
        "/%61pi/x",
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, 404, "{uri}");
        assert_eq!(
            reply.json(),
            serde_json::json!({"error": "not found"}),
            "{uri}"
        );
    }
    store.close().await;
}
