-- At a node: when central's acknowledgement passed each watermark, so a
-- receipt can say when its event reached the municipality. One row per
-- acknowledgement that moved the pointer.
CREATE TABLE ack_log (
    peer  TEXT    NOT NULL,
    acked INTEGER NOT NULL,
    at    INTEGER NOT NULL, -- Unix milliseconds, the log's wall clock
    PRIMARY KEY (peer, acked)
) WITHOUT ROWID;

-- At central: every node it knows, so a directive for a municipality
-- reaches nodes that are offline when it is made.
CREATE TABLE down_nodes (
    node         TEXT PRIMARY KEY,
    municipality TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL
) WITHOUT ROWID;

-- At central: directives as staff made them.
CREATE TABLE directives (
    id         TEXT PRIMARY KEY,
    kind       TEXT    NOT NULL, -- announcement, activation, report_status, contacts
    target     TEXT    NOT NULL, -- node:ID, municipality:CODE or all
    created_at INTEGER NOT NULL, -- Unix milliseconds, central's wall clock
    hlc        INTEGER NOT NULL, -- the events' HLC in every stream: the fold orders by it
    by         TEXT    NOT NULL,
    type       TEXT    NOT NULL, -- the event type written into the streams
    payload    BLOB    NOT NULL, -- the event payload, JSON
    valid_until INTEGER           -- announcements: not sent to a node first seen after it
) WITHOUT ROWID;

-- At central: each node's downlink stream, gap-free seq per node, and
-- per entry when it was queued, delivered (the node acknowledged it) and
-- shown (the node reported showing it).
CREATE TABLE downlink (
    node         TEXT    NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq > 0),
    directive    TEXT    NOT NULL,
    queued_at    INTEGER NOT NULL,
    delivered_at INTEGER,
    shown_at     INTEGER,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;

CREATE INDEX downlink_by_directive ON downlink (directive, node);
