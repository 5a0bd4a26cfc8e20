package main

// Process-level tests of staff access: the self-made HTTPS certificate, the
// plain-HTTP redirects, the `safepoint user` tool beside a running node,
// and that no secret reaches a log, the dump or the tool's output.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// Cookie names, as docs/API.md gives them.
const (
	cookieNameTLS   = "__Host-safepoint"
	cookieNamePlain = "safepoint"
)

// logRecord is one line of the node's JSON log, the fields these tests read.
type logRecord struct {
	Level       string `json:"level"`
	Msg         string `json:"msg"`
	Addr        string `json:"addr"`
	Fingerprint string `json:"fingerprint"`
	raw         string
}

// logRecords parses a JSON log; lines that are not JSON objects are skipped.
func logRecords(log string) []logRecord {
	var recs []logRecord
	for _, line := range strings.Split(log, "\n") {
		var r logRecord
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg != "" {
			r.raw = line
			recs = append(recs, r)
		}
	}
	return recs
}

// staffHTTPS returns the address and fingerprint of the node's "Serving
// staff over HTTPS" line. The node logs it before "Serving", which
// startNode has waited for, so it is in the buffer already.
func staffHTTPS(t testing.TB, p *proc) (addr, fingerprint string) {
	t.Helper()
	for _, r := range logRecords(p.stderr.String()) {
		if r.Msg == "Serving staff over HTTPS" {
			if r.Addr == "" || r.Fingerprint == "" {
				t.Fatalf("HTTPS line without addr or fingerprint: %s", r.raw)
			}
			return r.Addr, r.Fingerprint
		}
	}
	t.Fatalf(`no "Serving staff over HTTPS" line; stderr:\n%s`, p.stderr)
	return "", ""
}

// sha256Colons formats the SHA-256 of der as uppercase hex pairs joined by
// colons, computed here independently of ui.Fingerprint.
func sha256Colons(der []byte) string {
	sum := sha256.Sum256(der)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":")
}

// certPEM reads the node's certificate file and returns its DER.
func certPEM(t testing.TB, dir string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatalf("read cert.pem: %v", err)
	}
	block, rest := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("cert.pem holds no CERTIFICATE block: %q", raw)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		t.Errorf("cert.pem holds more than one block")
	}
	return block.Bytes
}

// nodePool is a CertPool holding only the node's own certificate.
func nodePool(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	cert, err := x509.ParseCertificate(certPEM(t, dir))
	if err != nil {
		t.Fatalf("parse cert.pem: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// dialTLS connects to addr and completes a handshake under cfg.
func dialTLS(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// staffClient talks to one node as one staff member: its own cookie jar,
// trusting only the node's certificate.
type staffClient struct {
	t     testing.TB
	base  string // https://127.0.0.1:PORT, or the plain base with staff TLS off
	jar   *cookiejar.Jar
	c     *http.Client
	csrf  string
	token string // the session cookie's value after a login
}

func newStaffClient(t testing.TB, dir, base string) *staffClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	if strings.HasPrefix(base, "https://") {
		tr.TLSClientConfig = &tls.Config{RootCAs: nodePool(t, dir), MinVersion: tls.VersionTLS12}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &staffClient{t: t, base: base, jar: jar, c: &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: tr}}
}

// do sends one request and returns the answer with its body read.
func (s *staffClient) do(method, path, body string, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b
}

// login posts to /api/login; on 200 it keeps the CSRF token and the
// session cookie's value.
func (s *staffClient) login(name, password string) (int, []byte) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, b := s.do(http.MethodPost, "/api/login", string(body), nil)
	if resp.StatusCode == http.StatusOK {
		var lr struct {
			CSRF string `json:"csrf"`
			Role string `json:"role"`
		}
		if err := json.Unmarshal(b, &lr); err != nil || lr.CSRF == "" || lr.Role == "" {
			s.t.Fatalf("login answer %s: %v", b, err)
		}
		s.csrf = lr.CSRF
		u, _ := url.Parse(s.base)
		s.token = ""
		for _, c := range s.jar.Cookies(u) {
			if c.Name == cookieNameTLS || c.Name == cookieNamePlain {
				s.token = c.Value
			}
		}
		if s.token == "" {
			s.t.Fatalf("login answered 200 but set no session cookie (%v)", resp.Header.Values("Set-Cookie"))
		}
	}
	return resp.StatusCode, b
}

// mustLogin logs in and fails the test unless it works.
func (s *staffClient) mustLogin(name, password string) {
	s.t.Helper()
	if code, b := s.login(name, password); code != http.StatusOK {
		s.t.Fatalf("login as %s: %d %s", name, code, b)
	}
}

// state is GET /api/staff/state: its status, and the parts these tests read.
type staffStateResp struct {
	Fingerprint string `json:"fingerprint"`
	Me          struct {
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"me"`
}

func (s *staffClient) state() (int, staffStateResp) {
	s.t.Helper()
	resp, b := s.do(http.MethodGet, "/api/staff/state", "", nil)
	var st staffStateResp
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &st); err != nil {
			s.t.Fatalf("GET /api/staff/state: %v in %s", err, b)
		}
	}
	return resp.StatusCode, st
}

// cliResult is one finished run of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runCLI runs the binary to its end with stdin and returns what it said.
func runCLI(t testing.TB, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		res.code = exit.ExitCode()
	default:
		t.Fatalf("%v: %v (%s)", args, err, res)
	}
	return res
}

// userCmd runs `safepoint user ACTION --data dir args…` with the password
// lines on stdin.
func userCmd(t testing.TB, dir, stdin, action string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, stdin, append([]string{"user", action, "--data", dir}, args...)...)
}

// addUser adds an account and fails the test unless that works.
func addUser(t testing.TB, dir, name, role, password string) cliResult {
	t.Helper()
	r := userCmd(t, dir, password+"\n"+password+"\n", "add", "--name", name, "--role", role)
	if r.code != 0 {
		t.Fatalf("user add %s: %s", name, r)
	}
	return r
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

	var cli []cliResult
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
	token, csrf := s.token, s.csrf
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

	stderr := p.stderr.String()
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
		raw := e.raw
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
		out := strings.Replace(r.stdout, fmt.Sprintf("Added %s (staff).\n", name), "", 1)
		out = strings.Replace(out, name+" ", "", 1) // `user list`, its one row
		places[fmt.Sprintf("stdout of user run %d", i+1)] = out
		places[fmt.Sprintf("stderr of user run %d", i+1)] = r.stderr
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

// TestLoginAnswersSame: over the real HTTPS listener, an unknown name, a
// wrong password and a disabled account get the same answer, byte for byte.
func TestLoginAnswersSame(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const known, knownPW = "known", "known password 1"
	const off, offPW = "switched-off", "switched off pw 1"
	addUser(t, dir, known, "staff", knownPW)
	addUser(t, dir, off, "staff", offPW)
	if r := userCmd(t, dir, "", "disable", "--name", off); r.code != 0 {
		t.Fatalf("user disable: %s", r)
	}
	p := startNode(t, nil, nodeArgs(dir)...)
	addr, _ := staffHTTPS(t, p)
	base := "https://" + addr

	type answer struct {
		code   int
		body   []byte
		header http.Header
	}
	ask := func(method, path, contentType, body string) answer {
		t.Helper()
		s := newStaffClient(t, dir, base)
		s.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, b := s.do(method, path, body, map[string]string{"Content-Type": contentType})
		h := resp.Header.Clone()
		h.Del("Date")
		return answer{resp.StatusCode, b, h}
	}
	api := func(name, password string) answer {
		b, _ := json.Marshal(map[string]string{"name": name, "password": password})
		return ask(http.MethodPost, "/api/login", "application/json", string(b))
	}
	form := func(name, password string) answer {
		v := url.Values{"name": {name}, "password": {password}, "next": {"/board"}}
		return ask(http.MethodPost, "/login", "application/x-www-form-urlencoded", v.Encode())
	}
	for _, route := range []struct {
		name  string
		login func(name, password string) answer
	}{{"POST /api/login", api}, {"POST /login", form}} {
		cases := []struct {
			what string
			a    answer
		}{
			{"wrong password", route.login(known, "not the password")},
			{"unknown name", route.login("nobody-"+randHex(t, 4), "not the password")},
			{"disabled account", route.login(off, offPW)},
		}
		ref := cases[0].a
		if ref.code != http.StatusUnauthorized {
			t.Errorf("%s, wrong password: %d %s, want 401", route.name, ref.code, ref.body)
		}
		if ref.header.Get("Set-Cookie") != "" {
			t.Errorf("%s, wrong password, set a cookie", route.name)
		}
		for _, c := range cases[1:] {
			if c.a.code != ref.code || !bytes.Equal(c.a.body, ref.body) {
				t.Errorf("%s: %s answers %d %q, wrong password %d %q", route.name, c.what, c.a.code, c.a.body, ref.code, ref.body)
			}
			if fmt.Sprint(c.a.header) != fmt.Sprint(ref.header) {
				t.Errorf("%s: %s headers %v, wrong password %v", route.name, c.what, c.a.header, ref.header)
			}
		}
	}
	// The accounts are real: the right password of the known one works,
	// so the 401s above are about the credentials.
	if a := api(known, knownPW); a.code != http.StatusOK {
		t.Errorf("login with the right password: %d %s", a.code, a.body)
	}
	p.terminate()
}
