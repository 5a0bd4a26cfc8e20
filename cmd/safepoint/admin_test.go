package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokerConfig runs `safepoint broker-config args…` in the process with
// stdin.
func brokerConfig(stdin string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = runBrokerConfigWith(args, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), err
}

// TestBrokerConfigFlags: the command's own mistakes are usage errors, and
// write nothing; what it does with good flags is internal/admin's, tested
// there.
func TestBrokerConfigFlags(t *testing.T) {
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
		{pw, []string{"--central", "c/d", "--out", dir}, false, `--central "c/d"`},
		{"short\n", []string{"--node", "a", "--municipality", "2161", "--out", dir}, false, "at least 10"},
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

	// A node from --password-file, into the current directory by default.
	pwFile := filepath.Join(t.TempDir(), "mqtt-password")
	if err := os.WriteFile(pwFile, []byte("password of a 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	out, _, err := brokerConfig("", "--node", "skola-a", "--municipality", "2161", "--password-file", pwFile)
	if err != nil || !strings.Contains(out, "Wrote node skola-a of municipality 2161 to passwd and acl.") {
		t.Errorf("node: %v %q", err, out)
	}
	// A central of every municipality by default.
	out, _, err = brokerConfig("central password 1\n", "--central", "central", "--out", dir)
	if err != nil || !strings.Contains(out, "central central of every municipality") {
		t.Errorf("central: %v %q", err, out)
	}
}
