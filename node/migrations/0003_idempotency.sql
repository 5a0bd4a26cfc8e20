-- Idempotency keys: a form's one-time token, an API client's
-- Idempotency-Key. Written in the same transaction as the event it made, so
-- a repeated submission finds the first one's event instead of making a
-- second. Node-local; old keys are purged.
CREATE TABLE idempotency (
    key        TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL, -- the event of the log's own origin it made
    created_at INTEGER NOT NULL  -- Unix milliseconds
) WITHOUT ROWID;
