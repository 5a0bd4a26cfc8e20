package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// brokerConfig runs `safepoint broker-config args…` in the process with
// stdin.
func brokerConfig(stdin string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = runBrokerConfigWith(args, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), err
}

// addBrokerUsers adds the users of synctest.CheckNodeACL with the command,
// to Mosquitto's files (where = --out DIR) or the embedded broker's (where
// = --embedded DATA): a central, nodes A and B of 2161, and a node of 2180.
// A's password comes from a file, the others' from standard input.
func addBrokerUsers(t *testing.T, where ...string) synctest.ACLTarget {
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
		args  []string
	}{
		{tg.Central.Password + "\n", []string{"--central", tg.Central.Name}},
		{"", []string{"--node", tg.A.Name, "--municipality", "2161", "--password-file", pwFile}},
		{tg.B.Password, []string{"--node", tg.B.Name, "--municipality", "2161"}},
		{"password of c 1\n", []string{"--node", "skola-c", "--municipality", "2180"}},
	} {
		out, errOut, err := brokerConfig(c.stdin, append(c.args, where...)...)
		if err != nil {
			t.Fatalf("broker-config %v: %v\n%s%s", c.args, err, out, errOut)
		}
	}
	return tg
}

// TestBrokerConfigMosquitto: users added by the command to Mosquitto's
// password and ACL files; real Mosquitto keeps each node to its own topics.
func TestBrokerConfigMosquitto(t *testing.T) {
	synctest.NeedMosquitto(t)
	dir := t.TempDir()
	tg := addBrokerUsers(t, "--out", dir)
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

// TestBrokerConfigEmbedded: users added by the command to the embedded
// broker's users file; the embedded broker keeps each node to its own
// topics, the same check as Mosquitto's.
func TestBrokerConfigEmbedded(t *testing.T) {
	data := t.TempDir()
	tg := addBrokerUsers(t, "--embedded", data)
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

func TestBrokerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	const pw = "a good password\n"
	for _, tc := range []struct {
		stdin string
		args  []string
		usage bool   // errUsage
		want  string // in the error or stderr
	}{
		{pw, nil, true, "--node ID or --central NAME is required"},
		{pw, []string{"--node", "a", "--central", "c", "--municipality", "2161"}, true, "not both"},
		{pw, []string{"--node", "a"}, true, "--node needs --municipality"},
		{pw, []string{"--node", "a", "--municipality", "2161", "--out", dir, "--embedded", dir}, true, "--out or --embedded"},
		{pw, []string{"--node", "a", "--municipality", "2161", "extra"}, true, `unexpected argument "extra"`},
		{pw, []string{"--node", "a", "--municipality", "2161", "--password", "x"}, true, "flag provided but not defined: -password"},
		{pw, []string{"--node", "Skola_1", "--municipality", "2161", "--out", dir}, false, `--node "Skola_1": broker: a node user is a node id`},
		{pw, []string{"--node", "-a", "--municipality", "2161", "--out", dir}, false, `--node "-a"`},
		{pw, []string{"--node", "a", "--municipality", "216", "--out", dir}, false, `--municipality "216": broker: municipality must be a 4-digit`},
		{pw, []string{"--node", "a", "--municipality", "*", "--out", dir}, false, `--municipality "*"`},
		{pw, []string{"--central", "c/d", "--out", dir}, false, `--central "c/d"`},
		{pw, []string{"--central", "c", "--municipality", "21610", "--out", dir}, false, `--municipality "21610"`},
		{"", []string{"--node", "a", "--municipality", "2161", "--out", dir}, false, "none on standard input"},
		{"short\n", []string{"--node", "a", "--municipality", "2161", "--out", dir}, false, "at least 10"},
		{"", []string{"--node", "a", "--municipality", "2161", "--password-file", filepath.Join(dir, "missing"), "--out", dir}, false, "--password-file"},
	} {
		_, errOut, err := brokerConfig(tc.stdin, tc.args...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error()+errOut, tc.want) {
			t.Errorf("%v: %v (usage %v), stderr %q; want %q", tc.args, err, errors.Is(err, errUsage), errOut, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused runs wrote %v", ents)
	}

	// Duplicates are refused unless --replace; --replace sets a new password.
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
	for _, where := range [][]string{{"--out", dir}, {"--embedded", data}} {
		path, sep := filepath.Join(dir, "passwd"), ":"
		if where[0] == "--embedded" {
			path, sep = filepath.Join(data, "broker", "users"), " "
		}
		add := append([]string{"--node", "skola-1", "--municipality", "2161"}, where...)
		out, _, err := brokerConfig("first password 1\n", add...)
		if err != nil || !strings.Contains(out, "Wrote node skola-1 of municipality 2161 to "+path) {
			t.Fatalf("%v: %v %q", add, err, out)
		}
		first := hashOf(path, "skola-1", sep)
		if first == "" {
			t.Fatalf("%s: no line for skola-1", path)
		}
		if _, _, err := brokerConfig("second password 2\n", add...); err == nil || !strings.Contains(err.Error(), "--replace") {
			t.Errorf("%v again: %v", where, err)
		}
		if hashOf(path, "skola-1", sep) != first {
			t.Errorf("%v: a refused duplicate changed the password", where)
		}
		if _, _, err := brokerConfig("second password 2\n", append(add, "--replace")...); err != nil {
			t.Errorf("%v --replace: %v", where, err)
		}
		if h := hashOf(path, "skola-1", sep); h == first || h == "" {
			t.Errorf("%v --replace: password line %q", where, h)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", path, err)
		}
	}
	if h := hashOf(filepath.Join(dir, "passwd"), "skola-1", ":"); !broker.VerifyMosquittoHash(h, "second password 2") {
		t.Error("the replaced Mosquitto password does not verify")
	}
	// The embedded file keeps a node in its municipality, even with --replace.
	_, _, err := brokerConfig("third password 3\n", "--node", "skola-1", "--municipality", "2180", "--embedded", data, "--replace")
	if err == nil || !strings.Contains(err.Error(), "belongs to municipality 2161") {
		t.Errorf("moving a node: %v", err)
	}
	// Root writing another user's data directory hands the users file to
	// that user, who runs central.
	if os.Geteuid() == 0 {
		owned := t.TempDir()
		if err := os.Chown(owned, 4242, 4343); err != nil {
			t.Fatal(err)
		}
		if _, _, err := brokerConfig("first password 1\n", "--node", "skola-1", "--municipality", "2161", "--embedded", owned); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(owned, "broker"), filepath.Join(owned, "broker", "users")} {
			fi, err := os.Stat(p)
			if st, ok := fi.Sys().(*syscall.Stat_t); err != nil || !ok || st.Uid != 4242 || st.Gid != 4343 {
				t.Errorf("%s: %v %+v", p, err, fi.Sys())
			}
		}
	}
	// A central of every municipality by default.
	out, _, err := brokerConfig("central password 1\n", "--central", "central", "--out", dir)
	if err != nil || !strings.Contains(out, "central central of every municipality") {
		t.Errorf("central: %v %q", err, out)
	}
	if acl, _ := os.ReadFile(filepath.Join(dir, "acl")); !strings.Contains(string(acl), "user central\n# central of every municipality (safepoint broker-config)\ntopic read sp/v1/#\n") {
		t.Errorf("acl:\n%s", acl)
	}
}
