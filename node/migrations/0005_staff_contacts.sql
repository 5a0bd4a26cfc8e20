-- Staff contact details for the roster: staff-only, node-local, never an
-- event, never synced.
CREATE TABLE staff_contacts (
    person  TEXT PRIMARY KEY,
    contact TEXT NOT NULL
) WITHOUT ROWID;
