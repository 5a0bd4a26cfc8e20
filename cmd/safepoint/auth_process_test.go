package main

// Process-level tests of staff access: the self-made HTTPS certificate, the
// plain-HTTP redirects, the `safepoint user` tool beside a running node,
// and logins that give nothing away.

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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	for _, r := range logRecords(p.Stderr.String()) {
		if r.Msg == "Serving staff over HTTPS" {
			if r.Addr == "" || r.Fingerprint == "" {
				t.Fatalf("HTTPS line without addr or fingerprint: %s", r.raw)
			}
			return r.Addr, r.Fingerprint
		}
	}
	t.Fatalf(`no "Serving staff over HTTPS" line; stderr:\n%s`, p.Stderr)
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

// TestLoginAnswersSame: over the real HTTPS listener, an unknown name, a
// wrong password and a disabled account get the same answer, byte for byte.
func TestLoginAnswersSame(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const known, knownPW = "known", "known password 1"
	const off, offPW = "switched-off", "switched off pw 1"
	addUser(t, dir, known, "staff", knownPW)
	addUser(t, dir, off, "staff", offPW)
	if r := userCmd(t, dir, "", "disable", "--name", off); r.Code != 0 {
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
		s.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
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
	follow.HTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: nodePool(t, dir), MinVersion: tls.VersionTLS12}}
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, b := follow.do(http.MethodPost, "/api/login", string(body), nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Scheme != "https" {
		t.Errorf("login posted to plain HTTP, redirects followed: %d at %s: %s", resp.StatusCode, resp.Request.URL, b)
	}
	follow.HTTP.CloseIdleConnections()
	p.terminate()

	// Staff TLS off: no HTTPS listener, login on plain HTTP.
	p = startNode(t, nil, nodeArgs(dir, "--staff-tls", "off")...)
	recs := logRecords(p.Stderr.String())
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
		t.Errorf("no warning that staff TLS is off; stderr:\n%s", p.Stderr)
	}
	s := newStaffClient(t, dir, p.base)
	s.HTTP.CheckRedirect = plain.CheckRedirect
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
