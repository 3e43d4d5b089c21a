-- The scenario store (filled by a later issue). A row is immutable once written: `id` is
-- content-addressed (same scenario -> same id), `format` pins the scenario format version the
-- body was written in, so that an old link keeps replaying exactly as it did.
-- STRICT: SQLite enforces the declared column types (no silent type affinity).
CREATE TABLE scenarios (
    id         TEXT    PRIMARY KEY NOT NULL,
    format     INTEGER NOT NULL,
    body       BLOB    NOT NULL,
    title      TEXT,
    verdict    TEXT,
    created_at TEXT    NOT NULL
) STRICT;
