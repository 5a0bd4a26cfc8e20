-- Power history: one row a minute, written in batches every few minutes
-- (an SD card must not take a write per sample), kept for 7 days. A node's
-- table only. IF NOT EXISTS: a database made before the stores had their
-- own chains already holds it.
CREATE TABLE IF NOT EXISTS power_samples (
    at      INTEGER PRIMARY KEY, -- Unix milliseconds, the minute's start
    state   TEXT NOT NULL,
    volts   REAL,
    amps    REAL,
    percent REAL,
    runtime INTEGER              -- seconds; NULL when unknown
);
