package accounts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node/nodetest"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		r, min Role
		want   bool
	}{
		{RoleAdmin, RoleViewer, true},
		{RoleStaff, RoleStaff, true},
		{RoleStaff, RoleStaffLead, false},
		{RoleViewer, RoleStaff, false},
		{RoleStaffLead, RoleAdmin, false},
		{Role("root"), RoleViewer, false},
	}
	for _, tt := range tests {
		if got := tt.r.AtLeast(tt.min); got != tt.want {
			t.Errorf("%s.AtLeast(%s) = %v", tt.r, tt.min, got)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("korrekt häst batteri")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with the documented parameters", h)
	}
	h2, _ := HashPassword("korrekt häst batteri")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"korrekt häst batteri": true, "korrekt häst batterI": false, "": false} {
		if ok, err := checkPassword(h, pw); err != nil || ok != want {
			t.Errorf("checkPassword(%q) = %v, %v", pw, ok, err)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=0,t=1,p=1$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!!$AA"} {
		if _, err := checkPassword(bad, "x"); err == nil {
			t.Errorf("checkPassword accepted malformed %q", bad)
		}
	}
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	a := openTest(t, filepath.Join(t.TempDir(), "safepoint.db"), wall.Now)

	for name, tc := range map[string]struct {
		name, pw string
		role     Role
		want     error
	}{
		"short password": {"eva", "123456789", RoleStaff, ErrWeakPassword},
		"bad role":       {"eva", "1234567890", "boss", ErrBadRole},
		"bad name":       {"eva svensson", "1234567890", RoleStaff, ErrBadAccountName},
		"empty name":     {"", "1234567890", RoleStaff, ErrBadAccountName},
	} {
		if err := a.Add(ctx, tc.name, tc.role, tc.pw); !errors.Is(err, tc.want) {
			t.Errorf("%s: Add = %v, want %v", name, err, tc.want)
		}
	}
	if ok, _ := a.HasAdmin(ctx); ok {
		t.Fatal("HasAdmin with no accounts")
	}
	if err := a.Add(ctx, "Åsa", RoleAdmin, "lösenord med å"); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ctx, "Åsa", RoleStaff, "ett annat lösenord"); !errors.Is(err, ErrAccountExists) {
		t.Fatalf("duplicate Add = %v", err)
	}
	if ok, _ := a.HasAdmin(ctx); !ok {
		t.Fatal("HasAdmin false with an admin")
	}

	acc, err := a.Authenticate(ctx, "Åsa", "lösenord med å")
	if err != nil || acc.Role != RoleAdmin {
		t.Fatalf("Authenticate = %+v, %v", acc, err)
	}
	for _, c := range [][2]string{{"Åsa", "fel lösenord!"}, {"Nobody", "lösenord med å"}, {"åsa", "lösenord med å"}} {
		if _, err := a.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q) = %v, want ErrBadCredentials", c[0], err)
		}
	}

	token, sess, err := a.NewSession(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Session(ctx, token)
	if err != nil || got.CSRF != sess.CSRF || got.Account.Name != "Åsa" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if _, err := a.Session(ctx, token+"x"); !errors.Is(err, ErrNoSession) {
		t.Errorf("a wrong token opened a session: %v", err)
	}

	// Idle: an hour is fine, then more than two hours of silence ends it.
	wall.Set(wall.Now().Add(time.Hour))
	if _, err := a.Session(ctx, token); err != nil {
		t.Fatalf("session after an hour: %v", err)
	}
	wall.Set(wall.Now().Add(SessionIdle + time.Minute))
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session after idling: %v", err)
	}

	// Lifetime: kept busy, it still ends after SessionLifetime.
	token, _, _ = a.NewSession(ctx, acc)
	for i := 0; i < 13; i++ {
		wall.Set(wall.Now().Add(time.Hour))
		_, err := a.Session(ctx, token)
		if (i < 12) != (err == nil) { // hour 12 is the last one in, hour 13 is out
			t.Fatalf("hour %d of a busy session: %v", i+1, err)
		}
	}

	// A clock set back past the session's start ends it.
	token, _, _ = a.NewSession(ctx, acc)
	wall.Set(wall.Now().Add(-24 * time.Hour))
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session after the clock went back a day: %v", err)
	}
	wall.Set(wall.Now().Add(24 * time.Hour))

	// Disabling and a new password end sessions; enabling does not revive them.
	token, _, _ = a.NewSession(ctx, acc)
	if err := a.SetDisabled(ctx, "Åsa", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatal("session of a disabled account still valid")
	}
	if _, err := a.Authenticate(ctx, "Åsa", "lösenord med å"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("disabled account authenticated")
	}
	if err := a.SetDisabled(ctx, "Åsa", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatal("enabling revived an old session")
	}
	token, _, _ = a.NewSession(ctx, acc)
	if err := a.SetPassword(ctx, "Åsa", "ett nytt lösenord"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatal("session survived a password change")
	}
	if _, err := a.Authenticate(ctx, "Åsa", "ett nytt lösenord"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := a.SetPassword(ctx, "Nobody", "ett nytt lösenord"); !errors.Is(err, ErrNoAccount) {
		t.Errorf("SetPassword of a missing account = %v", err)
	}

	list, err := a.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "Åsa" || list[0].Disabled {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestPurgeSessions(t *testing.T) {
	ctx := context.Background()
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	a := openTest(t, filepath.Join(t.TempDir(), "safepoint.db"), wall.Now)
	if err := a.Add(ctx, "eva", RoleStaff, "1234567890"); err != nil {
		t.Fatal(err)
	}
	acc := Account{Name: "eva", Role: RoleStaff}
	a.NewSession(ctx, acc)
	wall.Set(wall.Now().Add(3 * time.Hour))
	live, _, _ := a.NewSession(ctx, acc)
	n, err := a.PurgeSessions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("PurgeSessions = %d, %v; want the one idle session", n, err)
	}
	if _, err := a.Session(ctx, live); err != nil {
		t.Fatalf("purge ended a live session: %v", err)
	}
}

// TestSessionsSurviveRestart: sessions live in the database.
func TestSessionsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "safepoint.db")
	a := openTest(t, file, nil)
	if err := a.Add(ctx, "eva", RoleStaff, "1234567890"); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.NewSession(ctx, Account{Name: "eva", Role: RoleStaff})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a2 := openTest(t, file, nil)
	if s, err := a2.Session(ctx, token); err != nil || s.Account.Name != "eva" {
		t.Fatalf("after restart: %+v, %v", s, err)
	}
}

// TestDisabledAccountHasNoSession: the session lookup itself refuses a
// disabled account, even if its sessions were somehow left behind (SetDisabled
// deletes them too).
func TestDisabledAccountHasNoSession(t *testing.T) {
	ctx := context.Background()
	a := openTest(t, filepath.Join(t.TempDir(), "safepoint.db"), nil)
	if err := a.Add(ctx, "eva", RoleStaff, "1234567890"); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.NewSession(ctx, Account{Name: "eva", Role: RoleStaff})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.w.Exec(`UPDATE accounts SET disabled = 1 WHERE name = 'eva'`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, token); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session of a disabled account: %v", err)
	}
}

func openTest(t *testing.T, file string, now func() time.Time) *Accounts {
	t.Helper()
	a, err := Open(context.Background(), file, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
