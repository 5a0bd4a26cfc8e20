-- Central's own store: the directives staff make and each node's downlink
-- stream. IF NOT EXISTS throughout: a database made before the stores had
-- their own chains already holds these tables, and keeps them as they are.

-- Every node central knows, so a directive for a municipality reaches
-- nodes that are offline when it is made.
CREATE TABLE IF NOT EXISTS down_nodes (
    node         TEXT PRIMARY KEY,
    municipality TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL
) WITHOUT ROWID;

-- Directives as staff made them.
CREATE TABLE IF NOT EXISTS directives (
    id         TEXT PRIMARY KEY,
    kind       TEXT    NOT NULL, -- announcement, activation, report_status, contacts, withdrawal
    target     TEXT    NOT NULL, -- node:ID, municipality:CODE or all
    created_at INTEGER NOT NULL, -- Unix milliseconds, central's wall clock
    hlc        INTEGER NOT NULL, -- the events' HLC in every stream: the fold orders by it
    by         TEXT    NOT NULL,
    type       TEXT    NOT NULL, -- the event type written into the streams
    payload    BLOB    NOT NULL, -- the event payload, JSON
    valid_until INTEGER           -- announcements: not sent to a node first seen after it
) WITHOUT ROWID;

-- Each node's downlink stream, gap-free seq per node, and per entry when
-- it was queued, delivered (the node acknowledged it) and shown (the node
-- reported showing it).
CREATE TABLE IF NOT EXISTS downlink (
    node         TEXT    NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq > 0),
    directive    TEXT    NOT NULL,
    queued_at    INTEGER NOT NULL,
    delivered_at INTEGER,
    shown_at     INTEGER,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS downlink_by_directive ON downlink (directive, node);
