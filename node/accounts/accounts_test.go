package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
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

func TestSees(t *testing.T) {
	for _, tc := range []struct {
		scope  []string
		m      string
		sees   bool
		scoped bool
	}{
		{nil, "2309", true, false},
		{[]string{}, "2309", true, false},
		{nil, "", true, false},
		{[]string{"2309", "2321"}, "2309", true, true},
		{[]string{"2309", "2321"}, "2321", true, true},
		{[]string{"2309", "2321"}, "2326", false, true},
		{[]string{"2309"}, "", false, true}, // a point of unknown municipality
	} {
		acc := Account{Name: "eva", Role: RoleStaff, Municipalities: tc.scope}
		if got := acc.Sees(tc.m); got != tc.sees {
			t.Errorf("%v.Sees(%q) = %v, want %v", tc.scope, tc.m, got, tc.sees)
		}
		if got := acc.Scoped(); got != tc.scoped {
			t.Errorf("%v.Scoped() = %v, want %v", tc.scope, got, tc.scoped)
		}
	}
}

func TestParseMunicipalities(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  string // the code the error names
	}{
		{in: "", want: nil},
		{in: " ", want: nil},
		{in: "2309", want: []string{"2309"}},
		{in: "2321,2309", want: []string{"2309", "2321"}},
		{in: " 2321 , 2309,2321,", want: []string{"2309", "2321"}},
		{in: "2309,23x1", bad: "23x1"},
		{in: "230", bad: "230"},
		{in: "02309", bad: "02309"},
		{in: "2309;2321", bad: "2309;2321"},
		{in: "２３０９", bad: "２３０９"}, // full-width digits are not SCB's
	} {
		got, err := ParseMunicipalities(tc.in)
		if tc.bad != "" {
			if !errors.Is(err, ErrBadMunicipality) || !strings.Contains(err.Error(), `"`+tc.bad+`"`) {
				t.Errorf("ParseMunicipalities(%q) = %v, %v; want an error naming %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("ParseMunicipalities(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

// TestScope: an account's municipalities are stored sorted and once, and
// come back through List, Authenticate and the session; none is all; a
// bad code is refused by name and changes nothing.
func TestScope(t *testing.T) {
	ctx := context.Background()
	a := openTest(t, filepath.Join(t.TempDir(), "safepoint.db"), nil)
	const pw = "1234567890"

	for _, tc := range []struct {
		name    string
		scope   []string
		want    []string
		refused bool
		bad     string // the code a refusal names
	}{
		{name: "all", scope: nil},
		{name: "all-empty", scope: []string{}},
		{name: "one", scope: []string{"2309"}, want: []string{"2309"}},
		{name: "several", scope: []string{" 2321", "2309", "2321 ", "2309"}, want: []string{"2309", "2321"}},
		{name: "bad", scope: []string{"2309", "23 21"}, refused: true, bad: "23 21"},
		{name: "blank", scope: []string{""}, refused: true, bad: ""},
		{name: "letters", scope: []string{"Umeå"}, refused: true, bad: "Umeå"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.AddScoped(ctx, tc.name, RoleViewer, pw, tc.scope)
			if tc.refused || err != nil {
				if !tc.refused || !errors.Is(err, ErrBadMunicipality) || !strings.Contains(err.Error(), `"`+tc.bad+`"`) {
					t.Fatalf("AddScoped(%q) = %v; want an error naming %q", tc.scope, err, tc.bad)
				}
				if _, err := a.Authenticate(ctx, tc.name, pw); !errors.Is(err, ErrBadCredentials) {
					t.Errorf("a refused add made the account: %v", err)
				}
				return
			}
			acc, err := a.Authenticate(ctx, tc.name, pw)
			if err != nil || !sameScope(acc.Municipalities, tc.want) {
				t.Fatalf("Authenticate: %+v, %v; want scope %#v", acc, err, tc.want)
			}
			token, _, err := a.NewSession(ctx, acc)
			if err != nil {
				t.Fatal(err)
			}
			s, err := a.Session(ctx, token)
			if err != nil || !sameScope(s.Account.Municipalities, tc.want) {
				t.Errorf("Session: %+v, %v; want scope %#v", s.Account, err, tc.want)
			}
			if s.Account.Scoped() != (tc.want != nil) || !s.Account.Sees("2309") {
				t.Errorf("Session's account %+v: Scoped %v, Sees(2309) %v", s.Account, s.Account.Scoped(), s.Account.Sees("2309"))
			}
			list, _ := a.List(ctx)
			i := slices.IndexFunc(list, func(acc Account) bool { return acc.Name == tc.name })
			if i < 0 || !sameScope(list[i].Municipalities, tc.want) {
				t.Errorf("List: %+v; want %s with scope %#v", list, tc.name, tc.want)
			}
		})
	}

	t.Run("set", func(t *testing.T) {
		if err := a.AddScoped(ctx, "eva", RoleStaff, pw, []string{"2309"}); err != nil {
			t.Fatal(err)
		}
		acc, _ := a.Authenticate(ctx, "eva", pw)
		token, _, _ := a.NewSession(ctx, acc)
		scope := func() []string {
			t.Helper()
			s, err := a.Session(ctx, token)
			if err != nil {
				t.Fatalf("the session after a scope change: %v; it should go on", err)
			}
			return s.Account.Municipalities
		}
		if err := a.SetMunicipalities(ctx, "eva", []string{"2326", "2321", "2326"}); err != nil {
			t.Fatal(err)
		}
		if got := scope(); !slices.Equal(got, []string{"2321", "2326"}) {
			t.Errorf("the live session's scope after the change: %v", got)
		}
		if err := a.SetMunicipalities(ctx, "eva", []string{"2321", "x"}); !errors.Is(err, ErrBadMunicipality) || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("SetMunicipalities with a bad code: %v", err)
		}
		if got := scope(); !slices.Equal(got, []string{"2321", "2326"}) {
			t.Errorf("a refused change changed the scope to %v", got)
		}
		if err := a.SetMunicipalities(ctx, "eva", nil); err != nil {
			t.Fatal(err)
		}
		if got := scope(); got != nil {
			t.Errorf("the scope reset to all reads %#v, want nil", got)
		}
		if err := a.SetMunicipalities(ctx, "nobody", []string{"2309"}); !errors.Is(err, ErrNoAccount) {
			t.Errorf("SetMunicipalities of a missing account: %v", err)
		}
	})

	t.Run("json", func(t *testing.T) {
		for _, tc := range []struct {
			acc  Account
			want string
		}{
			{Account{Name: "a", Role: RoleViewer}, `{"name":"a","role":"viewer","disabled":false,"created":"0001-01-01T00:00:00Z"}`},
			{Account{Name: "b", Role: RoleViewer, Municipalities: []string{"2309", "2321"}},
				`{"name":"b","role":"viewer","disabled":false,"created":"0001-01-01T00:00:00Z","municipalities":["2309","2321"]}`},
		} {
			if b, err := json.Marshal(tc.acc); err != nil || string(b) != tc.want {
				t.Errorf("%s as JSON: %s, %v; want %s", tc.acc.Name, b, err, tc.want)
			}
		}
	})
}

// sameScope compares scopes, nil (all) apart from any list.
func sameScope(got, want []string) bool {
	return (got == nil) == (want == nil) && slices.Equal(got, want)
}

// TestScopeMigration: a database from before scopes keeps its accounts
// and their sessions, and every one of them sees all municipalities.
func TestScopeMigration(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "safepoint.db")
	w, err := sqlitedb.OpenWriter(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, w, "accounts", steps[:1]); err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword("1234567890")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO accounts (name, role, hash, created_at, updated_at) VALUES ('eva', 'admin', ?, 1, 1)`, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO sessions (token_hash, account, csrf, created_at, expires_at, seen_at)
		VALUES (?, 'eva', 'c', ?, ?, ?)`, tokenHash("tok"), time.Now().UnixMilli(), time.Now().Add(time.Hour).UnixMilli(), time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	w.Close()

	a := openTest(t, file, nil)
	acc, err := a.Authenticate(ctx, "eva", "1234567890")
	if err != nil || acc.Role != RoleAdmin || acc.Scoped() {
		t.Fatalf("eva after the migration: %+v, %v", acc, err)
	}
	if s, err := a.Session(ctx, "tok"); err != nil || s.Account.Name != "eva" || s.Account.Municipalities != nil {
		t.Errorf("eva's session after the migration: %+v, %v", s, err)
	}
	if err := a.SetMunicipalities(ctx, "eva", []string{"2309"}); err != nil {
		t.Errorf("scoping a migrated account: %v", err)
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
