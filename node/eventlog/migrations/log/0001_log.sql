-- The event log: immutable, one row per event, identified by (origin, seq).
-- IF NOT EXISTS throughout: a database made before the stores had their own
-- chains already holds these tables, and keeps them as they are.
CREATE TABLE IF NOT EXISTS events (
    origin      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq > 0),
    hlc         INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    occurred_at INTEGER,          -- Unix milliseconds; NULL when unknown
    payload     BLOB    NOT NULL, -- JSON object
    PRIMARY KEY (origin, seq)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS events_by_hlc ON events (hlc, origin, seq);

-- Facts about this database: its own origin, when it was made.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Idempotency keys: a form's one-time token, an API client's
-- Idempotency-Key. Written in the same transaction as the event it made, so
-- a repeated submission finds the first one's event instead of making a
-- second. Node-local; old keys are purged.
CREATE TABLE IF NOT EXISTS idempotency (
    key        TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL, -- the event of the log's own origin it made
    created_at INTEGER NOT NULL  -- Unix milliseconds
) WITHOUT ROWID;

-- Sync state. At central: how far each origin's events are held without a
-- gap (the watermark acknowledged to the node). At a node: how far each
-- foreign stream (central's downlink) is held.
CREATE TABLE IF NOT EXISTS watermarks (
    origin TEXT PRIMARY KEY,
    held   INTEGER NOT NULL -- every seq 1..held of origin is in events
) WITHOUT ROWID;

-- How far a peer (central) has acknowledged this log's own events.
CREATE TABLE IF NOT EXISTS peer_acks (
    peer  TEXT PRIMARY KEY,
    acked INTEGER NOT NULL -- the peer holds our events 1..acked
) WITHOUT ROWID;

-- When the peer's acknowledgement passed each watermark, so a receipt can
-- say when its event reached the municipality. One row per
-- acknowledgement that moved the pointer.
CREATE TABLE IF NOT EXISTS ack_log (
    peer  TEXT    NOT NULL,
    acked INTEGER NOT NULL,
    at    INTEGER NOT NULL, -- Unix milliseconds, the log's wall clock
    PRIMARY KEY (peer, acked)
) WITHOUT ROWID;
