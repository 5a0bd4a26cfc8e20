package broker

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

const mosquittoPasswdBin = "/usr/bin/mosquitto_passwd"

var mosquittoHashRE = regexp.MustCompile(`^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`)

func TestMosquittoHash(t *testing.T) {
	const pw = "correct horse battery"
	h, err := MosquittoHash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !mosquittoHashRE.MatchString(h) {
		t.Errorf("hash %q is not mosquitto_passwd's format", h)
	}
	if !VerifyMosquittoHash(h, pw) {
		t.Error("own hash does not verify")
	}
	for _, bad := range []string{pw + " ", "correct horse batter", ""} {
		if VerifyMosquittoHash(h, bad) {
			t.Errorf("verifies %q", bad)
		}
	}
	if h2, _ := MosquittoHash(pw); h2 == h {
		t.Error("same salt twice")
	}
	// A known vector, made with mosquitto_passwd 2.0.11.
	const known = "$7$101$gVfUsHaI9mbs5dvi$VIGOGOMUP1cxPgMK5v96lPC5aOszMhmFnNJ0QHCi5jNtqMl7MGnerNtaqXbc7YSJJwX+gDBjSuVOQ+MoO1XfEA=="
	if !VerifyMosquittoHash(known, pw) || VerifyMosquittoHash(known, "wrong password") {
		t.Error("mosquitto_passwd's hash of the password")
	}
	for _, bad := range []string{"", "$6$abc$def", strings.Replace(known, "$101$", "$0$", 1), known[:len(known)-4]} {
		if VerifyMosquittoHash(bad, pw) {
			t.Errorf("verifies against %q", bad)
		}
	}
	for _, weak := range []string{"short", strings.Repeat("x", 1025), "0123456789\x00abc"} {
		if _, err := MosquittoHash(weak); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("MosquittoHash(%q): %v", weak, err)
		}
	}
}

// TestMosquittoPasswdAgrees checks the format both ways against the
// installed mosquitto_passwd: it verifies our hash (-U would rewrite it; a
// batch add beside it must keep ours) and we verify its.
func TestMosquittoPasswdAgrees(t *testing.T) {
	if _, err := os.Stat(mosquittoPasswdBin); err != nil {
		if os.Getenv("REQUIRE_PEERS") == "1" {
			t.Fatal("mosquitto_passwd missing, and REQUIRE_PEERS=1")
		}
		t.Skip("SKIP: mosquitto_passwd not installed")
	}
	dir := t.TempDir()
	f := MosquittoFilesIn(dir)
	if err := f.Add("ours", RoleNode, "2161", "our password 1", false); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mosquittoPasswdBin, "-b", f.Passwd, "theirs", "their password 1").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if err := f.Add("ours-2", RoleNode, "2161", "our password 2", false); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f.Passwd)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("passwd:\n%s", data)
	}
	hashes := map[string]string{}
	for _, l := range lines {
		u, h, _ := strings.Cut(l, ":")
		hashes[u] = h
		if !mosquittoHashRE.MatchString(h) {
			t.Errorf("%s's hash %q", u, h)
		}
	}
	if !VerifyMosquittoHash(hashes["theirs"], "their password 1") {
		t.Error("mosquitto_passwd's hash does not verify")
	}
	if !VerifyMosquittoHash(hashes["ours"], "our password 1") || !VerifyMosquittoHash(hashes["ours-2"], "our password 2") {
		t.Error("our hashes do not verify after mosquitto_passwd rewrote the file")
	}
}

func TestMosquittoACLBlock(t *testing.T) {
	for _, tc := range []struct{ name, role, m, want string }{
		{"skola-1", RoleNode, "2161", `user skola-1
# node of municipality 2161 (safepoint broker-config)
topic write sp/v1/2161/skola-1/up
topic write sp/v1/2161/skola-1/status
topic write sp/v1/2161/skola-1/downack
topic read sp/v1/2161/skola-1/ack
topic read sp/v1/2161/skola-1/down
`},
		{"central", RoleCentral, AllMunicipalities, `user central
# central of every municipality (safepoint broker-config)
topic read sp/v1/#
topic write sp/v1/+/+/ack
topic write sp/v1/+/+/down
`},
		{"Kommun_2180", RoleCentral, "2180", `user Kommun_2180
# central of municipality 2180 (safepoint broker-config)
topic read sp/v1/2180/#
topic write sp/v1/2180/+/ack
topic write sp/v1/2180/+/down
`},
	} {
		got, err := MosquittoACL(tc.name, tc.role, tc.m)
		if err != nil || got != tc.want {
			t.Errorf("MosquittoACL(%s): %v\n%s", tc.name, err, got)
		}
	}
	for _, bad := range []struct {
		name, role, m string
		err           error
	}{
		{"Skola", RoleNode, "2161", ErrBadName},
		{"-a", RoleNode, "2161", ErrBadName},
		{"a/b", RoleNode, "2161", ErrBadName},
		{"a+", RoleCentral, "*", ErrBadName},
		{"a", RoleNode, "*", ErrBadMunicipality},
		{"a", RoleNode, "216", ErrBadMunicipality},
		{"a", RoleCentral, "+", ErrBadMunicipality},
		{"a", "admin", "2161", ErrBadRole},
	} {
		if _, err := MosquittoACL(bad.name, bad.role, bad.m); !errors.Is(err, bad.err) {
			t.Errorf("MosquittoACL(%q, %q, %q): %v", bad.name, bad.role, bad.m, err)
		}
	}
}

func TestMosquittoFilesAdd(t *testing.T) {
	dir := t.TempDir()
	f := MosquittoFilesIn(filepath.Join(dir, "etc"))
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if err := f.Add("central", RoleCentral, AllMunicipalities, "central password", false); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("a", RoleNode, "2161", "password of a", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.Passwd, f.ACL} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	acl := read(f.ACL)
	if !strings.HasPrefix(acl, "# Mosquitto ACL for Safepoint") ||
		!strings.Contains(acl, "\n\nuser central\n# central of every municipality") ||
		!strings.HasSuffix(acl, "\n\nuser a\n# node of municipality 2161 (safepoint broker-config)\ntopic write sp/v1/2161/a/up\n"+
			"topic write sp/v1/2161/a/status\ntopic write sp/v1/2161/a/downack\ntopic read sp/v1/2161/a/ack\ntopic read sp/v1/2161/a/down\n") {
		t.Errorf("acl:\n%s", acl)
	}
	pw := read(f.Passwd)
	if !regexp.MustCompile(`^central:\$7\$[^\n]+\na:\$7\$[^\n]+\n$`).MatchString(pw) {
		t.Errorf("passwd:\n%s", pw)
	}

	// A name in either file is refused without replace, and nothing changes.
	if err := f.Add("a", RoleNode, "2161", "another password", false); !errors.Is(err, ErrUserExists) {
		t.Errorf("duplicate: %v", err)
	}
	os.WriteFile(f.Passwd, []byte(pw+"only-pw:$7$101$x$y\n"), 0o600)
	if err := f.Add("only-pw", RoleNode, "2161", "another password", false); !errors.Is(err, ErrUserExists) {
		t.Errorf("in passwd only: %v", err)
	}
	if read(f.ACL) != acl {
		t.Error("a refused Add changed the ACL")
	}
	os.WriteFile(f.Passwd, []byte(pw), 0o600)
	os.WriteFile(f.ACL, []byte(acl+"\nuser only-acl\ntopic read x\n"), 0o600)
	if err := f.Add("only-acl", RoleNode, "2161", "another password", false); !errors.Is(err, ErrUserExists) {
		t.Errorf("in acl only: %v", err)
	}
	if read(f.Passwd) != pw {
		t.Error("a refused Add changed the password file")
	}
	for _, bad := range []struct{ name, role, m, pw string }{
		{"B", RoleNode, "2161", "long enough pw"},
		{"b", RoleNode, "21610", "long enough pw"},
		{"b", RoleNode, "2161", "short"},
	} {
		if err := f.Add(bad.name, bad.role, bad.m, bad.pw, false); err == nil {
			t.Errorf("Add(%v) worked", bad)
		}
	}

	// Replace: a new password and block in place; comments, pattern lines
	// and other users kept; mode, owner and group kept.
	hand := "# my comment\npattern read $SYS/broker/connection/%c/state\n"
	acl = read(f.ACL)
	acl = strings.Replace(acl, "user a\n", "user a\ntopic read sp/v1/2161/a/extra\n", 1)
	acl = strings.Replace(acl, "\nuser only-acl", "\n"+hand+"\nuser only-acl", 1)
	os.WriteFile(f.ACL, []byte(acl), 0o640)
	os.Chmod(f.ACL, 0o640)
	os.Chmod(f.Passwd, 0o640)
	oldHash := strings.Split(strings.Split(read(f.Passwd), "\na:")[1], "\n")[0]
	if os.Geteuid() == 0 {
		os.Chown(f.Passwd, 4242, 4343)
	}
	if err := f.Add("a", RoleNode, "2180", "password of a 2", true); err != nil {
		t.Fatal(err)
	}
	acl2 := read(f.ACL)
	if strings.Contains(acl2, "sp/v1/2161/a/") || !strings.Contains(acl2, "user a\n# node of municipality 2180") ||
		!strings.Contains(acl2, "topic read sp/v1/2180/a/down\n\n"+hand+"\nuser only-acl\ntopic read x\n") ||
		strings.Count(acl2, "user a\n") != 1 || !strings.Contains(acl2, "\nuser central\n") {
		t.Errorf("replaced acl:\n%s", acl2)
	}
	pw2 := read(f.Passwd)
	lines := strings.Split(strings.TrimSpace(pw2), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "a:$7$") || lines[1] == "a:"+oldHash ||
		!VerifyMosquittoHash(strings.TrimPrefix(lines[1], "a:"), "password of a 2") || lines[0] != strings.Split(pw, "\n")[0] {
		t.Errorf("replaced passwd:\n%s", pw2)
	}
	for _, p := range []string{f.Passwd, f.ACL} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, %v", p, fi.Mode(), err)
		}
		if os.Geteuid() == 0 && p == f.Passwd {
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4343 {
				t.Errorf("%s: owner %d:%d", p, st.Uid, st.Gid)
			}
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(f.Passwd)); len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}

	// Two blocks for one user cannot be replaced safely.
	os.WriteFile(f.ACL, []byte(acl2+"\nuser a\ntopic read #\n"), 0o640)
	if err := f.Add("a", RoleNode, "2180", "password of a 3", true); !errors.Is(err, ErrMosquittoFile) {
		t.Errorf("two blocks: %v", err)
	}
}
