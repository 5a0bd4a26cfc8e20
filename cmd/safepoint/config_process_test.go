package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// TestFirstStartIdentity: a first start without --id makes up the point id;
// restarts keep it without writing; another --id is refused.
func TestFirstStartIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet") // does not exist
	plain := []string{"--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"}

	p := startNode(t, nil, plain...)
	if _, err := os.Stat(filepath.Join(dir, eventlog.FileName)); err != nil {
		t.Fatalf("first start made no log: %v", err)
	}
	st := p.getStatus(t)
	id := st.Point.ID
	if !madeUpID.MatchString(id) {
		t.Fatalf("made-up point id %q does not match %s", id, madeUpID)
	}
	p.terminate()
	before := runDumpProc(t, dir)
	if len(before) == 0 {
		t.Fatal("first start wrote no event (point.configured expected)")
	}
	for _, e := range before {
		if e.Origin != id {
			t.Errorf("event of origin %q, point id %q", e.Origin, id)
		}
	}

	for i := 0; i < 2; i++ {
		p = startNode(t, nil, plain...)
		if got := p.getStatus(t).Point.ID; got != id {
			t.Errorf("restart %d: point id %q, was %q", i+1, got, id)
		}
		p.terminate()
		after := runDumpProc(t, dir)
		if len(after) != len(before) {
			t.Errorf("restart %d with the same configuration wrote %d event(s):", i+1, len(after)-len(before))
			for _, e := range after[min(len(before), len(after)):] {
				t.Logf("  %s", e.raw)
			}
		}
	}

	// The same id, given explicitly, is fine.
	p = startNode(t, nil, append(plain, "--id", id)...)
	p.terminate()

	other := "sp-other1"
	p = start(t, nil, "node", "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--id", other)
	if code := p.wait(10 * time.Second); code == 0 {
		t.Fatalf("start with --id %s on the log of %s succeeded; stderr:\n%s", other, id, p.stderr)
	}
	msg := p.stderr.String()
	if !strings.Contains(msg, "another origin") || !strings.Contains(msg, id) || !strings.Contains(msg, other) {
		t.Errorf("error does not explain the origin mismatch (%s vs %s):\n%s", id, other, msg)
	}
	if after := runDumpProc(t, dir); len(after) != len(before) {
		t.Errorf("refused start changed the log: %d events, were %d", len(after), len(before))
	}
}

// TestConfigPrecedence: flag beats environment beats file beats default;
// an unknown file key and a bad environment value are clear errors.
func TestConfigPrecedence(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	conf := filepath.Join(tmp, "safepoint.toml")
	writeFile := func(s string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(fmt.Sprintf(`name = "FromFile"
municipality = "0180"
http = "127.0.0.1:0"
https = "127.0.0.1:0"
data = %q
log_format = "json"
opening_hours = "08-20"
`, dir))

	t.Run("layers", func(t *testing.T) {
		env := []string{"SAFEPOINT_NAME=FromEnv", "SAFEPOINT_MUNICIPALITY=0581"}
		p := startNode(t, env, "--config", conf, "--municipality", "2161")
		st := p.getStatus(t)
		p.terminate()
		if st.Point.Name != "FromEnv" {
			t.Errorf("name %q, want FromEnv (environment beats file)", st.Point.Name)
		}
		if st.Point.Municipality != "2161" {
			t.Errorf("municipality %q, want 2161 (flag beats environment and file)", st.Point.Municipality)
		}
		// Keys only the file sets are taken from it.
		if _, err := os.Stat(filepath.Join(dir, eventlog.FileName)); err != nil {
			t.Errorf("data from the file not used: %v", err)
		}
		if !hasLogMsg(p.stderr.String(), "Serving") {
			t.Errorf("log_format from the file not used; stderr:\n%s", p.stderr)
		}
		if !strings.HasPrefix(p.base, "http://127.0.0.1:") {
			t.Errorf("http from the file not used: %s", p.base)
		}
		events := runDumpProc(t, dir)
		var hours any
		for _, e := range events {
			if e.Type == node.TypePointConfigured {
				hours = e.Payload["opening_hours"]
			}
		}
		if hours != "08-20" {
			t.Errorf("opening_hours from the file: %v, want 08-20", hours)
		}
	})

	t.Run("config from environment", func(t *testing.T) {
		p := startNode(t, []string{"SAFEPOINT_CONFIG=" + conf})
		st := p.getStatus(t)
		p.terminate()
		if st.Point.Name != "FromFile" || st.Point.Municipality != "0180" {
			t.Errorf("point %+v, want FromFile/0180 from the file named by SAFEPOINT_CONFIG", st.Point)
		}
	})

	// fails runs the binary, which must exit non-zero quickly, and returns
	// its stderr.
	fails := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		p := start(t, env, args...)
		code := p.wait(10 * time.Second)
		if code == 0 {
			t.Fatalf("%v succeeded; stderr:\n%s", args, p.stderr)
		}
		if p.stderr.served() {
			t.Errorf("node served despite a bad configuration")
		}
		return p.stderr.String()
	}

	t.Run("unknown key", func(t *testing.T) {
		bad := filepath.Join(tmp, "typo.toml")
		if err := os.WriteFile(bad, []byte(fmt.Sprintf("data = %q\nhttp = \"127.0.0.1:0\"\nnmae = \"x\"\n", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		msg := fails(t, nil, "node", "--config", bad)
		if !strings.Contains(msg, "nmae") || !strings.Contains(msg, "unknown key") {
			t.Errorf("error does not name the unknown key nmae:\n%s", msg)
		}
		msg = fails(t, nil, "dump", "--config", bad)
		if !strings.Contains(msg, "nmae") {
			t.Errorf("dump: error does not name the unknown key nmae:\n%s", msg)
		}
	})

	t.Run("bad environment value", func(t *testing.T) {
		msg := fails(t, []string{"SAFEPOINT_POST_RATE=abc"}, "node", "--config", conf)
		if !strings.Contains(msg, "SAFEPOINT_POST_RATE") {
			t.Errorf("error does not name SAFEPOINT_POST_RATE:\n%s", msg)
		}
		// An explicit flag overrides the environment, bad value and all.
		p := startNode(t, []string{"SAFEPOINT_POST_RATE=abc"}, "--config", conf, "--post-rate", "5")
		p.terminate()
	})
}
