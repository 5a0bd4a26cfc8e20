-- Staff accounts and their sessions. Node-local like the personal table:
-- never an event, never synced, never logged. IF NOT EXISTS: a database
-- made before the stores had their own chains already holds them.
CREATE TABLE IF NOT EXISTS accounts (
    name       TEXT PRIMARY KEY,
    role       TEXT    NOT NULL,
    hash       TEXT    NOT NULL, -- argon2id, PHC string format
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, -- Unix milliseconds
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- A session is known by the SHA-256 of its token: the token itself lives
-- only in the staff member's cookie, so a copy of this table opens nothing.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account);
