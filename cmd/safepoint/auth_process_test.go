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
	"github.com/safepoint-se/safepoint/node/eventlog"
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

// TestStaffTLSCertificate: the certificate the node serves is the one in
// its data directory, with the fingerprint it logs and shows; it verifies
// against itself alone; it survives a restart unchanged.
func TestStaffTLSCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	addr, printed := staffHTTPS(t, p)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("HTTPS addr %q, want 127.0.0.1:PORT", addr)
	}
	if !strings.HasPrefix(printed, "SHA256:") {
		t.Fatalf("fingerprint %q lacks the SHA256: prefix", printed)
	}
	fp := strings.TrimPrefix(printed, "SHA256:")

	// What the listener serves, verified against the node's own cert only.
	pool := nodePool(t, dir)
	cs, err := dialTLS(addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to %s, trusting only tls/cert.pem: %v", addr, err)
	}
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		t.Fatalf("handshake without a verified peer certificate")
	}
	served := sha256Colons(cs.PeerCertificates[0].Raw)
	if served != fp {
		t.Errorf("served certificate SHA-256 %s, logged %s", served, fp)
	}
	if onDisk := sha256Colons(certPEM(t, dir)); onDisk != fp {
		t.Errorf("tls/cert.pem SHA-256 %s, logged %s", onDisk, fp)
	}
	if _, err := dialTLS(addr, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("TLS with ServerName localhost: %v", err)
	}
	// The checks above are real: a pool without the cert, or a name the
	// cert does not hold, is refused.
	var unknown x509.UnknownAuthorityError
	if _, err := dialTLS(addr, &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}); !errors.As(err, &unknown) {
		t.Errorf("TLS trusting nothing: %v, want an unknown-authority error", err)
	}
	var badName x509.HostnameError
	if _, err := dialTLS(addr, &tls.Config{RootCAs: pool, ServerName: "not-this-box.example", MinVersion: tls.VersionTLS12}); !errors.As(err, &badName) {
		t.Errorf("TLS for a name not in the cert: %v, want a hostname error", err)
	}

	keyPath, certPath := filepath.Join(dir, "tls", "key.pem"), filepath.Join(dir, "tls", "cert.pem")
	if fi, err := os.Stat(keyPath); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("tls/key.pem has mode %v, want 0600", fi.Mode().Perm())
	}
	certBefore, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	keyBefore, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	const admin, password = "cert-admin", "a long admin password"
	addUser(t, dir, admin, "admin", password) // beside the running node
	p.terminate()

	// Restart: the same certificate, file and fingerprint.
	p = startNode(t, nil, nodeArgs(dir)...)
	addr2, printed2 := staffHTTPS(t, p)
	if printed2 != printed {
		t.Errorf("fingerprint after restart %s, was %s", printed2, printed)
	}
	cs, err = dialTLS(addr2, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS after restart, trusting the first start's cert: %v", err)
	}
	if got := sha256Colons(cs.PeerCertificates[0].Raw); got != fp {
		t.Errorf("served after restart %s, want %s", got, fp)
	}
	if after, err := os.ReadFile(certPath); err != nil || !bytes.Equal(after, certBefore) {
		t.Errorf("tls/cert.pem changed across a restart (%v)", err)
	}
	if after, err := os.ReadFile(keyPath); err != nil || !bytes.Equal(after, keyBefore) {
		t.Errorf("tls/key.pem changed across a restart (%v)", err)
	}

	// Logged-in staff see the same fingerprint.
	s := newStaffClient(t, dir, "https://"+addr2)
	s.mustLogin(admin, password)
	code, st := s.state()
	if code != http.StatusOK {
		t.Fatalf("GET /api/staff/state: %d", code)
	}
	if st.Fingerprint != fp {
		t.Errorf("staff state fingerprint %q, want %q", st.Fingerprint, fp)
	}
	if st.Me.Name != admin || st.Me.Role != "admin" {
		t.Errorf("staff state me = %+v, want %s/admin", st.Me, admin)
	}
	resp, body := s.do(http.MethodGet, "/board", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /board: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Contains(body, []byte(fp)) {
		t.Errorf("/board does not show the fingerprint %s", fp)
	}
	p.terminate()
}

// TestPlainHTTPRedirectsStaff: with staff TLS on, staff routes on plain
// HTTP answer 308 to the HTTPS listener while resident routes are served;
// with it off, everything is on plain HTTP with a plain cookie.
func TestPlainHTTPRedirectsStaff(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const name, password = "redirect-staff", "redirect password 1"
	addUser(t, dir, name, "staff", password)

	p := startNode(t, nil, nodeArgs(dir)...)
	addr, _ := staffHTTPS(t, p)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(p.base, ":"+port) {
		t.Fatalf("HTTP and HTTPS on the same port %s", port)
	}
	plain := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(plain.CloseIdleConnections)
	cases := []struct {
		method, path, body string
		code               int
		location           string
	}{
		{"GET", "/board", "", http.StatusPermanentRedirect, "https://127.0.0.1:" + port + "/board"},
		{"GET", "/login", "", http.StatusPermanentRedirect, "https://127.0.0.1:" + port + "/login"},
		{"GET", "/login?next=%2Fboard", "", http.StatusPermanentRedirect, "https://127.0.0.1:" + port + "/login?next=%2Fboard"},
		{"POST", "/api/login", `{"name":"x","password":"y"}`, http.StatusPermanentRedirect, "https://127.0.0.1:" + port + "/api/login"},
		{"GET", "/api/staff/state", "", http.StatusPermanentRedirect, "https://127.0.0.1:" + port + "/api/staff/state"},
		{"GET", "/api/status", "", http.StatusOK, ""},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, c.method, p.base+c.path, strings.NewReader(c.body))
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := plain.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != c.code {
			t.Errorf("plain %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
		if got := resp.Header.Get("Location"); got != c.location {
			t.Errorf("plain %s %s: Location %q, want %q", c.method, c.path, got, c.location)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("plain %s %s set a cookie: %s", c.method, c.path, resp.Header.Get("Set-Cookie"))
		}
	}
	// A client that follows the 308 carries its POST, body and all, to
	// HTTPS and logs in there.
	follow := newStaffClient(t, dir, p.base)
	follow.c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: nodePool(t, dir), MinVersion: tls.VersionTLS12}}
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, b := follow.do(http.MethodPost, "/api/login", string(body), nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Scheme != "https" {
		t.Errorf("login posted to plain HTTP, redirects followed: %d at %s: %s", resp.StatusCode, resp.Request.URL, b)
	}
	follow.c.CloseIdleConnections()
	p.terminate()

	// Staff TLS off: no HTTPS listener, login on plain HTTP.
	p = startNode(t, nil, nodeArgs(dir, "--staff-tls", "off")...)
	recs := logRecords(p.stderr.String())
	warned := false
	for _, r := range recs {
		if r.Msg == "Serving staff over HTTPS" {
			t.Errorf("--staff-tls off still serves HTTPS: %s", r.raw)
		}
		if r.Level == "WARN" && strings.Contains(r.Msg, "Staff TLS is off") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning that staff TLS is off; stderr:\n%s", p.stderr)
	}
	s := newStaffClient(t, dir, p.base)
	s.c.CheckRedirect = plain.CheckRedirect
	resp, b = s.do(http.MethodGet, "/login", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(b, []byte(`action="/login"`)) {
		t.Errorf("plain GET /login with staff TLS off: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = s.do(http.MethodGet, "/board", "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fboard" {
		t.Errorf("plain GET /board without a session, staff TLS off: %d to %q, want 303 to /login?next=%%2Fboard",
			resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, b = s.do(http.MethodPost, "/api/login", string(body), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("plain POST /api/login with staff TLS off: %d %s", resp.StatusCode, b)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case cookieNamePlain:
			session = c
		case cookieNameTLS:
			t.Errorf("plain HTTP login set the %s cookie", cookieNameTLS)
		}
	}
	if session == nil {
		t.Fatalf("plain HTTP login set no %q cookie: %v", cookieNamePlain, resp.Header.Values("Set-Cookie"))
	}
	if session.Secure || !session.HttpOnly || session.Path != "/" || session.SameSite != http.SameSiteStrictMode {
		t.Errorf("plain session cookie: Secure=%v HttpOnly=%v Path=%q SameSite=%v; want not Secure, HttpOnly, /, Strict",
			session.Secure, session.HttpOnly, session.Path, session.SameSite)
	}
	if code, st := s.state(); code != http.StatusOK || st.Me.Name != name {
		t.Errorf("staff state over plain HTTP after login: %d %+v", code, st.Me)
	}
	p.terminate()
}

// userList parses `safepoint user list`: name → "role state".
func userList(t testing.TB, dir string) (map[string]string, cliResult) {
	t.Helper()
	r := userCmd(t, dir, "", "list")
	if r.code != 0 {
		t.Fatalf("user list: %s", r)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ROLE STATE CREATED" {
		t.Fatalf("user list header: %q", r.stdout)
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Fatalf("user list line %q", l)
		}
		out[f[0]] = f[1] + " " + f[2]
	}
	if strings.Contains(r.stdout+r.stderr, "$argon2id") || strings.Contains(r.stdout+r.stderr, "argon2") {
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
	if warned, _ := adminWarned(t, p.stderr.String(), dir); !warned {
		t.Errorf("first start without an admin: no warning naming `safepoint user add`; stderr:\n%s", p.stderr)
	}
	addr, _ := staffHTTPS(t, p)
	base := "https://" + addr

	const (
		admin, adminPW = "alice", "alice password 1"
		staff, staffPW = "bob", "bob password 1!"
		newPW          = "bob's new password"
	)
	if r := addUser(t, dir, admin, "admin", adminPW); !strings.Contains(r.stdout, admin) {
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
		if r.code == 0 {
			t.Errorf("user add with a %s succeeded: %s", c.what, r)
			continue
		}
		if !strings.Contains(r.stderr, c.says) {
			t.Errorf("user add with a %s: message does not say %q: %s", c.what, c.says, r)
		}
	}
	if r := userCmd(t, dir, "", "disable", "--name", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "no such account") {
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
	if r := userCmd(t, dir, "", "disable", "--name", staff); r.code != 0 {
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
	if r := userCmd(t, dir, "", "enable", "--name", staff); r.code != 0 {
		t.Fatalf("user enable: %s", r)
	}
	b.mustLogin(staff, staffPW)
	if code, _ := b.state(); code != http.StatusOK {
		t.Errorf("session after enable: %d", code)
	}

	// passwd: the session ends, the old password fails, the new one works.
	if r := userCmd(t, dir, newPW+"\n"+newPW+"\n", "passwd", "--name", staff); r.code != 0 {
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
	if r := userCmd(t, dir, "short\nshort\n", "passwd", "--name", staff); r.code == 0 {
		t.Errorf("user passwd with a short password succeeded: %s", r)
	} else if code, _ := b.state(); code != http.StatusOK {
		t.Errorf("a refused passwd ended the session: %d", code)
	}

	// With an admin, a restart does not ask for one.
	p.terminate()
	p = startNode(t, nil, nodeArgs(dir)...)
	if _, mentioned := adminWarned(t, p.stderr.String(), dir); mentioned {
		t.Errorf("restart with an admin still asks for one; stderr:\n%s", p.stderr)
	}
	p.terminate()

	t.Run("before first start", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "never", "run") // does not exist
		addUser(t, dir, admin, "admin", adminPW)
		db := filepath.Join(dir, eventlog.FileName)
		if fi, err := os.Stat(db); err != nil {
			t.Fatalf("user add made no database: %v", err)
		} else if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("user add made %s with mode %v: readable beyond its owner", eventlog.FileName, perm)
		}
		p := startNode(t, nil, nodeArgs(dir)...)
		log := p.stderr.String()
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

func mustList(t testing.TB, dir string) map[string]string {
	t.Helper()
	m, _ := userList(t, dir)
	return m
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
