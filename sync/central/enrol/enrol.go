// Package enrol keeps central's one-time enrolment codes. `safepoint enrol
// create` makes a code for one node; the installer types it at the point,
// which redeems it once over central's HTTPS (ui/join) for its identity and
// its own broker account. A code is 12 symbols of the receipt alphabet
// (node.NewCode: no 0/O or 1/I), 60 bits from crypto/rand, shown in three
// groups (K7QF-M2XD-9WPA); it is valid for 24 hours unless made with
// another validity, used at most once, and revocable.
//
// The codes live in central's database, in the table enrol_codes with its
// own migration chain ("enrol"); only this package touches it.
//
// A code is stored as the SHA-256 of its normalised form, never in clear,
// and a plain hash is enough for it, unlike a password: the code is 60
// random bits, not something a person chose, so there is no dictionary to
// try; it lives a day; and it is worth nothing once used. Someone holding a
// copy of the database would need about 2^59 SHA-256 guesses on average to
// find an open code, years on a rack of GPUs, not a day. A salted slow hash
// (argon2id) would add nothing against that, and would turn a redemption
// into a scan of every open code at tens of milliseconds each, where a
// plain hash is an index lookup.
package enrol

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

var steps = sqlitedb.MustSteps(migrations, "migrations")

// CodeLen is the number of symbols in a code: 60 bits.
const CodeLen = 12

// Validity bounds of a code.
const (
	DefaultValid = 24 * time.Hour
	MaxValid     = 7 * 24 * time.Hour
)

// MaxNameLen is the longest point name a code may carry, in characters.
const MaxNameLen = 100

// Errors of a redemption, one for each reason a code is refused, and of
// making one.
var (
	ErrMalformed = errors.New("enrol: a code is 12 letters and digits, as printed: XXXX-XXXX-XXXX")
	ErrUnknown   = errors.New("enrol: no such code")
	ErrUsed      = errors.New("enrol: the code has been used")
	ErrExpired   = errors.New("enrol: the code has expired")
	ErrRevoked   = errors.New("enrol: the code has been revoked")
	ErrNone      = errors.New("enrol: no open code")
	ErrBadDraft  = errors.New("enrol: bad code request")
)

// NewCode returns a fresh code, formatted as it is printed.
func NewCode() string { return Format(node.NewCode(CodeLen)) }

// Format groups a normalised code in fours: K7QF-M2XD-9WPA.
func Format(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i:min(i+4, len(code))])
	}
	return b.String()
}

// Normalize turns what someone typed into the code's canonical form (upper
// case, without spaces and dashes), or ErrMalformed.
func Normalize(s string) (string, error) {
	c := node.NormalizeCode(s)
	if !node.ValidCode(c, CodeLen) {
		return "", ErrMalformed
	}
	return c, nil
}

func hash(normalised string) []byte {
	sum := sha256.Sum256([]byte(normalised))
	return sum[:]
}

// Code is one enrolment code as stored: what it is for and where it stands.
type Code struct {
	Node         string
	Municipality string
	Name         string // the point's name, given to it with the code; may be empty
	By           string // who made it
	Created      time.Time
	Expires      time.Time
	Used         *time.Time
	Revoked      *time.Time
}

// Code states, as State and `safepoint enrol list` give them.
const (
	StateOpen    = "open"
	StateUsed    = "used"
	StateRevoked = "revoked"
	StateExpired = "expired"
)

// State is where the code stands at now.
func (c Code) State(now time.Time) string {
	switch {
	case c.Used != nil:
		return StateUsed
	case c.Revoked != nil:
		return StateRevoked
	case !now.Before(c.Expires):
		return StateExpired
	}
	return StateOpen
}

// Draft is a code to make.
type Draft struct {
	Node, Municipality, Name, By string
	Valid                        time.Duration // DefaultValid when 0
}

// Check says what is wrong with the draft, naming the flag.
func (d *Draft) Check() error {
	var errs []error
	if !wire.ValidNode(d.Node) || d.Node == wire.Central {
		errs = append(errs, fmt.Errorf("--node %q: a node id is 1 to 40 of a-z, 0-9 and -, not starting with - (and not %q)", d.Node, wire.Central))
	}
	if !node.ValidMunicipality(d.Municipality) {
		errs = append(errs, fmt.Errorf("--municipality %q: an SCB kommunkod is four digits", d.Municipality))
	}
	d.Name = strings.TrimSpace(d.Name)
	if !utf8.ValidString(d.Name) || utf8.RuneCountInString(d.Name) > MaxNameLen ||
		strings.ContainsFunc(d.Name, unicode.IsControl) {
		errs = append(errs, fmt.Errorf("--name: at most %d characters, no control characters", MaxNameLen))
	}
	if d.Valid == 0 {
		d.Valid = DefaultValid
	}
	if d.Valid < 0 || d.Valid > MaxValid {
		errs = append(errs, fmt.Errorf("--valid %s: more than 0, at most %s", d.Valid, MaxValid))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDraft, err)
	}
	return nil
}

// Store is the enrolment codes in central's database.
type Store struct{ w, r *sql.DB }

// Open opens the codes in the database at file, creating and migrating
// their table if needed. It works beside a running central, through
// SQLite's locking, as `safepoint user` does.
func Open(ctx context.Context, file string) (*Store, error) {
	w, r, err := sqlitedb.OpenOwner(ctx, file, "enrol", steps, 2)
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	return &Store{w: w, r: r}, nil
}

// Close closes the store's connections.
func (s *Store) Close() error { return errors.Join(s.r.Close(), s.w.Close()) }

func wrap(err error) error { return fmt.Errorf("enrol: %w", err) }

// Create makes a code for d's node, valid from now, and revokes the
// node's codes still open: a node has at most one usable code, the latest.
// It returns the code as printed and how many open codes it revoked.
func (s *Store) Create(ctx context.Context, d Draft, now time.Time) (code string, revoked int, err error) {
	if err := d.Check(); err != nil {
		return "", 0, err
	}
	c := node.NewCode(CodeLen)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", 0, wrap(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE enrol_codes SET revoked_at = ?
		WHERE node = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		now.UnixMilli(), d.Node, now.UnixMilli())
	if err != nil {
		return "", 0, wrap(err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `INSERT INTO enrol_codes
		(hash, node, municipality, name, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hash(c), d.Node, d.Municipality, d.Name, d.By, now.UnixMilli(), now.Add(d.Valid).UnixMilli()); err != nil {
		return "", 0, wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return "", 0, wrap(err)
	}
	return Format(c), int(n), nil
}

const selectCode = `SELECT node, municipality, name, created_by, created_at, expires_at, used_at, revoked_at FROM enrol_codes`

type scanner interface{ Scan(dest ...any) error }

func scanCode(row scanner) (Code, error) {
	var c Code
	var created, expires int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&c.Node, &c.Municipality, &c.Name, &c.By, &created, &expires, &used, &revoked); err != nil {
		return Code{}, err
	}
	c.Created, c.Expires = unixMilli(created), unixMilli(expires)
	if used.Valid {
		t := unixMilli(used.Int64)
		c.Used = &t
	}
	if revoked.Valid {
		t := unixMilli(revoked.Int64)
		c.Revoked = &t
	}
	return c, nil
}

// List returns every code ever made, the newest first.
func (s *Store) List(ctx context.Context) ([]Code, error) {
	rows, err := s.r.QueryContext(ctx, selectCode+` ORDER BY created_at DESC, node`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Code
	for rows.Next() {
		c, err := scanCode(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeNode revokes every open code of a node and returns how many;
// ErrNone when it has none.
func (s *Store) RevokeNode(ctx context.Context, nodeID string, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE enrol_codes SET revoked_at = ?
		WHERE node = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		now.UnixMilli(), nodeID, now.UnixMilli())
	if err != nil {
		return 0, wrap(err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, fmt.Errorf("%w for node %q", ErrNone, nodeID)
	}
	return int(n), nil
}

// RevokeCode revokes one code, given as printed (case, spaces and dashes
// do not matter), and returns what it was for. A code that is not open
// gives the reason: ErrUnknown, ErrUsed, ErrRevoked or ErrExpired.
func (s *Store) RevokeCode(ctx context.Context, code string, now time.Time) (Code, error) {
	var c Code
	err := s.inTx(ctx, code, now, func(tx *sql.Tx, h []byte, found Code) error {
		c = found
		_, err := tx.ExecContext(ctx, `UPDATE enrol_codes SET revoked_at = ? WHERE hash = ?`, now.UnixMilli(), h)
		return err
	})
	return c, err
}

// Redeem uses a code: if it is open at now, provision is called with what
// it is for (to make the node's broker account), and the code is marked
// used only if provision succeeds, in the same write transaction. SQLite
// has one writer at a time, here and in any other process, so of two
// redemptions of one code exactly one wins; the other gets ErrUsed. An
// error from provision leaves the code open and is returned as it is.
// provision must not write to the database itself: the transaction holds
// its write lock until provision returns.
func (s *Store) Redeem(ctx context.Context, code string, now time.Time, provision func(Code) error) (Code, error) {
	var c Code
	err := s.inTx(ctx, code, now, func(tx *sql.Tx, h []byte, found Code) error {
		if err := provision(found); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE enrol_codes SET used_at = ? WHERE hash = ? AND used_at IS NULL`, now.UnixMilli(), h)
		if err != nil {
			return wrap(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrUsed // cannot happen inside the write transaction; never mark twice
		}
		c = found
		t := now.UTC()
		c.Used = &t
		return nil
	})
	return c, err
}

// inTx finds an open code in a write transaction and runs fn on it; the
// transaction commits only if fn succeeds.
func (s *Store) inTx(ctx context.Context, code string, now time.Time, fn func(tx *sql.Tx, h []byte, c Code) error) error {
	norm, err := Normalize(code)
	if err != nil {
		return err
	}
	h := hash(norm)
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock): the write lock first
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	c, err := scanCode(tx.QueryRowContext(ctx, selectCode+` WHERE hash = ?`, h))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrUnknown
	case err != nil:
		return wrap(err)
	}
	switch c.State(now) {
	case StateUsed:
		return ErrUsed
	case StateRevoked:
		return ErrRevoked
	case StateExpired:
		return ErrExpired
	}
	if err := fn(tx, h, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap(err)
	}
	return nil
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
