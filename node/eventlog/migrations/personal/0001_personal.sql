-- Personal data lives beside the log, never in it: keyed by the check-in's
-- id, node-local, never synced, purged by the retention rule. Only a
-- node's log has these tables; central's never does.
CREATE TABLE IF NOT EXISTS personal (
    checkin_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    contact     TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '',
    recorded_at INTEGER NOT NULL  -- HLC of the check-in
) WITHOUT ROWID;

-- Staff contact details for the roster: staff-only, node-local, never an
-- event, never synced.
CREATE TABLE IF NOT EXISTS staff_contacts (
    person  TEXT PRIMARY KEY,
    contact TEXT NOT NULL
) WITHOUT ROWID;
