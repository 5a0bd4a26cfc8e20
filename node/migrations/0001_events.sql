-- The event log: immutable, one row per event, identified by (origin, seq).
CREATE TABLE events (
    origin      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    hlc         INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    occurred_at INTEGER,          -- Unix milliseconds; NULL when unknown
    payload     BLOB    NOT NULL, -- JSON object
    PRIMARY KEY (origin, seq)
) WITHOUT ROWID;

CREATE INDEX events_by_hlc ON events (hlc, origin, seq);

-- Facts about this database: its own origin, when it was made.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Personal data lives beside the log, never in it: keyed by the check-in's
-- id, node-local, never synced, purged by the retention rule.
CREATE TABLE personal (
    checkin_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    contact     TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '',
    recorded_at INTEGER NOT NULL  -- HLC of the check-in
) WITHOUT ROWID;
