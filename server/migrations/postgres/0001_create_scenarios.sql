-- The scenario store, PostgreSQL flavour of migrations/sqlite/0001_create_scenarios.sql (same
-- columns, same meaning). A row is immutable once written: `id` is content-addressed (same
-- scenario -> same id), `format` pins the scenario format version the body was written in,
-- so that an old link keeps replaying exactly as it did. Several server instances may insert
-- concurrently: `INSERT ... ON CONFLICT (id) DO NOTHING` makes insert-if-absent race-free.
CREATE TABLE scenarios (
    id         TEXT    PRIMARY KEY NOT NULL,
    format     INTEGER NOT NULL,
    body       BYTEA   NOT NULL,
    title      TEXT,
    verdict    TEXT,
    created_at TEXT    NOT NULL
);
