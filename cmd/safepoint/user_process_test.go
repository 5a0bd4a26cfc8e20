package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// userList parses `safepoint user list`: name → "role state".
func userList(t testing.TB, dir string) (map[string]string, proctest.Result) {
	t.Helper()
	r := userCmd(t, dir, "", "list")
	if r.Code != 0 {
		t.Fatalf("user list: %s", r)
	}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ROLE STATE CREATED MUNICIPALITIES" {
		t.Fatalf("user list header: %q", r.Stdout)
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 6 { // the date of CREATED is two fields
			t.Fatalf("user list line %q", l)
		}
		out[f[0]] = f[1] + " " + f[2]
	}
	if strings.Contains(r.Stdout+r.Stderr, "$argon2id") || strings.Contains(r.Stdout+r.Stderr, "argon2") {
		t.Errorf("user list shows a hash: %s", r)
	}
	return out, r
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// adminWarned reports whether the log holds the no-admin warning, and
// whether one (any level) mentions `safepoint user add` at all.
func adminWarned(t testing.TB, log, dir string) (warned, mentioned bool) {
	t.Helper()
	for _, r := range logRecords(log) {
		if !strings.Contains(r.Msg, "safepoint user add") {
			continue
		}
		mentioned = true
		if r.Level == "WARN" {
			warned = true
			if !strings.Contains(r.Msg, "--data "+dir) {
				t.Errorf("the no-admin warning does not name the data directory %s: %s", dir, r.Msg)
			}
		}
	}
	return warned, mentioned
}

// TestUserCLI runs `safepoint user` beside a running node and before the
// first start: every change takes effect on the node at once.
func TestUserCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	if warned, _ := adminWarned(t, p.Stderr.String(), dir); !warned {
		t.Errorf("first start without an admin: no warning naming `safepoint user add`; stderr:\n%s", p.Stderr)
	}
	addr, _ := staffHTTPS(t, p)
	base := "https://" + addr

	const (
		admin, adminPW = "alice", "alice password 1"
		staff, staffPW = "bob", "bob password 1!"
		newPW          = "bob's new password"
	)
	if r := addUser(t, dir, admin, "admin", adminPW); !strings.Contains(r.Stdout, admin) {
		t.Errorf("user add says nothing of %s: %s", admin, r)
	}
	a := newStaffClient(t, dir, base)
	a.mustLogin(admin, adminPW)
	if code, st := a.state(); code != http.StatusOK || st.Me.Name != admin || st.Me.Role != "admin" {
		t.Fatalf("admin's staff state: %d %+v", code, st.Me)
	}

	// Refused adds: each exits non-zero, says why, and adds nothing.
	refused := []struct {
		what, stdin, name, role, says string
	}{
		{"mismatched passwords", "first password 1\nsecond password\n", "carol", "staff", "differ"},
		{"9-character password", "123456789\n123456789\n", "carol", "staff", "10 characters"},
		{"bad role", "carol password 1\ncarol password 1\n", "carol", "root", "role"},
		{"one password line", "carol password 1\n", "carol", "staff", "twice"},
		{"duplicate name", "another password\nanother password\n", admin, "viewer", "exists"},
	}
	for _, c := range refused {
		r := userCmd(t, dir, c.stdin, "add", "--name", c.name, "--role", c.role)
		if r.Code == 0 {
			t.Errorf("user add with a %s succeeded: %s", c.what, r)
			continue
		}
		if !strings.Contains(r.Stderr, c.says) {
			t.Errorf("user add with a %s: message does not say %q: %s", c.what, c.says, r)
		}
	}
	if r := userCmd(t, dir, "", "disable", "--name", "nobody"); r.Code == 0 || !strings.Contains(r.Stderr, "no such account") {
		t.Errorf("user disable of an unknown name: %s", r)
	}
	// The duplicate add left the first account's password alone.
	if code, b := newStaffClient(t, dir, base).login(admin, "another password"); code != http.StatusUnauthorized {
		t.Errorf("a refused duplicate add changed %s's password: login with it %d %s", admin, code, b)
	}

	addUser(t, dir, staff, "staff", staffPW)
	if got, want := mustList(t, dir), map[string]string{admin: "admin active", staff: "staff active"}; !sameMap(got, want) {
		t.Errorf("user list = %v, want %v", got, want)
	}

	b := newStaffClient(t, dir, base)
	b.mustLogin(staff, staffPW)
	if code, _ := b.state(); code != http.StatusOK {
		t.Fatalf("bob's session: %d", code)
	}

	// disable: the running node refuses the session at once, and a login.
	if r := userCmd(t, dir, "", "disable", "--name", staff); r.Code != 0 {
		t.Fatalf("user disable: %s", r)
	}
	if code, _ := b.state(); code != http.StatusUnauthorized {
		t.Errorf("session of a disabled account: %d, want 401", code)
	}
	if code, body := newStaffClient(t, dir, base).login(staff, staffPW); code != http.StatusUnauthorized {
		t.Errorf("login of a disabled account: %d %s, want 401", code, body)
	}
	if got, want := mustList(t, dir), map[string]string{admin: "admin active", staff: "staff disabled"}; !sameMap(got, want) {
		t.Errorf("user list after disable = %v, want %v", got, want)
	}
	if code, _ := a.state(); code != http.StatusOK {
		t.Errorf("disabling %s ended %s's session too: %d", staff, admin, code)
	}

	// enable: logins work again.
	if r := userCmd(t, dir, "", "enable", "--name", staff); r.Code != 0 {
		t.Fatalf("user enable: %s", r)
	}
	b.mustLogin(staff, staffPW)
	if code, _ := b.state(); code != http.StatusOK {
		t.Errorf("session after enable: %d", code)
	}

	// passwd: the session ends, the old password fails, the new one works.
	if r := userCmd(t, dir, newPW+"\n"+newPW+"\n", "passwd", "--name", staff); r.Code != 0 {
		t.Fatalf("user passwd: %s", r)
	}
	if code, _ := b.state(); code != http.StatusUnauthorized {
		t.Errorf("session after passwd: %d, want 401", code)
	}
	if code, body := newStaffClient(t, dir, base).login(staff, staffPW); code != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d %s, want 401", code, body)
	}
	b.mustLogin(staff, newPW)
	if code, st := b.state(); code != http.StatusOK || st.Me.Name != staff {
		t.Errorf("session with the new password: %d %+v", code, st.Me)
	}
	if code, _ := a.state(); code != http.StatusOK {
		t.Errorf("a new password for %s ended %s's session too: %d", staff, admin, code)
	}
	if r := userCmd(t, dir, "short\nshort\n", "passwd", "--name", staff); r.Code == 0 {
		t.Errorf("user passwd with a short password succeeded: %s", r)
	} else if code, _ := b.state(); code != http.StatusOK {
		t.Errorf("a refused passwd ended the session: %d", code)
	}

	// Municipalities: stored sorted and once, listed, carried by the
	// session; a change holds from the session's next request.
	const carl, carlPW = "carl", "carl password 1"
	r := userCmd(t, dir, carlPW+"\n"+carlPW+"\n", "add", "--name", carl, "--role", "viewer", "--municipalities", " 2321, 2309,2321")
	if r.Code != 0 || !strings.Contains(r.Stdout, "municipalities 2309,2321") {
		t.Errorf("user add --municipalities: %s", r)
	}
	if r := userCmd(t, dir, "dora password 1\ndora password 1\n", "add", "--name", "dora", "--role", "viewer", "--municipalities", "2309,23X1"); r.Code != 1 ||
		!strings.Contains(r.Stderr, `municipality "23X1"`) {
		t.Errorf("user add with a bad municipality: %s; want exit 1 naming it", r)
	}
	if got, want := userScopes(t, dir), map[string]string{admin: "all", staff: "all", carl: "2309,2321"}; !sameMap(got, want) {
		t.Errorf("user list's municipalities = %v, want %v", got, want)
	}
	c := newStaffClient(t, dir, base)
	c.mustLogin(carl, carlPW)
	if code, st := c.state(); code != http.StatusOK || strings.Join(st.Me.Municipalities, ",") != "2309,2321" {
		t.Errorf("carl's session: %d %+v, want municipalities 2309,2321", code, st.Me)
	}
	for _, bad := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--name", carl}, 2, "--municipalities is required"},
		{[]string{"--name", carl, "--municipalities", "2309,9"}, 1, `municipality "9"`},
		{[]string{"--name", "nobody", "--municipalities", "2309"}, 1, "no such account"},
	} {
		if r := userCmd(t, dir, "", "scope", bad.args...); r.Code != bad.code || !strings.Contains(r.Stderr, bad.says) {
			t.Errorf("user scope %v: %s; want exit %d saying %q", bad.args, r, bad.code, bad.says)
		}
	}
	if r := userCmd(t, dir, "", "scope", "--name", carl, "--municipalities", "2326"); r.Code != 0 || !strings.Contains(r.Stdout, "municipalities 2326") {
		t.Errorf("user scope: %s", r)
	}
	if code, st := c.state(); code != http.StatusOK || strings.Join(st.Me.Municipalities, ",") != "2326" {
		t.Errorf("carl's session after user scope: %d %+v, want municipalities 2326", code, st.Me)
	}
	if r := userCmd(t, dir, "", "scope", "--name", carl, "--municipalities", ""); r.Code != 0 || !strings.Contains(r.Stdout, "every municipality") {
		t.Errorf("user scope to all: %s", r)
	}
	if code, st := c.state(); code != http.StatusOK || st.Me.Municipalities != nil {
		t.Errorf("carl's session after a scope of all: %d %+v", code, st.Me)
	}
	if got := userScopes(t, dir)[carl]; got != "all" {
		t.Errorf("user list: carl's municipalities %q, want all", got)
	}

	// With an admin, a restart does not ask for one.
	p.terminate()
	p = startNode(t, nil, nodeArgs(dir)...)
	if _, mentioned := adminWarned(t, p.Stderr.String(), dir); mentioned {
		t.Errorf("restart with an admin still asks for one; stderr:\n%s", p.Stderr)
	}
	p.terminate()

	t.Run("before first start", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "neverrun") // does not exist; its parent does
		addUser(t, dir, admin, "admin", adminPW)
		db := filepath.Join(dir, eventlog.FileName)
		if fi, err := os.Stat(db); err != nil {
			t.Fatalf("user add made no database: %v", err)
		} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("user add made %s with mode %v: readable beyond its owner", eventlog.FileName, perm)
		}
		p := startNode(t, nil, nodeArgs(dir)...)
		log := p.Stderr.String()
		if strings.Contains(log, "needs an origin") {
			t.Errorf("node complained about the origin:\n%s", log)
		}
		if _, mentioned := adminWarned(t, log, dir); mentioned {
			t.Errorf("first start with an admin made beforehand still asks for one; stderr:\n%s", log)
		}
		if id := p.getStatus(t).Point.ID; !madeUpID.MatchString(id) {
			t.Errorf("point id %q after user add then first start", id)
		}
		addr, _ := staffHTTPS(t, p)
		s := newStaffClient(t, dir, "https://"+addr)
		s.mustLogin(admin, adminPW)
		if code, st := s.state(); code != http.StatusOK || st.Me.Name != admin {
			t.Errorf("staff state: %d %+v", code, st.Me)
		}
		files, _ := filepath.Glob(filepath.Join(dir, eventlog.FileName+"*"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v while the node runs", filepath.Base(f), fi.Mode().Perm())
			}
		}
		p.terminate()
	})
}

// userScopes is `safepoint user list`'s last column: name → municipalities.
func userScopes(t testing.TB, dir string) map[string]string {
	t.Helper()
	_, r := userList(t, dir)
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")[1:] {
		f := strings.Fields(l)
		out[f[0]] = f[len(f)-1]
	}
	return out
}

func mustList(t testing.TB, dir string) map[string]string {
	t.Helper()
	m, _ := userList(t, dir)
	return m
}
