//! The store on SQLite and on PostgreSQL (the same tests, `on_both_backends!`): schema
//! creation, migrations, idempotent re-open, a newer schema refused, insert-if-absent,
//! /healthz. Plus what only SQLite has (a file path) and backend-independent routing.

mod common;

use common::{app, get, TempDir, TestDb};
use server::frontend::Frontend;
use server::store::{
    AppliedMigration, Inserted, Store, StoreError, StoredScenario, POSTGRES_MIGRATIONS,
    SQLITE_MIGRATIONS,
};
use sqlx::{Connection, PgConnection, SqliteConnection};

/// Run one statement on a separate connection straight to the database, to look at (or
/// tamper with) what the store left there.
async fn raw_execute(db: &TestDb, sqlite: &'static str, postgres: &'static str) {
    if db.kind == "sqlite" {
        let sql = sqlite;
        let mut c = SqliteConnection::connect(&format!("sqlite://{}", db.location))
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    } else {
        let sql = postgres;
        let mut c = PgConnection::connect(&db.location).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
}

fn expected_migrations(db: &TestDb) -> Vec<AppliedMigration> {
    let list = if db.kind == "sqlite" {
        SQLITE_MIGRATIONS
    } else {
        POSTGRES_MIGRATIONS
    };
    list.iter()
        .map(|&(version, description, _)| AppliedMigration {
            version,
            description: description.to_owned(),
            success: true,
        })
        .collect()
}

fn row(id: &str, body: &str) -> StoredScenario {
    StoredScenario {
        id: id.to_owned(),
        format: 1,
        body: body.as_bytes().to_vec(),
        title: Some("kept".to_owned()),
        verdict: Some("{\"outcome\":\"safe\"}".to_owned()),
        created_at: "2026-01-01T00:00:00.000Z".to_owned(),
    }
}

on_both_backends!(
    healthz_is_ok_with_the_database,
    healthz_is_503_when_the_database_fails,
    creates_the_schema_and_applies_the_migrations,
    reopening_is_idempotent_and_keeps_data,
    a_database_from_a_newer_mmrace_is_refused_clearly,
    insert_is_insert_if_absent_and_refuses_collisions,
);

async fn healthz_is_ok_with_the_database(db: &TestDb) {
    let app = db.app(Frontend::Missing);
    let reply = get(&app, "/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(
        reply.json(),
        serde_json::json!({"status": "up", "db": "up"})
    );
}

async fn healthz_is_503_when_the_database_fails(db: &TestDb) {
    let store = db.reopen().await;
    let app = server::web::router(server::state::AppState::new(
        store.clone(),
        Frontend::Missing,
    ));
    store.close().await; // every query now fails
    let reply = get(&app, "/healthz").await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["db"], "down");
    assert!(!body["error"].as_str().unwrap().is_empty());
    assert!(reply.headers.contains_key("retry-after"));
}

async fn creates_the_schema_and_applies_the_migrations(db: &TestDb) {
    assert_eq!(
        db.store.applied_migrations().await.unwrap(),
        expected_migrations(db)
    );
    // The same columns on both backends: (name, type, not null, primary key).
    let columns: Vec<(String, String, bool, bool)> = if db.kind == "sqlite" {
        let mut c = SqliteConnection::connect(&format!("sqlite://{}", db.location))
            .await
            .unwrap();
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info('scenarios')",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(mode, "wal", "WAL is a property of the file and persists");
        rows.into_iter()
            .map(|(n, t, nn, pk)| (n, t.to_lowercase(), nn == 1, pk == 1))
            .collect()
    } else {
        let mut c = PgConnection::connect(&db.location).await.unwrap();
        let rows: Vec<(String, String, String, bool)> = sqlx::query_as(
            "SELECT c.column_name::text, c.data_type::text, c.is_nullable::text, \
                    EXISTS (SELECT 1 FROM information_schema.key_column_usage k \
                            WHERE k.table_name = c.table_name AND k.column_name = c.column_name) \
             FROM information_schema.columns c WHERE c.table_name = 'scenarios' \
             ORDER BY c.ordinal_position",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(n, t, nullable, pk)| {
                let t = match t.as_str() {
                    "bytea" => "blob".to_owned(),
                    other => other.to_owned(),
                };
                (n, t, nullable == "NO", pk)
            })
            .collect()
    };
    let columns: Vec<(&str, &str, bool, bool)> = columns
        .iter()
        .map(|(n, t, nn, pk)| (n.as_str(), t.as_str(), *nn, *pk))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "text", true, true),
            ("format", "integer", true, false),
            ("body", "blob", true, false),
            ("title", "text", false, false),
            ("verdict", "text", false, false),
            ("created_at", "text", true, false),
        ]
    );
}

async fn reopening_is_idempotent_and_keeps_data(db: &TestDb) {
    db.store.insert_scenario(&row("abc", "{}")).await.unwrap();
    for _ in 0..2 {
        let store = db.reopen().await;
        assert_eq!(
            store.applied_migrations().await.unwrap(),
            expected_migrations(db)
        );
        store.ping().await.unwrap();
        let got = store.get_scenario("abc").await.unwrap().unwrap();
        assert_eq!(got, row("abc", "{}"));
        store.close().await;
    }
}

async fn a_database_from_a_newer_mmrace_is_refused_clearly(db: &TestDb) {
    raw_execute(
        db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00'::bytea, 0)",
    )
    .await;
    let err = if db.kind == "sqlite" {
        Store::open_sqlite(std::path::Path::new(&db.location))
            .await
            .unwrap_err()
    } else {
        Store::open_postgres(&db.location).await.unwrap_err()
    };
    assert!(matches!(err, StoreError::UnknownMigration(9999)), "{err:?}");
    assert!(err.to_string().contains("newer mmrace"), "{err}");
}

async fn insert_is_insert_if_absent_and_refuses_collisions(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.get_scenario("abc").await.unwrap(), None);
    assert_eq!(
        s.insert_scenario(&row("abc", "{\"a\":1}")).await.unwrap(),
        Inserted::Created
    );
    // The same again (say, from another instance): nothing changes, not even the metadata.
    let mut again = row("abc", "{\"a\":1}");
    again.verdict = None;
    again.created_at = "2030-01-01T00:00:00.000Z".to_owned();
    assert_eq!(s.insert_scenario(&again).await.unwrap(), Inserted::Existed);
    assert_eq!(
        s.get_scenario("abc").await.unwrap().unwrap(),
        row("abc", "{\"a\":1}")
    );
    // A different body under the same id is never stored or served.
    let err = s
        .insert_scenario(&row("abc", "{\"a\":2}"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdCollision(ref id) if id == "abc"),
        "{err:?}"
    );
    assert_eq!(s.count_scenarios().await.unwrap(), 1);
    // Bodies are bytes: stored and returned exactly, whatever they contain.
    let odd = "{\"t\":\"\\u0000 é 😀 <script>\"}\n";
    s.insert_scenario(&row("odd", odd)).await.unwrap();
    assert_eq!(
        s.get_scenario("odd").await.unwrap().unwrap().body,
        odd.as_bytes()
    );
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
async fn the_sqlite_file_is_created() {
    let dir = TempDir::new("create");
    let path = dir.path().join("new.sqlite3");
    assert!(!path.exists());
    let store = Store::open_sqlite(&path).await.unwrap();
    assert!(path.is_file());
    store.close().await;
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
        let body = reply.json();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("no such API route"),
            "{uri}: {body}"
        );
        assert_eq!(
            body["request_id"].as_str(),
            reply
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            "{uri}"
        );
    }
    store.close().await;
}
