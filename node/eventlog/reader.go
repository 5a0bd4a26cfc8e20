package eventlog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
	_ "modernc.org/sqlite" // registers the "sqlite" driver, pure Go
)

//go:embed migrations
var migrations embed.FS

// The log's migration chains: the log itself, and, in a node's log only,
// the personal data kept beside it.
var (
	logSteps      = sqlitedb.MustSteps(migrations, "migrations/log")
	personalSteps = append(sqlitedb.MustSteps(migrations, "migrations/personal"), sqlitedb.Step{
		Name: "0002_no_central_tables",
		// A node's database made before the stores were split held
		// central's downlink tables too, always empty at a node: they
		// belong to central's own store now.
		Go: func(ctx context.Context, tx *sql.Tx) error {
			return sqlitedb.DropIfEmpty(ctx, tx, "downlink", "directives", "down_nodes")
		},
	})
)

const selectEvents = `SELECT origin, seq, hlc, type, occurred_at, payload FROM events`

// scanEvents runs query and calls fn for each event, in one statement, so
// the reader sees one consistent snapshot of the log.
func scanEvents(ctx context.Context, db *sql.DB, query string, fn func(node.Event) error, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("event log: read: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e        node.Event
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
	db, err := sqlitedb.Open(file, true)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	chains, err := sqlitedb.Chains(context.Background(), db)
	if err == nil && chains["log"] == 0 && chains["legacy"] == 0 {
		err = sqlitedb.ErrNotSafepoint
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("event log: %s: %w", file, err)
	}
	return &Reader{db}, nil
}

// Events calls fn for every event, ordered by origin and seq, from one
// consistent snapshot.
func (r *Reader) Events(ctx context.Context, fn func(node.Event) error) error {
	return scanEvents(ctx, r.db, selectEvents+` ORDER BY origin, seq`, fn)
}

// Recent returns origin's latest n events, newest first.
func (r *Reader) Recent(ctx context.Context, origin string, n int) ([]node.Event, error) {
	var out []node.Event
	err := scanEvents(ctx, r.db, selectEvents+` WHERE origin = ? ORDER BY seq DESC LIMIT ?`, func(e node.Event) error {
		out = append(out, e)
		return nil
	}, origin, n)
	return out, err
}

// origins lists every origin that has events, in order, one index seek
// each rather than a scan of the table.
func (r *Reader) origins(ctx context.Context) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, `WITH RECURSIVE o(x) AS (
		SELECT MIN(origin) FROM events
		UNION ALL SELECT (SELECT MIN(origin) FROM events WHERE origin > x) FROM o WHERE x IS NOT NULL)
		SELECT x FROM o WHERE x IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("event log: origins: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("event log: origins: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Origin is the log's own origin: the point's id ("" for a log that has
// none yet).
func (r *Reader) Origin(ctx context.Context) (string, error) {
	var o string
	err := r.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'origin'`).Scan(&o)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("event log: read origin: %w", err)
	}
	return o, nil
}

// Close closes the reader.
func (r *Reader) Close() error { return r.db.Close() }
