package main

// Process-level tests of what the node keeps to itself: residents'
// personal data and staff secrets stay out of the log, the debug log, the
// dump and the tools' output.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/proctest"
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
	stderr := p.Stderr.String()
	// The debug log was on: it logged the requests, so its silence about
	// the markers means something.
	if n := strings.Count(stderr, `"path":"/api/checkins"`); n < 1+len(bad) {
		t.Errorf("debug log holds %d check-in request lines, want %d; stderr:\n%s", n, 1+len(bad), stderr)
	}

	events := runDumpProc(t, dir)
	checkLogOrder(t, events)
	var out strings.Builder
	for _, e := range events {
		out.WriteString(e.Raw + "\n")
	}

	markers := append([]string{name, contact, details}, rejected...)
	for _, mk := range markers {
		if strings.Contains(out.String(), mk) {
			t.Errorf("marker %q is in the dump", mk)
		}
		if strings.Contains(stderr, mk) {
			t.Errorf("marker %q is in the node's log", mk)
		}
		// Also the marker's tail alone, should an encoder have escaped
		// the "ö".
		tail := mk[strings.Index(mk, "-"):]
		if strings.Contains(out.String(), tail) || strings.Contains(stderr, tail) {
			t.Errorf("marker %q (as %q) is in the dump or the log", mk, tail)
		}
	}

	var found bool
	for _, e := range events {
		if e.Type != node.TypeCheckInCreated {
			continue
		}
		if e.Payload["id"] != c.ID {
			t.Errorf("unexpected check-in in the log: %s", e.Raw)
			continue
		}
		found = true
		if e.Payload["personal"] != true {
			t.Errorf(`check-in event lacks "personal":true: %s`, e.Raw)
		}
		if e.Payload["status"] != "needs_help" || e.Payload["need"] != "medical" || e.Payload["size"] != 2.0 {
			t.Errorf("check-in event does not say what was sent: %s", e.Raw)
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

// TestNoSecretsInLogsOrDump: passwords, session tokens, CSRF tokens and
// hashes never reach the node's debug log, the dump, the tool's output or
// (passwords, tokens) the data directory; the account name only appears
// as the author of what it published.
func TestNoSecretsInLogsOrDump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...) // nodeArgs: --log-level debug
	addr, _ := staffHTTPS(t, p)
	name := "konto_" + randHex(t, 6)
	p1, p2 := "Lösen1-"+randHex(t, 10), "Lösen2-"+randHex(t, 10)
	p3 := "Fellåda-" + randHex(t, 10) // a password typed into the name box

	var cli []proctest.Result
	cli = append(cli, addUser(t, dir, name, "staff", p1))
	cli = append(cli, userCmd(t, dir, "", "list"))

	s := newStaffClient(t, dir, "https://"+addr)
	if code, b := s.login(name, p2); code != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %d %s", code, b)
	}
	if code, b := s.login(p3, p1); code != http.StatusUnauthorized {
		t.Fatalf("login with a password as the name: %d %s", code, b)
	}
	s.mustLogin(name, p1)
	token, csrf := s.token, s.CSRF
	if len(token) < 20 || len(csrf) < 20 {
		t.Fatalf("token %d and CSRF %d characters: too short to look for", len(token), len(csrf))
	}
	resp, b := s.do(http.MethodPost, "/api/staff/announcements", `{"title":{"sv":"Storm"},"severity":"warning"}`,
		map[string]string{"X-CSRF-Token": csrf})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/staff/announcements: %d %s", resp.StatusCode, b)
	}
	var ann struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &ann); err != nil || ann.ID == "" {
		t.Fatalf("announcement answer %s: %v", b, err)
	}
	resp, b = s.do(http.MethodPost, "/logout", "", map[string]string{"X-CSRF-Token": csrf})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /logout: %d %s", resp.StatusCode, b)
	}
	// Logout ended the session on the node, not just in the jar.
	replay := newStaffClient(t, dir, "https://"+addr)
	resp, _ = replay.do(http.MethodGet, "/api/staff/state", "", map[string]string{"Cookie": cookieNameTLS + "=" + token})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the logged-out token still opens the staff state: %d", resp.StatusCode)
	}
	p.terminate()

	stderr := p.Stderr.String()
	// The debug log was on and did log these requests: its silence about
	// the secrets means something.
	for _, want := range []string{`"path":"/api/login"`, `"path":"/api/staff/announcements"`, `"path":"/logout"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("debug log lacks %s; stderr:\n%s", want, stderr)
		}
	}
	if !hasLogMsg(stderr, "Login failed") || !hasLogMsg(stderr, "Login") {
		t.Errorf("log lacks the login lines; stderr:\n%s", stderr)
	}

	events := runDumpProc(t, dir)
	checkLogOrder(t, events)
	var found bool
	var dump strings.Builder
	for _, e := range events {
		raw := e.Raw
		if e.Type == node.TypeAnnouncementPublished && e.Payload["id"] == ann.ID {
			found = true
			if e.Payload["by"] != name {
				t.Errorf(`announcement event: "by" = %v, want %s: %s`, e.Payload["by"], name, raw)
			}
			if title, _ := e.Payload["title"].(map[string]any); title["sv"] != "Storm" || e.Payload["severity"] != "warning" {
				t.Errorf("announcement event does not hold what was sent: %s", raw)
			}
			// The author is allowed there, once, as "by", and nowhere else.
			by, _ := json.Marshal(name)
			if strings.Count(raw, name) != 1 || !strings.Contains(raw, `"by":`+string(by)) {
				t.Errorf("account name in the announcement event other than as its author: %s", raw)
			}
			raw = strings.Replace(raw, `"by":`+string(by), `"by":""`, 1)
		}
		dump.WriteString(raw + "\n")
	}
	if !found {
		t.Fatalf("announcement %s is not in the dump", ann.ID)
	}

	secrets := map[string]string{"password P1": p1, "wrong password P2": p2, "name-box password": p3,
		"session token": token, "CSRF token": csrf, "a password hash": "$argon2id", "the account name": name}
	places := map[string]string{"the node's log": stderr, "the dump": dump.String()}
	for i, r := range cli {
		// `user add` confirms the account it made, by the name given on
		// its own command line; that one line may name it.
		out := strings.Replace(r.Stdout, fmt.Sprintf("Added %s (staff).\n", name), "", 1)
		out = strings.Replace(out, name+" ", "", 1) // `user list`, its one row
		places[fmt.Sprintf("stdout of user run %d", i+1)] = out
		places[fmt.Sprintf("stderr of user run %d", i+1)] = r.Stderr
	}
	for where, text := range places {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %s (%q)", where, what, secret)
			}
		}
		// Also an escaped form: JSON may write "ö" as \u00f6.
		for what, secret := range map[string]string{"P1": p1, "P2": p2, "P3": p3} {
			tail := secret[strings.Index(secret, "-"):]
			if strings.Contains(text, tail) {
				t.Errorf("%s holds the tail of %s (%q)", where, what, tail)
			}
		}
	}

	// On disk, passwords and the token exist only as hashes.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for what, secret := range map[string]string{"P1": p1, "P2": p2, "P3": p3, "token": token} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s holds %s in clear", filepath.Base(f), what)
			}
		}
	}
}
