// Package sqlitedb opens Safepoint's SQLite files and migrates them. One
// file holds the tables of several owners (the event log, accounts, the
// power history at a node; the event log, accounts and central's store at
// central); each owner opens its own connections and keeps its own ordered
// migration chain, recorded per chain in schema_migrations, and nobody
// touches another owner's tables. Owners hand out methods, never a handle.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver, pure Go
)

// ErrNewerSchema means the database was written by a newer version.
var ErrNewerSchema = errors.New("database from a newer version")

// ErrNotSafepoint means a file read-only opened is not a Safepoint database.
var ErrNotSafepoint = errors.New("not a safepoint database")

// legacyVersion is the last user_version of the single migration chain
// that every table shared before each store had its own (7 migrations).
// chainsVersion marks a database whose migrations are kept per chain: an
// older binary reads it as newer than it knows and refuses it.
const (
	legacyVersion = 7
	chainsVersion = 100
)

// dsn builds a modernc.org/sqlite data source name. Pragmas go in the DSN
// so that every connection of the pool gets them, not just the first.
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

// Open opens the database at file. A writable open creates the file 0600
// first when it is missing (it may hold personal data, and SQLite gives
// the -wal and -shm files the database's own permissions). A read-only
// open requires the file to exist: it never creates an empty one by
// accident.
func Open(file string, readOnly bool) (*sql.DB, error) {
	if readOnly {
		if _, err := os.Stat(file); err != nil {
			return nil, err
		}
	} else if err := createPrivate(file); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(file, readOnly))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	return db, nil
}

// OpenWriter opens file for writing through one connection: SQLite has one
// writer, and the pool must not pretend otherwise.
func OpenWriter(file string) (*sql.DB, error) {
	db, err := Open(file, false)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// OpenOwner opens an owner's connections to file: one writer, with the
// owner's migration chain applied, and a pool of up to readers read-only
// connections.
func OpenOwner(ctx context.Context, file, chain string, steps []Step, readers int) (w, r *sql.DB, err error) {
	if w, err = OpenWriter(file); err != nil {
		return nil, nil, err
	}
	if err := Migrate(ctx, w, chain, steps); err != nil {
		w.Close()
		return nil, nil, err
	}
	if r, err = Open(file, true); err != nil {
		w.Close()
		return nil, nil, err
	}
	r.SetMaxOpenConns(readers)
	return w, r, nil
}

func createPrivate(file string) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Step is one migration of a chain: SQL, or Go for what SQL cannot say
// (a table dropped only when it is empty). Steps run in order, each in its
// own transaction together with the version that records it.
type Step struct {
	Name string
	SQL  string
	Go   func(ctx context.Context, tx *sql.Tx) error
}

// MustSteps reads the SQL files dir/*.sql of fsys as steps, in file-name
// order: an owner's embedded migrations, which are known to be there.
func MustSteps(fsys fs.FS, dir string) []Step {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("sqlitedb: migrations in %s: %v (%d files)", dir, err, len(names)))
	}
	slices.Sort(names)
	steps := make([]Step, 0, len(names))
	for _, n := range names {
		body, err := fs.ReadFile(fsys, n)
		if err != nil {
			panic(fmt.Sprintf("sqlitedb: migration %s: %v", n, err))
		}
		steps = append(steps, Step{Name: path.Base(n), SQL: string(body)})
	}
	return steps
}

// Migrate applies the steps of chain that the database has not seen. A
// database from before the chains (user_version 1 to 7) is adopted: every
// chain's first step creates its tables only if they are missing, so the
// tables and rows already there are kept as they are.
func Migrate(ctx context.Context, db *sql.DB, chain string, steps []Step) error {
	if err := prepare(ctx, db); err != nil {
		return fmt.Errorf("%s: migrate: %w", chain, err)
	}
	var version int
	err := db.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE chain = ?`, chain).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: read schema version: %w", chain, err)
	}
	if version > len(steps) {
		return fmt.Errorf("%s: schema version %d is newer than this program knows (%d): %w",
			chain, version, len(steps), ErrNewerSchema)
	}
	for i := version; i < len(steps); i++ {
		if err := apply(ctx, db, chain, i+1, steps[i]); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, chain string, version int, s Step) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", chain, err)
	}
	defer tx.Rollback()
	if s.SQL != "" {
		if _, err := tx.ExecContext(ctx, s.SQL); err != nil {
			return fmt.Errorf("%s: migration %s: %w", chain, s.Name, err)
		}
	}
	if s.Go != nil {
		if err := s.Go(ctx, tx); err != nil {
			return fmt.Errorf("%s: migration %s: %w", chain, s.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (chain, version) VALUES (?, ?)
		ON CONFLICT (chain) DO UPDATE SET version = excluded.version`, chain, version); err != nil {
		return fmt.Errorf("%s: migration %s: %w", chain, s.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: migration %s: %w", chain, s.Name, err)
	}
	return nil
}

// prepare makes the table of chain versions, once, and marks the database
// as kept per chain.
func prepare(ctx context.Context, db *sql.DB) error {
	var user int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&user); err != nil {
		return err
	}
	switch {
	case user == chainsVersion:
		return nil
	case user > legacyVersion:
		return fmt.Errorf("schema version %d: %w", user, ErrNewerSchema)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		chain   TEXT PRIMARY KEY,
		version INTEGER NOT NULL
	) WITHOUT ROWID`); err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; the number is our own constant.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", chainsVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Chains reports the chains a database has migrated and their versions: a
// reader uses it to tell a Safepoint database from any other file.
func Chains(ctx context.Context, db *sql.DB) (map[string]int, error) {
	var user int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&user); err != nil {
		return nil, err
	}
	if user == 0 {
		return nil, ErrNotSafepoint
	}
	out := map[string]int{}
	if user <= legacyVersion {
		out["legacy"] = user
		return out, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT chain, version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var v int
		if err := rows.Scan(&c, &v); err != nil {
			return nil, err
		}
		out[c] = v
	}
	return out, rows.Err()
}

// DropIfEmpty drops tables another layout left behind (tables that belong
// to no owner in this database), but only while they hold no rows: a
// table with rows is an error, never silently dropped.
func DropIfEmpty(ctx context.Context, tx *sql.Tx, tables ...string) error {
	for _, t := range tables {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, t).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		// Table names are our own constants, never input.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quote(t)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("table %s holds %d rows that belong to no owner here: not dropped", t, n)
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+quote(t)); err != nil {
			return err
		}
	}
	return nil
}

func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
