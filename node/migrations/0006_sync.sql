-- Sync state. At central: how far each origin's events are held without a
-- gap (the watermark acknowledged to the node). At a node: how far central
-- has acknowledged its events.
CREATE TABLE watermarks (
    origin TEXT PRIMARY KEY,
    held   INTEGER NOT NULL -- every seq 1..held of origin is in events
) WITHOUT ROWID;

CREATE TABLE peer_acks (
    peer  TEXT PRIMARY KEY,
    acked INTEGER NOT NULL -- the peer holds our events 1..acked
) WITHOUT ROWID;
