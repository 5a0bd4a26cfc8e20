package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testHash(t *testing.T, password string) string {
	t.Helper()
	h, err := hashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLoadUsers(t *testing.T) {
	h := testHash(t, "password-0123")
	file := filepath.Join(t.TempDir(), "users")
	good := "# broker users\n\n" +
		"central central * " + h + "\n" +
		"  # indented comment\n" +
		"skola-1   node 2161\t" + h + "\r\n" +
		"kommun-2180 central 2180 " + h + "\n"
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 3 {
		t.Errorf("Len %d, want 3", u.Len())
	}
	for _, want := range []user{
		{name: "central", role: RoleCentral, municipality: "*"},
		{name: "skola-1", role: RoleNode, municipality: "2161"},
		{name: "kommun-2180", role: RoleCentral, municipality: "2180"},
	} {
		got, ok := u.lookup(want.name)
		if !ok || got.role != want.role || got.municipality != want.municipality || got.hash != h {
			t.Errorf("lookup %s: %+v, %v", want.name, got, ok)
		}
	}
	if !verifyPassword(h, []byte("password-0123")) || verifyPassword(h, []byte("password-0124")) {
		t.Error("verifyPassword")
	}
}

func TestLoadUsersMalformed(t *testing.T) {
	h := testHash(t, "password-0123")
	file := filepath.Join(t.TempDir(), "users")
	lines := []string{
		"# comment",                             // 1
		"a node 2161 " + h,                      // 2 good
		"b node 2161",                           // 3 three fields
		"c node 2161 " + h + " extra",           // 4 five fields
		"d admin 2161 " + h,                     // 5 role
		"e node 216 " + h,                       // 6 municipality
		"f node * " + h,                         // 7 a node serves one municipality
		"-g node 2161 " + h,                     // 8 node id
		"H node 2161 " + h,                      // 9 node id: lower case only
		"i node 2161 $2a$10$abcdefghijklmnopqr", // 10 bcrypt is not accepted
		"j node 2161 " + strings.Replace(h, "m=19456", "m=9999999", 1), // 11 cost
		"a node 2180 " + h,    // 12 duplicate
		"",                    // 13
		"k central 2161 " + h, // 14 good
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadUsers(file)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		"line 3: want 4 fields", "line 4: want 4 fields", "line 5: broker: role",
		"line 6: broker: municipality", "line 7: broker: municipality", "line 8: broker: a node user",
		"line 9: broker: a node user", "line 10: hash", "line 11: argon2id cost", `line 12: user "a" already on line 2`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	for _, ok := range []string{"line 1:", "line 2:", "line 13:", "line 14:"} {
		if strings.Contains(msg, ok) {
			t.Errorf("error names good %s", ok)
		}
	}
	if strings.Contains(msg, h) {
		t.Error("error repeats a hash")
	}
}

func TestUsersAddSave(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker", "users")
	u := &Users{}
	if err := u.Add("skola-1", RoleNode, "2161", "secret-0123"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, role, m, pw string
	}{
		{"skola-1", RoleNode, "2161", "secret-0123"}, // exists
		{"Skola", RoleNode, "2161", "secret-0123"},
		{"skola-2", "admin", "2161", "secret-0123"},
		{"skola-2", RoleNode, "21610", "secret-0123"},
		{"skola-2", RoleNode, "*", "secret-0123"},
		{"skola-2", RoleNode, "2161", "short"},
		{"has space", RoleCentral, "*", "secret-0123"},
	} {
		if err := u.Add(tc.name, tc.role, tc.m, tc.pw); err == nil {
			t.Errorf("Add(%q, %q, %q): no error", tc.name, tc.role, tc.m)
		}
	}
	if err := u.Add("central", RoleCentral, "*", "secret-4567"); err != nil {
		t.Fatal(err)
	}
	if err := u.Save(file); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	back, err := LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 2 {
		t.Errorf("Len %d", back.Len())
	}
	if s, _ := back.lookup("skola-1"); !verifyPassword(s.hash, []byte("secret-0123")) {
		t.Error("saved hash does not verify")
	}
}

func TestWriteNodeEntry(t *testing.T) {
	file := filepath.Join(t.TempDir(), "broker", "users")
	if err := WriteNodeEntry(file, "skola-1", "2161", "first-secret"); err != nil {
		t.Fatal(err)
	}
	// Hand edits around it survive.
	data, _ := os.ReadFile(file)
	data = append(data, []byte("# the gym\n")...)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNodeEntry(file, "skola-2", "2161", "second-secret"); err != nil {
		t.Fatal(err)
	}
	if err := WriteNodeEntry(file, "skola-1", "2161", "third-secret"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(file)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "#") || !strings.HasPrefix(lines[1], "skola-1 node 2161 $argon2id$") ||
		lines[2] != "# the gym" || !strings.HasPrefix(lines[3], "skola-2 node 2161 ") {
		t.Errorf("file:\n%s", data)
	}
	u, err := LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := u.lookup("skola-1")
	if !verifyPassword(s.hash, []byte("third-secret")) || verifyPassword(s.hash, []byte("first-secret")) {
		t.Error("password not replaced")
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}

	if err := WriteNodeEntry(file, "skola-1", "2180", "fourth-secret"); err == nil {
		t.Error("moved a node to another municipality")
	}
	u.Add("central", RoleCentral, "*", "central-secret")
	u.Save(file)
	if err := WriteNodeEntry(file, "central", "2161", "fourth-secret"); err == nil {
		t.Error("turned a central into a node")
	}
	if err := WriteNodeEntry(file, "skola-3", "2161", "short"); err == nil {
		t.Error("accepted a short password")
	}
	os.WriteFile(file, []byte("broken\n"), 0o600)
	if err := WriteNodeEntry(file, "skola-3", "2161", "fifth-secret"); err == nil {
		t.Error("rewrote a malformed file")
	}
}
