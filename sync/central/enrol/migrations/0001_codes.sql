-- Central's one-time enrolment codes (safepoint enrol create). A code is
-- kept only as the SHA-256 of its normalised form: see the package comment
-- for why a fast hash is enough for it.
CREATE TABLE enrol_codes (
    hash         BLOB    PRIMARY KEY,       -- SHA-256 of the code, upper case, no dashes
    node         TEXT    NOT NULL,
    municipality TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL DEFAULT '', -- the operating-system user who ran enrol create
    created_at   INTEGER NOT NULL,          -- Unix milliseconds, central's wall clock
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,                   -- set once, by the one redemption that won
    revoked_at   INTEGER,
    CHECK (used_at IS NULL OR revoked_at IS NULL)
) WITHOUT ROWID;

CREATE INDEX enrol_codes_by_node ON enrol_codes (node, created_at);
