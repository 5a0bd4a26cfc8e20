package admin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// add runs AddBrokerUser with stdin.
func add(stdin string, u BrokerUser) (stdout string, err error) {
	var o, e bytes.Buffer
	err = AddBrokerUser(u, strings.NewReader(stdin), &o, &e)
	return o.String(), err
}

// addBrokerUsers adds the users of synctest.CheckNodeACL, to Mosquitto's
// files (where.Out) or the embedded broker's (where.Embedded): a central,
// nodes A and B of 2161, and a node of 2180. A's password comes from a
// file, the others' from standard input.
func addBrokerUsers(t *testing.T, where BrokerUser) synctest.ACLTarget {
	t.Helper()
	tg := synctest.ACLTarget{Municipality: "2161", Other: "2180",
		Central: synctest.Cred{Name: "central", Password: "central password 1"},
		A:       synctest.Cred{Name: "skola-a", Password: "password of a 1"},
		B:       synctest.Cred{Name: "skola-b", Password: "password of b 1"},
	}
	pwFile := filepath.Join(t.TempDir(), "mqtt-password")
	if err := os.WriteFile(pwFile, []byte(tg.A.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stdin string
		u     BrokerUser
	}{
		{tg.Central.Password + "\n", BrokerUser{Name: tg.Central.Name, Role: broker.RoleCentral, Municipality: broker.AllMunicipalities}},
		{"", BrokerUser{Name: tg.A.Name, Role: broker.RoleNode, Municipality: "2161", PasswordFile: pwFile}},
		{tg.B.Password, BrokerUser{Name: tg.B.Name, Role: broker.RoleNode, Municipality: "2161"}},
		{"password of c 1\n", BrokerUser{Name: "skola-c", Role: broker.RoleNode, Municipality: "2180"}},
	} {
		c.u.Out, c.u.Embedded = where.Out, where.Embedded
		if out, err := add(c.stdin, c.u); err != nil {
			t.Fatalf("%+v: %v\n%s", c.u, err, out)
		}
	}
	return tg
}

// TestBrokerUserMosquitto: users added to Mosquitto's password and ACL
// files; real Mosquitto keeps each node to its own topics.
func TestBrokerUserMosquitto(t *testing.T) {
	synctest.NeedMosquitto(t)
	dir := t.TempDir()
	tg := addBrokerUsers(t, BrokerUser{Out: dir})
	port := synctest.FreePort(t)
	m := synctest.StartMosquittoConfig(t, port, fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous false
password_file %s
acl_file %s
use_username_as_clientid true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages true
`, port, filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")))
	tg.URL = m.URL()
	synctest.CheckNodeACL(t, tg)
}

// TestBrokerUserEmbedded: users added to the embedded broker's users
// file; the embedded broker keeps each node to its own topics, the same
// check as Mosquitto's.
func TestBrokerUserEmbedded(t *testing.T) {
	data := t.TempDir()
	tg := addBrokerUsers(t, BrokerUser{Embedded: data})
	b, err := broker.New(broker.Opts{Addr: "127.0.0.1:0", UsersFile: filepath.Join(data, "broker", "users"),
		Logger: synctest.Logger(t, "broker")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	tg.URL = "tcp://" + b.Addr()
	synctest.CheckNodeACL(t, tg)
}

func TestBrokerUserErrors(t *testing.T) {
	dir := t.TempDir()
	const pw = "a good password\n"
	node := func(name, municipality string) BrokerUser {
		return BrokerUser{Name: name, Role: broker.RoleNode, Municipality: municipality, Out: dir}
	}
	central := func(name, municipality string) BrokerUser {
		return BrokerUser{Name: name, Role: broker.RoleCentral, Municipality: municipality, Out: dir}
	}
	missing := node("a", "2161")
	missing.PasswordFile = filepath.Join(dir, "missing")
	for _, tc := range []struct {
		stdin string
		u     BrokerUser
		want  string // in the error
	}{
		{pw, node("Skola_1", "2161"), `--node "Skola_1": broker: a node user is a node id`},
		{pw, node("-a", "2161"), `--node "-a"`},
		{pw, node("a", "216"), `--municipality "216": broker: municipality must be a 4-digit`},
		{pw, node("a", "*"), `--municipality "*"`},
		{pw, central("c/d", "*"), `--central "c/d"`},
		{pw, central("c", "21610"), `--municipality "21610"`},
		{"", node("a", "2161"), "none on standard input"},
		{"short\n", node("a", "2161"), "at least 10"},
		{"", missing, "--password-file"},
	} {
		_, err := add(tc.stdin, tc.u)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.u, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused runs wrote %v", ents)
	}

	// Duplicates are refused unless Replace; Replace sets a new password.
	hashOf := func(path, name, sep string) string {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if after, ok := strings.CutPrefix(l, name+sep); ok {
				return after
			}
		}
		return ""
	}
	data := t.TempDir()
	for _, where := range []BrokerUser{{Out: dir}, {Embedded: data}} {
		path, sep := filepath.Join(dir, "passwd"), ":"
		if where.Embedded != "" {
			path, sep = filepath.Join(data, "broker", "users"), " "
		}
		u := BrokerUser{Name: "skola-1", Role: broker.RoleNode, Municipality: "2161", Out: where.Out, Embedded: where.Embedded}
		out, err := add("first password 1\n", u)
		if err != nil || !strings.Contains(out, "Wrote node skola-1 of municipality 2161 to "+path) {
			t.Fatalf("%+v: %v %q", u, err, out)
		}
		first := hashOf(path, "skola-1", sep)
		if first == "" {
			t.Fatalf("%s: no line for skola-1", path)
		}
		if _, err := add("second password 2\n", u); err == nil || !strings.Contains(err.Error(), "--replace") {
			t.Errorf("%+v again: %v", where, err)
		}
		if hashOf(path, "skola-1", sep) != first {
			t.Errorf("%+v: a refused duplicate changed the password", where)
		}
		u.Replace = true
		if _, err := add("second password 2\n", u); err != nil {
			t.Errorf("%+v replace: %v", where, err)
		}
		if h := hashOf(path, "skola-1", sep); h == first || h == "" {
			t.Errorf("%+v replace: password line %q", where, h)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", path, err)
		}
	}
	if h := hashOf(filepath.Join(dir, "passwd"), "skola-1", ":"); !broker.VerifyMosquittoHash(h, "second password 2") {
		t.Error("the replaced Mosquitto password does not verify")
	}
	// The embedded file keeps a node in its municipality, even with Replace.
	_, err := add("third password 3\n", BrokerUser{Name: "skola-1", Role: broker.RoleNode, Municipality: "2180", Embedded: data, Replace: true})
	if err == nil || !strings.Contains(err.Error(), "belongs to municipality 2161") {
		t.Errorf("moving a node: %v", err)
	}
	// A central is not replaced in the embedded file.
	c := BrokerUser{Name: "central", Role: broker.RoleCentral, Municipality: broker.AllMunicipalities, Embedded: data, Replace: true}
	if _, err := add("central password 1\n", c); err == nil || !strings.Contains(err.Error(), "--replace of a central") {
		t.Errorf("replacing a central: %v", err)
	}
	// Root writing another user's data directory hands the users file to
	// that user, who runs central.
	if os.Geteuid() == 0 {
		owned := t.TempDir()
		if err := os.Chown(owned, 4242, 4343); err != nil {
			t.Fatal(err)
		}
		if _, err := add("first password 1\n", BrokerUser{Name: "skola-1", Role: broker.RoleNode, Municipality: "2161", Embedded: owned}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(owned, "broker"), filepath.Join(owned, "broker", "users")} {
			fi, err := os.Stat(p)
			if st, ok := fi.Sys().(*syscall.Stat_t); err != nil || !ok || st.Uid != 4242 || st.Gid != 4343 {
				t.Errorf("%s: %v %+v", p, err, fi.Sys())
			}
		}
	}
	// A central of every municipality.
	out, err := add("central password 1\n", central("central", broker.AllMunicipalities))
	if err != nil || !strings.Contains(out, "central central of every municipality") {
		t.Errorf("central: %v %q", err, out)
	}
	if acl, _ := os.ReadFile(filepath.Join(dir, "acl")); !strings.Contains(string(acl), "user central\n# central of every municipality (safepoint broker-config)\ntopic read sp/v1/#\n") {
		t.Errorf("acl:\n%s", acl)
	}
}
