-- Central's situation picture: each point's folded state, written out now
-- and then, so a start folds only the events that came after it.
CREATE TABLE point_snapshots (
    origin   TEXT PRIMARY KEY,
    version  TEXT    NOT NULL, -- node.FoldVersion it was taken under
    held     INTEGER NOT NULL, -- every event 1..held of origin is folded in
    down     INTEGER NOT NULL, -- the node's downlink stream 1..down is folded in
    heard_at INTEGER,          -- Unix milliseconds: the node last heard from
    last_own INTEGER NOT NULL DEFAULT 0, -- the greatest HLC of origin's own events
    state    BLOB    NOT NULL, -- node.State.Snapshot
    saved_at INTEGER NOT NULL  -- Unix milliseconds
) WITHOUT ROWID;
