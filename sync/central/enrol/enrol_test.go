package enrol

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
)

var at = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, file string) *Store {
	t.Helper()
	s, err := Open(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func create(t *testing.T, s *Store, d Draft, now time.Time) string {
	t.Helper()
	code, _, err := s.Create(context.Background(), d, now)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

var printed = regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)

// TestCodeFormat: codes are 12 symbols without look-alikes, grouped in
// fours; what a person types is read back whatever its case, spaces and
// dashes.
func TestCodeFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewCode()
		if !printed.MatchString(c) {
			t.Fatalf("code %q is not XXXX-XXXX-XXXX of the receipt alphabet", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice in 1000", c)
		}
		seen[c] = true
	}
	for _, c := range []struct{ in, want string }{
		{"K7QF-M2XD-9WPA", "K7QFM2XD9WPA"},
		{" k7qf m2xd 9wpa ", "K7QFM2XD9WPA"},
		{"k7qfm2xd9wpa", "K7QFM2XD9WPA"},
	} {
		if got, err := Normalize(c.in); err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "K7QF-M2XD-9WP", "K7QF-M2XD-9WPAA", "K7QF-M2XD-9WP0", "K7QF-M2XD-9WPI", "K7QF-M2XD-9WP!"} {
		if _, err := Normalize(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Normalize(%q): %v, want ErrMalformed", bad, err)
		}
	}
}

// TestStoredHashed: the database holds the SHA-256 of the normalised code,
// and the code appears nowhere in it.
func TestStoredHashed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "safepoint.db")
	s := open(t, file)
	code := create(t, s, Draft{Node: "macken-b", Municipality: "2161", Name: "Macken", By: "anna"}, at)
	norm, _ := Normalize(code)
	db, err := sqlitedb.Open(file, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var h []byte
	if err := db.QueryRow(`SELECT hash FROM enrol_codes`).Scan(&h); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(norm)); string(h) != string(want[:]) {
		t.Fatalf("stored %x, want SHA-256 of %s", h, norm)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM enrol_codes WHERE instr(hash, ?) > 0 OR instr(name, ?) > 0 OR instr(node, ?) > 0`,
		norm, norm, norm).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the code in clear: %d rows, %v", n, err)
	}
}

// TestRedeem: an open code is used once; then, and when it is revoked,
// expired or unknown, it is refused with its reason, and nothing is
// provisioned.
func TestRedeem(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "safepoint.db"))
	draft := Draft{Node: "macken-b", Municipality: "2161", Name: "Macken i Byn", By: "anna"}
	code := create(t, s, draft, at)
	var provisioned []Code
	provision := func(c Code) error { provisioned = append(provisioned, c); return nil }

	got, err := s.Redeem(ctx, strings.ToLower(code), at.Add(time.Hour), provision)
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != "macken-b" || got.Municipality != "2161" || got.Name != "Macken i Byn" || got.By != "anna" ||
		got.Used == nil || !got.Expires.Equal(at.Add(DefaultValid)) {
		t.Fatalf("redeemed %+v", got)
	}
	if len(provisioned) != 1 || provisioned[0].Node != "macken-b" {
		t.Fatalf("provisioned %+v", provisioned)
	}

	expired := create(t, s, Draft{Node: "skolan-c", Municipality: "2161", Valid: time.Hour}, at)
	revoked := create(t, s, Draft{Node: "byhuset-a", Municipality: "2161"}, at)
	if c, err := s.RevokeCode(ctx, revoked, at.Add(time.Minute)); err != nil || c.Node != "byhuset-a" {
		t.Fatalf("RevokeCode: %+v %v", c, err)
	}
	for _, c := range []struct {
		name, code string
		now        time.Time
		want       error
	}{
		{"used", code, at.Add(2 * time.Hour), ErrUsed},
		{"expired", expired, at.Add(time.Hour), ErrExpired},
		{"revoked", revoked, at.Add(2 * time.Minute), ErrRevoked},
		{"unknown", "AAAA-BBBB-CCCC", at, ErrUnknown},
		{"malformed", "AAAA-BBBB", at, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Redeem(ctx, c.code, c.now, provision); !errors.Is(err, c.want) {
				t.Fatalf("Redeem: %v, want %v", err, c.want)
			}
		})
	}
	if len(provisioned) != 1 {
		t.Fatalf("provisioned for a refused code: %+v", provisioned)
	}
}

// TestRedeemProvisionFails: a failed provision leaves the code open, to be
// tried again.
func TestRedeemProvisionFails(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "safepoint.db"))
	code := create(t, s, Draft{Node: "macken-b", Municipality: "2161"}, at)
	boom := errors.New("users file unwritable")
	if _, err := s.Redeem(ctx, code, at, func(Code) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Redeem: %v, want the provision's error", err)
	}
	if _, err := s.Redeem(ctx, code, at, func(Code) error { return nil }); err != nil {
		t.Fatalf("after a failed provision the code is not open: %v", err)
	}
}

// TestRedeemOneWinner: many redemptions of one code at once, from two
// stores on one file as two processes would be: exactly one provisions
// and wins, every other gets ErrUsed.
func TestRedeemOneWinner(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "safepoint.db")
	a, b := open(t, file), open(t, file)
	code := create(t, a, Draft{Node: "macken-b", Municipality: "2161"}, at)
	var wins, used, provisions atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.Redeem(ctx, code, at, func(Code) error { provisions.Add(1); return nil })
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrUsed):
				used.Add(1)
			default:
				t.Errorf("Redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 15 || provisions.Load() != 1 {
		t.Fatalf("%d won, %d refused as used, %d provisioned; want 1, 15, 1", wins.Load(), used.Load(), provisions.Load())
	}
}

// TestCreateRevokesOpen: a new code for a node revokes its open one; a
// used one stays used.
func TestCreateRevokesOpen(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "safepoint.db"))
	first := create(t, s, Draft{Node: "macken-b", Municipality: "2161"}, at)
	second, revoked, err := s.Create(ctx, Draft{Node: "macken-b", Municipality: "2161"}, at.Add(time.Minute))
	if err != nil || revoked != 1 {
		t.Fatalf("second Create: %d revoked, %v", revoked, err)
	}
	if _, err := s.Redeem(ctx, first, at.Add(2*time.Minute), func(Code) error { return nil }); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the first code after a second: %v", err)
	}
	if _, err := s.Redeem(ctx, second, at.Add(2*time.Minute), func(Code) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, revoked, err := s.Create(ctx, Draft{Node: "macken-b", Municipality: "2161"}, at.Add(3*time.Minute)); err != nil || revoked != 0 {
		t.Fatalf("a third code after the second was used: %d revoked, %v", revoked, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := at.Add(4 * time.Minute)
	var states []string
	for _, c := range list {
		states = append(states, c.State(now))
	}
	if strings.Join(states, " ") != "open used revoked" {
		t.Fatalf("states newest first: %v", states)
	}
}

// TestRevokeNode: revoking a node's codes touches only its open ones.
func TestRevokeNode(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "safepoint.db"))
	code := create(t, s, Draft{Node: "macken-b", Municipality: "2161"}, at)
	other := create(t, s, Draft{Node: "skolan-c", Municipality: "2161"}, at)
	if n, err := s.RevokeNode(ctx, "macken-b", at.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("RevokeNode: %d, %v", n, err)
	}
	if _, err := s.RevokeNode(ctx, "macken-b", at.Add(time.Minute)); !errors.Is(err, ErrNone) {
		t.Fatalf("RevokeNode again: %v, want ErrNone", err)
	}
	if _, err := s.Redeem(ctx, code, at.Add(time.Minute), func(Code) error { return nil }); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked code: %v", err)
	}
	if _, err := s.Redeem(ctx, other, at.Add(time.Minute), func(Code) error { return nil }); err != nil {
		t.Fatalf("the other node's code: %v", err)
	}
	if _, err := s.RevokeCode(ctx, other, at.Add(2*time.Minute)); !errors.Is(err, ErrUsed) {
		t.Fatalf("revoking a used code: %v, want ErrUsed", err)
	}
}

// TestDraftChecked: bad drafts are refused, naming the flag, and nothing
// is stored.
func TestDraftChecked(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "safepoint.db"))
	for _, c := range []struct {
		name string
		d    Draft
		want string
	}{
		{"bad node", Draft{Node: "Macken B", Municipality: "2161"}, "--node"},
		{"central", Draft{Node: "central", Municipality: "2161"}, "--node"},
		{"bad code", Draft{Node: "macken-b", Municipality: "216"}, "--municipality"},
		{"long name", Draft{Node: "macken-b", Municipality: "2161", Name: strings.Repeat("x", 101)}, "--name"},
		{"control", Draft{Node: "macken-b", Municipality: "2161", Name: "a\x07b"}, "--name"},
		{"negative", Draft{Node: "macken-b", Municipality: "2161", Valid: -time.Second}, "--valid"},
		{"too long", Draft{Node: "macken-b", Municipality: "2161", Valid: 8 * 24 * time.Hour}, "--valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := s.Create(ctx, c.d, at)
			if !errors.Is(err, ErrBadDraft) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Create: %v, want ErrBadDraft naming %s", err, c.want)
			}
		})
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("stored %d codes, %v", len(list), err)
	}
}
