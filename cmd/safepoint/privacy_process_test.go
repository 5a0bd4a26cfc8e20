package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// TestPersonalDataStaysOut: what a resident says about themselves goes to
// the personal table beside the log, never into the log, a log line or the
// debug log, on success and on error paths.
func TestPersonalDataStaysOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	name, contact, details := "Namnmarkör-"+randHex(t, 8), "Kontaktmarkör-"+randHex(t, 8), "Detaljmarkör-"+randHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	body, _ := json.Marshal(map[string]any{"size": 2, "status": "needs_help", "need": "medical",
		"name": name, "contact": contact, "details": details})
	code, resp, err := post(ctx, httpClient, p.base+"/api/checkins", string(body))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/checkins: %d %s %v", code, resp, err)
	}
	var c created
	if err := json.Unmarshal(resp, &c); err != nil || c.ID == "" {
		t.Fatalf("POST /api/checkins: answer %s: %v", resp, err)
	}

	// Bad bodies that carry personal data: each must be refused without
	// storing or logging any of it.
	rejected := []string{} // markers sent only in refused requests
	bad := []func(m string) map[string]any{
		func(m string) map[string]any { // size out of range
			return map[string]any{"size": 0, "status": "needs_help", "name": m}
		},
		func(m string) map[string]any { // unknown status
			return map[string]any{"size": 1, "status": "lost", "contact": m}
		},
		func(m string) map[string]any { // name too long
			return map[string]any{"size": 1, "status": "ok", "name": strings.Repeat("x", 101) + m}
		},
		func(m string) map[string]any { // unknown field
			return map[string]any{"size": 1, "status": "ok", "nam": m}
		},
		func(m string) map[string]any { // wrong type
			return map[string]any{"size": m, "status": "ok"}
		},
		func(m string) map[string]any { // a control character in details
			return map[string]any{"size": 1, "status": "ok", "details": m + "\x07"}
		},
	}
	for i, mk := range bad {
		m := fmt.Sprintf("Felmarkör%d-%s", i, randHex(t, 8))
		rejected = append(rejected, m)
		b, _ := json.Marshal(mk(m))
		code, resp, err := post(ctx, httpClient, p.base+"/api/checkins", string(b))
		if err != nil || code != http.StatusBadRequest {
			t.Errorf("bad check-in %d %s: %d %s %v, want 400", i, b, code, resp, err)
		}
	}
	// A report that fails validation with a marker in it.
	m := "Rapportmarkör-" + randHex(t, 8)
	rejected = append(rejected, m)
	b, _ := json.Marshal(map[string]any{"category": "nonsense", "text": m})
	if code, resp, err := post(ctx, httpClient, p.base+"/api/reports", string(b)); err != nil || code != http.StatusBadRequest {
		t.Errorf("bad report: %d %s %v, want 400", code, resp, err)
	}

	p.terminate()
	stderr := p.stderr.String()
	// The debug log was on: it logged the requests, so its silence about
	// the markers means something.
	if n := strings.Count(stderr, `"path":"/api/checkins"`); n < 1+len(bad) {
		t.Errorf("debug log holds %d check-in request lines, want %d; stderr:\n%s", n, 1+len(bad), stderr)
	}

	ctxDump, cancelDump := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelDump()
	cmd := exec.CommandContext(ctxDump, binPath, "dump", "--data", dir)
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	events := parseDump(t, out)
	checkLogOrder(t, events)

	markers := append([]string{name, contact, details}, rejected...)
	for _, mk := range markers {
		if strings.Contains(string(out), mk) {
			t.Errorf("marker %q is in the dump", mk)
		}
		if strings.Contains(stderr, mk) {
			t.Errorf("marker %q is in the node's log", mk)
		}
		// Also the marker's tail alone, should an encoder have escaped
		// the "ö".
		tail := mk[strings.Index(mk, "-"):]
		if strings.Contains(string(out), tail) || strings.Contains(stderr, tail) {
			t.Errorf("marker %q (as %q) is in the dump or the log", mk, tail)
		}
	}

	var found bool
	for _, e := range events {
		if e.Type != node.TypeCheckInCreated {
			continue
		}
		if e.Payload["id"] != c.ID {
			t.Errorf("unexpected check-in in the log: %s", e.raw)
			continue
		}
		found = true
		if e.Payload["personal"] != true {
			t.Errorf(`check-in event lacks "personal":true: %s`, e.raw)
		}
		if e.Payload["status"] != "needs_help" || e.Payload["need"] != "medical" || e.Payload["size"] != 2.0 {
			t.Errorf("check-in event does not say what was sent: %s", e.raw)
		}
	}
	if !found {
		t.Fatalf("check-in %s is not in the dump", c.ID)
	}

	// The personal data was stored, beside the log: the test is not
	// passing merely because nothing was kept.
	file := filepath.Join(dir, eventlog.FileName)
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		t.Fatalf("open the log: %v", err)
	}
	defer l.Close()
	got, ok, err := l.Personal(ctx, c.ID)
	if err != nil || !ok {
		t.Fatalf("personal data of %s: %v %v", c.ID, ok, err)
	}
	if want := (node.Personal{Name: name, Contact: contact, Details: details}); got != want {
		t.Errorf("personal data = %+v, want %+v", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Refused data never reached the disk at all.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, mk := range rejected {
			if bytes.Contains(raw, []byte(mk)) {
				t.Errorf("refused marker %q is in %s", mk, filepath.Base(f))
			}
		}
	}
}
