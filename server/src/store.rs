//! The database behind the server.
//!
//! [`Store`] hides which database is in use: an embedded SQLite file (the default) or
//! PostgreSQL (selected by `DATABASE_URL`, for several server instances behind a load
//! balancer). Both have the same schema, each in its own migration folder
//! (`migrations/sqlite/`, `migrations/postgres/`), and the same behaviour; the integration
//! tests run against both. An enum rather than a trait object: two known backends, no boxing
//! of async methods, and the compiler lists every method that needs both arms.
//!
//! Migrations are embedded in the binary and applied at open time with sqlx's runtime
//! migrator. The files follow sqlx's `<VERSION>_<DESCRIPTION>.sql` naming, but they are
//! listed in [`SQLITE_MIGRATIONS`] / [`POSTGRES_MIGRATIONS`] with `include_str!` instead of
//! going through the `sqlx::migrate!` macro: the macro needs sqlx's `macros` feature, which
//! compiles sqlx-macros-core and a second copy of the database drivers (SQLite's C source
//! included) for the proc-macro host. The runtime migrator gives the same behaviour — the
//! `_sqlx_migrations` table with version, description, time, checksum and success flag; a
//! changed or half-applied migration is refused; on PostgreSQL an advisory lock so that
//! instances starting together migrate once — for the cost of the `migrate` feature (sha2 and
//! crc, which the drivers pull in anyway). A test checks that the lists and the folders agree.
//!
//! Scenarios are immutable: [`Store::insert_scenario`] is insert-if-absent by id
//! (`INSERT ... ON CONFLICT (id) DO NOTHING`, race-free across connections and instances), and
//! nothing updates or deletes a row.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqlSafeStr};

/// A migration: (version, description, SQL). The description must match the file name
/// (`0001_create_scenarios.sql` → "create scenarios"), as sqlx derives it.
pub type MigrationSource = (i64, &'static str, &'static str);

/// The SQLite migrations, in order.
pub const SQLITE_MIGRATIONS: &[MigrationSource] = &[(
    1,
    "create scenarios",
    include_str!("../migrations/sqlite/0001_create_scenarios.sql"),
)];

/// The PostgreSQL migrations, in order (same versions and descriptions as SQLite's).
pub const POSTGRES_MIGRATIONS: &[MigrationSource] = &[(
    1,
    "create scenarios",
    include_str!("../migrations/postgres/0001_create_scenarios.sql"),
)];

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection (a new one included: with PostgreSQL
/// down, connecting fails within this): well under the 10 s request timeout, so that a
/// client hears 503 + Retry-After quickly instead of waiting out the request.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// SQLite allows one writer at a time but many readers in WAL mode.
const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// Per instance; PostgreSQL's default `max_connections` is 100, so a handful of instances fit.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the SQLite database {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to the PostgreSQL database {target}")]
    Connect {
        /// host:port/database — never the user or password.
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    BadUrl(#[source] sqlx::Error),
    #[error(
        "the database has schema migration {0}, which this mmrace does not know \
         (was the database written by a newer mmrace?)"
    )]
    UnknownMigration(i64),
    #[error("cannot apply the database migrations")]
    Migrate(#[source] MigrateError),
    #[error(
        "scenario id {0} is already stored with different content (an id collision); \
         refusing to store or serve the wrong scenario"
    )]
    IdCollision(String),
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
}

/// A migration recorded as applied in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    pub success: bool,
}

/// A stored scenario row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScenario {
    /// Content-addressed id ([`crate::id`]).
    pub id: String,
    /// The scenario format version the body is written in.
    pub format: i64,
    /// The canonical JSON, exactly as stored and served.
    pub body: Vec<u8>,
    pub title: Option<String>,
    /// The explorer's verdict at upload (JSON text), if any.
    pub verdict: Option<String>,
    /// RFC 3339 UTC, e.g. `2026-11-26T12:34:56.789Z`.
    pub created_at: String,
}

/// What [`Store::insert_scenario`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new row.
    Created,
    /// The same id was already stored with the same body; nothing changed.
    Existed,
}

/// A handle on the database; cheap to clone (it wraps a connection pool).
#[derive(Debug, Clone)]
pub struct Store {
    /// Shared: every request clones the store.
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Sqlite {
        pool: SqlitePool,
        path: PathBuf,
        /// SQLite has one writer at a time; a second one waits in SQLite's busy handler,
        /// which sleeps in growing steps (up to 100 ms). Queueing our own writers here
        /// instead keeps upload latency flat under load.
        write_lock: tokio::sync::Mutex<()>,
    },
    Postgres {
        pool: PgPool,
        target: String,
    },
}

impl Store {
    /// Open (creating if missing) the SQLite file at `path` and bring its schema up to date.
    /// Re-opening an up-to-date database changes nothing.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL: readers never block the writer. synchronous=FULL: a commit is fsynced to
            // the WAL before it is acknowledged, so an acknowledged write survives power loss
            // (NORMAL, the usual WAL pairing, may lose the last commits).
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Opening one connection now surfaces a bad path or a non-database file at start,
            // not at the first request.
            .connect_with(options)
            .await
            .map_err(open_err)?;
        let store = Store {
            backend: Arc::new(Backend::Sqlite {
                pool,
                path: path.to_owned(),
                write_lock: tokio::sync::Mutex::new(()),
            }),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connect to PostgreSQL (`postgres://user:password@host:port/database?...`) and bring
    /// the schema up to date. Several instances may do this at the same time.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::BadUrl)?;
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        let connect_err = |source| StoreError::Connect {
            target: target.clone(),
            source,
        };
        // One direct connection first: a server that is down or refuses us is reported at
        // once (the pool would keep retrying for its whole acquire timeout).
        sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(connect_err)?
            .close()
            .await
            .map_err(connect_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        let store = Store {
            backend: Arc::new(Backend::Postgres { pool, target }),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &*self.backend {
            Backend::Sqlite { pool, .. } => migrator(SQLITE_MIGRATIONS).run(pool).await,
            Backend::Postgres { pool, .. } => migrator(POSTGRES_MIGRATIONS).run(pool).await,
        };
        result.map_err(|e| match e {
            MigrateError::VersionMissing(v) => StoreError::UnknownMigration(v),
            e => StoreError::Migrate(e),
        })
    }

    /// A trivial round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let one: i32 = match &*self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_scalar("SELECT 1").fetch_one(pool).await?,
            Backend::Postgres { pool, .. } => {
                sqlx::query_scalar("SELECT 1").fetch_one(pool).await?
            }
        };
        debug_assert_eq!(one, 1);
        Ok(())
    }

    /// The migrations recorded in the database, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        const SQL: &str =
            "SELECT version, description, success FROM _sqlx_migrations ORDER BY version";
        let rows: Vec<(i64, String, bool)> = match &*self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await?,
            Backend::Postgres { pool, .. } => sqlx::query_as(SQL).fetch_all(pool).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(version, description, success)| AppliedMigration {
                version,
                description,
                success,
            })
            .collect())
    }

    /// Store a scenario unless its id is already stored. Race-free: of several concurrent
    /// inserts of one id (in this process or in other instances) exactly one creates the row.
    /// An existing row with a different body is an [`StoreError::IdCollision`].
    pub async fn insert_scenario(&self, row: &StoredScenario) -> Result<Inserted, StoreError> {
        let affected = match &*self.backend {
            Backend::Sqlite {
                pool, write_lock, ..
            } => {
                let _writer = write_lock.lock().await;
                sqlx::query(
                    "INSERT INTO scenarios (id, format, body, title, verdict, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&row.id)
                .bind(row.format)
                .bind(&row.body)
                .bind(&row.title)
                .bind(&row.verdict)
                .bind(&row.created_at)
                .execute(pool)
                .await?
                .rows_affected()
            }
            Backend::Postgres { pool, .. } => sqlx::query(
                "INSERT INTO scenarios (id, format, body, title, verdict, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&row.id)
            .bind(i32::try_from(row.format).unwrap_or(i32::MAX))
            .bind(&row.body)
            .bind(&row.title)
            .bind(&row.verdict)
            .bind(&row.created_at)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        if affected == 1 {
            return Ok(Inserted::Created);
        }
        match self.get_scenario(&row.id).await? {
            Some(existing) if existing.body == row.body => Ok(Inserted::Existed),
            _ => Err(StoreError::IdCollision(row.id.clone())),
        }
    }

    /// The scenario stored under `id` (canonical spelling), if any.
    pub async fn get_scenario(&self, id: &str) -> Result<Option<StoredScenario>, StoreError> {
        /// format, body, title, verdict, created_at (`F`: the integer type of `format`).
        type Row<F> = (F, Vec<u8>, Option<String>, Option<String>, String);
        let row: Option<Row<i64>> =
            match &*self.backend {
                Backend::Sqlite { pool, .. } => sqlx::query_as(
                    "SELECT format, body, title, verdict, created_at FROM scenarios WHERE id = ?",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?,
                Backend::Postgres { pool, .. } => {
                    let row: Option<Row<i32>> = sqlx::query_as(
                    "SELECT format, body, title, verdict, created_at FROM scenarios WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?;
                    row.map(|(f, b, t, v, c)| (i64::from(f), b, t, v, c))
                }
            };
        Ok(row.map(
            |(format, body, title, verdict, created_at)| StoredScenario {
                id: id.to_owned(),
                format,
                body,
                title,
                verdict,
                created_at,
            },
        ))
    }

    /// How many scenarios are stored.
    pub async fn count_scenarios(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM scenarios";
        Ok(match &*self.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await?,
            Backend::Postgres { pool, .. } => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        })
    }

    /// Which backend: `"sqlite"` or `"postgres"` (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// For logs: which database this is (never includes credentials).
    pub fn describe(&self) -> String {
        match &*self.backend {
            Backend::Sqlite { path, .. } => format!("SQLite {}", path.display()),
            Backend::Postgres { target, .. } => format!("PostgreSQL {target}"),
        }
    }

    /// Close every connection, waiting for those in use to be returned. With SQLite, closing
    /// the last connection checkpoints the WAL into the main file.
    pub async fn close(&self) {
        match &*self.backend {
            Backend::Sqlite { pool, .. } => pool.close().await,
            Backend::Postgres { pool, .. } => pool.close().await,
        }
    }
}

fn migrator(list: &'static [MigrationSource]) -> Migrator {
    let migrations = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The current time as RFC 3339 UTC with milliseconds (`2026-11-26T12:34:56.789Z`).
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    // Always three fractional digits and `Z`: stored timestamps sort as text.
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .expect("a UTC date between years 0 and 9999 formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists above and the folders must agree: a new file that is not listed would never
    /// be applied, and an edited one would be refused by existing databases (checksum). Both
    /// backends have the same versions and descriptions.
    #[test]
    fn migration_lists_match_folders() {
        for (folder, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(folder);
            let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "sql"))
                .map(|p| {
                    let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
                    let (version, desc) = stem.split_once('_').expect("VERSION_DESCRIPTION.sql");
                    (
                        version.parse().expect("numeric version"),
                        desc.replace('_', " "),
                        std::fs::read_to_string(&p).unwrap(),
                    )
                })
                .collect();
            files.sort();
            let listed: Vec<(i64, String, String)> = list
                .iter()
                .map(|&(v, d, s)| (v, d.to_owned(), s.to_owned()))
                .collect();
            assert_eq!(files, listed, "{folder}");
            assert!(
                listed.windows(2).all(|w| w[0].0 < w[1].0),
                "{folder}: versions ascend"
            );
        }
        let names = |l: &[MigrationSource]| -> Vec<(i64, &str)> {
            l.iter().map(|&(v, d, _)| (v, d)).collect()
        };
        assert_eq!(names(SQLITE_MIGRATIONS), names(POSTGRES_MIGRATIONS));
    }

    #[test]
    fn timestamps() {
        let at = |secs: i64, millis: i64| {
            rfc3339(
                time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
                    + time::Duration::milliseconds(millis),
            )
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_000_000, 999), "2026-11-18T11:06:40.999Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }

    #[tokio::test]
    async fn connections_use_the_durable_settings() {
        let dir = std::env::temp_dir().join(format!("mmrace-store-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pragmas.sqlite3");
        let store = Store::open_sqlite(&path).await.unwrap();
        let Backend::Sqlite { pool, .. } = &*store.backend else {
            unreachable!("opened as SQLite")
        };
        let mut conn = pool.acquire().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
    }
}
