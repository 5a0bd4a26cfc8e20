package node

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"

	_ "modernc.org/sqlite" // registers the "sqlite" driver, pure Go
)

//go:embed migrations/*.sql
var migrations embed.FS

// dsn builds a modernc.org/sqlite data source name. Pragmas go in the DSN so
// that every connection of the pool gets them, not just the first.
// synchronous=FULL because the box lives through power cuts: a committed
// transaction must survive one.
func dsn(file string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Deleted rows are overwritten, not left in free pages: the
		// retention rule's purge must leave no name in the file.
		q.Add("_pragma", "secure_delete(1)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// openDB opens the database at file. A read-only open requires the file to
// exist: it never creates an empty log by accident.
func openDB(file string, readOnly bool) (*sql.DB, error) {
	if readOnly {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("event log: %w", err)
		}
	}
	db, err := sql.Open("sqlite", dsn(file, readOnly))
	if err != nil {
		return nil, fmt.Errorf("event log: open %s: %w", file, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("event log: open %s: %w", file, err)
	}
	return db, nil
}

// migrate applies the embedded migrations that the database has not seen,
// in file-name order, each in its own transaction together with the
// user_version that records it.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("event log: read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("event log: schema version %d is newer than this program knows (%d): %w",
			version, len(names), ErrNewerSchema)
	}
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("event log: migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("event log: migration %s: %w", path.Base(names[i]), err)
		}
		// PRAGMA takes no bound parameters; i+1 is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("event log: migration %s: %w", path.Base(names[i]), err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("event log: migration %s: %w", path.Base(names[i]), err)
		}
	}
	return nil
}

// ErrNewerSchema means the database was written by a newer version.
var ErrNewerSchema = errors.New("database from a newer version")

const selectEvents = `SELECT origin, seq, hlc, type, occurred_at, payload FROM events`

// scanEvents runs query and calls fn for each event, in one statement, so
// the reader sees one consistent snapshot of the log.
func scanEvents(ctx context.Context, db *sql.DB, query string, fn func(Event) error, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("event log: read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e        Event
			occurred sql.NullInt64
			payload  []byte
		)
		if err := rows.Scan(&e.Origin, &e.Seq, &e.HLC, &e.Type, &occurred, &payload); err != nil {
			return fmt.Errorf("event log: read: %w", err)
		}
		if occurred.Valid {
			t := unixMilli(occurred.Int64)
			e.OccurredAt = &t
		}
		e.Payload = payload
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("event log: read: %w", err)
	}
	return nil
}

// Reader reads a log that another process may be writing: `safepoint dump`
// uses it beside a running daemon.
type Reader struct{ db *sql.DB }

// OpenReader opens the log at file read-only.
func OpenReader(file string) (*Reader, error) {
	db, err := openDB(file, true)
	if err != nil {
		return nil, err
	}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("event log: %s: %w", file, err)
	}
	if version == 0 {
		db.Close()
		return nil, fmt.Errorf("event log: %s is not a safepoint log", file)
	}
	return &Reader{db}, nil
}

// Events calls fn for every event, ordered by origin and seq, from one
// consistent snapshot.
func (r *Reader) Events(ctx context.Context, fn func(Event) error) error {
	return scanEvents(ctx, r.db, selectEvents+` ORDER BY origin, seq`, fn)
}

// Close closes the reader.
func (r *Reader) Close() error { return r.db.Close() }
