// Package accounts keeps staff accounts and their sessions: argon2id
// password hashes, roles, municipality scopes, session tokens known only
// by their hash. Its tables live in the point's (or central's) database
// beside the event log, with their own migration chain; nothing else
// touches them.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
	"golang.org/x/crypto/argon2"
)

// Role is what a staff account may do. Roles are ordered: each may do what
// the ones before it may.
type Role string

// The roles, least to most.
const (
	RoleViewer    Role = "viewer"     // reads the board
	RoleStaff     Role = "staff"      // acts: announcements, needs, check-ins
	RoleStaffLead Role = "staff-lead" // stabschef: also runs the point
	RoleAdmin     Role = "admin"      // also manages accounts
)

// Roles lists the roles, least to most.
var Roles = []Role{RoleViewer, RoleStaff, RoleStaffLead, RoleAdmin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i
		}
	}
	return -1
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() >= 0 }

// AtLeast reports whether r may do what min may.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// MinPasswordLen is the shortest password accepted, in characters.
const MinPasswordLen = 10

// Errors of the account store.
var (
	ErrAccountExists   = errors.New("account already exists")
	ErrNoAccount       = errors.New("no such account")
	ErrBadCredentials  = errors.New("wrong name or password")
	ErrNoSession       = errors.New("no valid session")
	ErrWeakPassword    = fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	ErrBadAccountName  = errors.New("account name must be 1 to 64 letters, digits, dots, dashes or underscores")
	ErrBadRole         = errors.New("role must be viewer, staff, staff-lead or admin")
	ErrBadMunicipality = errors.New("not a four-digit SCB kommunkod")
	errMalformedHashed = errors.New("malformed password hash")
)

// ValidAccountName reports whether name may name an account: 1 to 64
// letters, digits, dots, dashes or underscores, in any script. Checked by
// hand: the regular expression it replaces, ^[\p{L}\p{N}._-]{1,64}$, kept
// over a MiB of compiled Unicode ranges in every process as long as it ran.
func ValidAccountName(name string) bool {
	n := 0
	for _, r := range name { // invalid UTF-8 reads as U+FFFD: no letter
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '.' && r != '_' && r != '-' {
			return false
		}
		n++
	}
	return n >= 1 && n <= 64
}

// Account is a staff account, without its secret.
type Account struct {
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
	// Municipalities is the account's scope at central: the SCB codes
	// whose points it sees, sorted, each once. Nil is every municipality,
	// the whole region.
	Municipalities []string `json:"municipalities,omitempty"`
}

// Sees reports whether the account's scope takes in municipality. An
// account without a scope sees every one; a scoped account does not see a
// point whose municipality is unknown ("").
func (a Account) Sees(municipality string) bool {
	return len(a.Municipalities) == 0 || slices.Contains(a.Municipalities, municipality)
}

// Scoped reports whether the account is limited to some municipalities.
func (a Account) Scoped() bool { return len(a.Municipalities) > 0 }

// ParseMunicipalities reads a scope as a flag gives it: SCB codes
// separated by commas, spaces tolerated ("2309, 2321"). It returns them
// sorted, each once; nil for an empty list, which is every municipality.
// The error names the first code that is not one.
func ParseMunicipalities(list string) ([]string, error) {
	var codes []string
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c != "" {
			codes = append(codes, c)
		}
	}
	return CleanMunicipalities(codes)
}

// CleanMunicipalities checks every code of a scope (surrounding spaces
// tolerated) and returns them sorted, each once; nil for none, which is
// every municipality. The error names the first code that is not one.
func CleanMunicipalities(codes []string) ([]string, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		c = strings.TrimSpace(c)
		if !node.ValidMunicipality(c) {
			return nil, fmt.Errorf("municipality %q: %w", c, ErrBadMunicipality)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// A scope is stored as its sorted codes joined by commas; the empty
// string is every municipality.
func joinScope(codes []string) string { return strings.Join(codes, ",") }

func splitScope(stored string) []string {
	if stored == "" {
		return nil
	}
	return strings.Split(stored, ",")
}

// Accounts stores staff accounts and sessions in the node's (or
// central's) database.
// Another process (`safepoint user …`) may change accounts while the daemon
// runs: nothing is cached, every check reads the table.
type Accounts struct {
	w, r *sql.DB
	now  func() time.Time
}

//go:embed migrations/*.sql
var migrations embed.FS

var steps = sqlitedb.MustSteps(migrations, "migrations")

// Open opens the account store in the database at file, creating and
// migrating it if needed; the daemon and a tool beside it (`safepoint
// user`) each open their own. now is the wall clock sessions are stamped
// with; time.Now when nil. Close it with Close.
func Open(ctx context.Context, file string, now func() time.Time) (*Accounts, error) {
	if now == nil {
		now = time.Now
	}
	w, r, err := sqlitedb.OpenOwner(ctx, file, "accounts", steps, 2)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	dummyHash() // made now, so the first unknown-name login costs one hash like the rest
	return &Accounts{w: w, r: r, now: now}, nil
}

// Close closes the store.
func (a *Accounts) Close() error { return errors.Join(a.r.Close(), a.w.Close()) }

// Argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane), which a
// Raspberry Pi Zero still hashes in well under a second.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashes counts argon2id computations, so a test can see that a login for
// an unknown name costs the same as one for a known name.
var hashes atomic.Int64

// HashPassword hashes a password with argon2id into a PHC string.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashes.Add(1)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword compares a password with a PHC argon2id string in constant time.
func checkPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errMalformedHashed
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errMalformedHashed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false, errMalformedHashed
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errMalformedHashed
	}
	hashes.Add(1)
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// HashCount is how many argon2id hashes this process has computed.
func HashCount() int64 { return hashes.Load() }

// dummyHash is checked against when a login names no account, so that an
// unknown name costs one argon2id hash just as a wrong password does.
// It is made on first use, not at start: every run of the binary would
// otherwise pay for a hash.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("no account has this password")
	if err != nil {
		panic(err)
	}
	return h
})

func validPassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen {
		return ErrWeakPassword
	}
	if len(p) > 1024 {
		return errors.New("password is longer than 1024 bytes")
	}
	return nil
}

// Add creates an account that sees every municipality.
func (a *Accounts) Add(ctx context.Context, name string, role Role, password string) error {
	return a.AddScoped(ctx, name, role, password, nil)
}

// AddScoped creates an account limited to the given municipalities (SCB
// codes; surrounding spaces, repeats and order do not matter). None is
// every municipality, as with Add.
func (a *Accounts) AddScoped(ctx context.Context, name string, role Role, password string, municipalities []string) error {
	if !ValidAccountName(name) {
		return ErrBadAccountName
	}
	if !role.Valid() {
		return ErrBadRole
	}
	scope, err := CleanMunicipalities(municipalities)
	if err != nil {
		return err
	}
	if err := validPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	now := a.now().UnixMilli()
	res, err := a.w.ExecContext(ctx, `INSERT INTO accounts (name, role, hash, municipalities, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`, name, string(role), hash, joinScope(scope), now, now)
	if err != nil {
		return fmt.Errorf("accounts: add: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrAccountExists
	}
	return nil
}

// List returns every account, by name.
func (a *Accounts) List(ctx context.Context) ([]Account, error) {
	rows, err := a.r.QueryContext(ctx, `SELECT name, role, disabled, created_at, municipalities FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var acc Account
		var created int64
		var scope string
		if err := rows.Scan(&acc.Name, &acc.Role, &acc.Disabled, &created, &scope); err != nil {
			return nil, fmt.Errorf("accounts: list: %w", err)
		}
		acc.Created = unixMilli(created)
		acc.Municipalities = splitScope(scope)
		out = append(out, acc)
	}
	return out, rows.Err()
}

// HasAdmin reports whether an enabled admin account exists.
func (a *Accounts) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	err := a.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled = 0`).Scan(&n)
	return n > 0, err
}

// SetDisabled disables or re-enables an account. Disabling ends its sessions.
func (a *Accounts) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return a.update(ctx, name, `UPDATE accounts SET disabled = ?, updated_at = ? WHERE name = ?`, disabled, a.now().UnixMilli(), name)
}

// SetPassword changes an account's password and ends its sessions.
func (a *Accounts) SetPassword(ctx context.Context, name, password string) error {
	if err := validPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return a.update(ctx, name, `UPDATE accounts SET hash = ?, updated_at = ? WHERE name = ?`, hash, a.now().UnixMilli(), name)
}

// SetMunicipalities sets an account's scope; none is every municipality.
// Its sessions go on: each request reads the scope afresh with the
// session, so the change holds from the next one.
func (a *Accounts) SetMunicipalities(ctx context.Context, name string, municipalities []string) error {
	scope, err := CleanMunicipalities(municipalities)
	if err != nil {
		return err
	}
	res, err := a.w.ExecContext(ctx, `UPDATE accounts SET municipalities = ?, updated_at = ? WHERE name = ?`,
		joinScope(scope), a.now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("accounts: set municipalities: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoAccount
	}
	return nil
}

// update runs one account change and ends the account's sessions in the
// same transaction.
func (a *Accounts) update(ctx context.Context, name, query string, args ...any) error {
	tx, err := a.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoAccount
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE account = ?`, name); err != nil {
		return fmt.Errorf("accounts: end sessions: %w", err)
	}
	return tx.Commit()
}

// Authenticate checks a name and password. Every call costs one argon2id
// hash, whether the name exists or not, and the error is the same
// ErrBadCredentials for an unknown name, a wrong password and a disabled
// account.
func (a *Accounts) Authenticate(ctx context.Context, name, password string) (Account, error) {
	var acc Account
	var hash, scope string
	var created int64
	err := a.r.QueryRowContext(ctx, `SELECT name, role, hash, disabled, created_at, municipalities FROM accounts WHERE name = ?`, name).
		Scan(&acc.Name, &acc.Role, &hash, &acc.Disabled, &created, &scope)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("accounts: %w", err)
	}
	if !found {
		hash = dummyHash()
	}
	ok, err := checkPassword(hash, password)
	// argon2id just took 19 MiB: hand it back now, or a small box carries
	// it (and everything the heap grows into after it) until the next GC.
	debug.FreeOSMemory()
	if err != nil {
		return Account{}, fmt.Errorf("accounts: %s: %w", "stored hash", err)
	}
	if !found || !ok || acc.Disabled {
		return Account{}, ErrBadCredentials
	}
	acc.Created = unixMilli(created)
	acc.Municipalities = splitScope(scope)
	return acc, nil
}

// Session is a logged-in staff member.
type Session struct {
	Account Account
	CSRF    string
	Expires time.Time
}

// Session lifetimes: a shift, and a break.
const (
	SessionLifetime = 12 * time.Hour
	SessionIdle     = 2 * time.Hour
)

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("node: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewSession starts a session for an authenticated account and returns the
// token for its cookie. Only the token's hash is stored.
func (a *Accounts) NewSession(ctx context.Context, acc Account) (token string, s Session, err error) {
	token = randomToken()
	now := a.now()
	s = Session{Account: acc, CSRF: randomToken(), Expires: now.Add(SessionLifetime)}
	_, err = a.w.ExecContext(ctx, `INSERT INTO sessions (token_hash, account, csrf, created_at, expires_at, seen_at)
		VALUES (?, ?, ?, ?, ?, ?)`, tokenHash(token), acc.Name, s.CSRF, now.UnixMilli(), s.Expires.UnixMilli(), now.UnixMilli())
	if err != nil {
		return "", Session{}, fmt.Errorf("sessions: %w", err)
	}
	return token, s, nil
}

// Session finds the live session of a token. A session ends when its
// lifetime or idle time has passed, when its account is disabled, or when
// the wall clock has been set back past its start.
func (a *Accounts) Session(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNoSession
	}
	var s Session
	var accCreated, created, expires, seen int64
	var scope string
	err := a.r.QueryRowContext(ctx, `SELECT a.name, a.role, a.created_at, a.municipalities, s.csrf, s.created_at, s.expires_at, s.seen_at
		FROM sessions s JOIN accounts a ON a.name = s.account
		WHERE s.token_hash = ? AND a.disabled = 0`, tokenHash(token)).
		Scan(&s.Account.Name, &s.Account.Role, &accCreated, &scope, &s.CSRF, &created, &expires, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("sessions: %w", err)
	}
	now := a.now()
	started := unixMilli(created)
	s.Expires = unixMilli(expires)
	s.Account.Created = unixMilli(accCreated)
	s.Account.Municipalities = splitScope(scope)
	if now.After(s.Expires) || now.Sub(unixMilli(seen)) > SessionIdle || now.Before(started.Add(-5*time.Minute)) {
		a.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token))
		return Session{}, ErrNoSession
	}
	// Note activity at most once a minute: an SD card should not take a
	// write for every page view.
	if now.Sub(unixMilli(seen)) > time.Minute {
		if _, err := a.w.ExecContext(ctx, `UPDATE sessions SET seen_at = ? WHERE token_hash = ?`, now.UnixMilli(), tokenHash(token)); err != nil {
			return Session{}, fmt.Errorf("sessions: %w", err)
		}
	}
	return s, nil
}

// EndSession logs a session out.
func (a *Accounts) EndSession(ctx context.Context, token string) error {
	_, err := a.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token))
	return err
}

// PurgeSessions deletes sessions that have ended, and reports how many.
func (a *Accounts) PurgeSessions(ctx context.Context) (int64, error) {
	now := a.now()
	res, err := a.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR seen_at < ?`,
		now.UnixMilli(), now.Add(-SessionIdle).UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SameToken compares two secrets in constant time.
func SameToken(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
