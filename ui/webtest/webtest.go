// Package webtest helps the tests of the ui packages: a real log in a
// temporary directory, a server on it, clients that keep their cookies and
// do not follow redirects, staff logins, and the answers to read. It states
// the wire (the cookie names, the JSON bodies) as a browser or a client
// sees it, and imports none of the packages it helps test.
package webtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// The staff session's cookie: on HTTPS the __Host- prefix makes the
// browser refuse it unless it is Secure, host-only and for the whole site.
const (
	CookieTLS   = "__Host-safepoint"
	CookiePlain = "safepoint"
)

// OpenLog opens the log in file, with the origin sp-test, until the test
// ends; clock nil is the real clock.
func OpenLog(t testing.TB, file string, clock *node.Clock) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(context.Background(), file, eventlog.Options{Origin: "sp-test", Clock: clock, Personal: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// stores are the account stores opened for the logs of running tests.
var stores sync.Map // *eventlog.Log → *accounts.Accounts

// Accounts is the account store in l's database, opened once per log
// until the test ends, on l's clock.
func Accounts(t testing.TB, l *eventlog.Log) *accounts.Accounts {
	t.Helper()
	if a, ok := stores.Load(l); ok {
		return a.(*accounts.Accounts)
	}
	a, err := accounts.Open(context.Background(), l.File(), l.Clock().Wall)
	if err != nil {
		t.Fatal(err)
	}
	stores.Store(l, a)
	t.Cleanup(func() { stores.Delete(l); a.Close() })
	return a
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Env is a server on a new log.
type Env struct {
	Srv      *httptest.Server
	Log      *eventlog.Log
	Accounts *accounts.Accounts // in the log's database
	File     string             // the log's file
}

// Start opens a new log (on clock, when not nil) and its account store,
// and serves what build makes of them, over TLS when useTLS (so that requests have r.TLS set),
// until the test ends.
func Start(t testing.TB, clock *node.Clock, useTLS bool, build func(*eventlog.Log, *accounts.Accounts) http.Handler) *Env {
	t.Helper()
	file := filepath.Join(t.TempDir(), eventlog.FileName)
	l := OpenLog(t, file, clock)
	staff := Accounts(t, l)
	h := build(l, staff)
	srv := httptest.NewUnstartedServer(h)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &Env{Srv: srv, Log: l, Accounts: staff, File: file}
}

// AddAccount adds a staff account to the env's log.
func (e *Env) AddAccount(t testing.TB, name string, role accounts.Role, password string) {
	t.Helper()
	if err := e.Accounts.Add(context.Background(), name, role, password); err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
}

// NewClient is a client of srv with its own cookie jar that does not
// follow redirects.
func NewClient(t testing.TB, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *srv.Client() // srv.Client() is shared: copy it before giving it a jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = 30 * time.Second
	return &c
}

// Reply is an answer, read whole.
type Reply struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r Reply) String() string { return strconv.Itoa(r.Code) + " " + strings.TrimSpace(string(r.Body)) }

// ErrorText is the "error" of a JSON error answer, or "" if it is none.
func (r Reply) ErrorText() string {
	var e struct {
		Error string `json:"error"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(r.Body, &e) != nil {
		return ""
	}
	return e.Error
}

// Do sends one request; hdr holds header names and values, alternating
// (a "Host" sets the request's host).
func Do(t testing.TB, c *http.Client, method, url, ctype, body string, hdr ...string) Reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return Reply{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// Post posts body and reads the JSON answer.
func Post(t testing.TB, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", url, err)
	}
	return resp.StatusCode, out
}

// GetJSON gets path from srv into v, or fails the test unless it is 200
// with JSON that fits v.
func GetJSON(t testing.TB, srv *httptest.Server, path string, v any) {
	t.Helper()
	r := Do(t, NewClient(t, srv), "GET", srv.URL+path, "", "")
	if r.Code != http.StatusOK || json.Unmarshal(r.Body, v) != nil {
		t.Fatalf("GET %s: %s", path, r)
	}
}

// LoginJSON is the body of POST /api/login.
func LoginJSON(name, password string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "password": password})
	return string(b)
}

// TryLogin posts a login with c.
func TryLogin(t testing.TB, c *http.Client, base, name, password string) Reply {
	t.Helper()
	return Do(t, c, "POST", base+"/api/login", "application/json", LoginJSON(name, password))
}

// Session is a client logged in through POST /api/login.
type Session struct {
	C    *http.Client
	Base string
	CSRF string
	Role accounts.Role
}

// Login logs in on a new client, or fails the test.
func Login(t testing.TB, srv *httptest.Server, name, password string) *Session {
	t.Helper()
	c := NewClient(t, srv)
	r := TryLogin(t, c, srv.URL, name, password)
	if r.Code != http.StatusOK {
		t.Fatalf("login as %s: %s", name, r)
	}
	var lr struct {
		CSRF string        `json:"csrf"`
		Role accounts.Role `json:"role"`
	}
	if err := json.Unmarshal(r.Body, &lr); err != nil || lr.CSRF == "" || lr.Role == "" {
		t.Fatalf("login as %s: answer %s (%v)", name, r.Body, err)
	}
	if len(r.Header.Values("Set-Cookie")) == 0 {
		t.Fatalf("login as %s: no cookie", name)
	}
	return &Session{C: c, Base: srv.URL, CSRF: lr.CSRF, Role: lr.Role}
}

// Token is the session cookie's value from the jar.
func (s *Session) Token(t testing.TB) string {
	t.Helper()
	u, _ := url.Parse(s.Base)
	for _, c := range s.C.Jar.Cookies(u) {
		if c.Name == CookiePlain || c.Name == CookieTLS {
			return c.Value
		}
	}
	t.Fatal("no session cookie in the jar")
	return ""
}

func (s *Session) Get(t testing.TB, path string) Reply {
	t.Helper()
	return Do(t, s.C, "GET", s.Base+path, "", "")
}

// PostJSON posts with the session's CSRF token.
func (s *Session) PostJSON(t testing.TB, path, body string) Reply {
	t.Helper()
	return Do(t, s.C, "POST", s.Base+path, "application/json", body, "X-CSRF-Token", s.CSRF)
}

// PostForm posts a form as it is (a browser's form carries the token in
// its csrf field).
func (s *Session) PostForm(t testing.TB, path string, form url.Values) Reply {
	t.Helper()
	return Do(t, s.C, "POST", s.Base+path, "application/x-www-form-urlencoded", form.Encode())
}

// WithCookie sends a request carrying only the given session token, on a
// client without a jar.
func WithCookie(t testing.TB, srv *httptest.Server, method, path, token string, hdr ...string) Reply {
	t.Helper()
	c := NewClient(t, srv)
	c.Jar = nil
	name := CookiePlain
	if strings.HasPrefix(srv.URL, "https:") {
		name = CookieTLS
	}
	return Do(t, c, method, srv.URL+path, "application/json", "{}", append([]string{"Cookie", name + "=" + token}, hdr...)...)
}

// RetryAfter is an answer's Retry-After in seconds; the test fails unless
// it is a positive number.
func RetryAfter(t testing.TB, r Reply) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
	return n
}

// EventsOfType lists the payloads of the log's events of one type.
func EventsOfType(t testing.TB, l *eventlog.Log, typ string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	err := l.Events(context.Background(), func(e node.Event) error {
		if e.Type == typ {
			out = append(out, e.Payload)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// EventCount is how many events the log holds.
func EventCount(t testing.TB, l *eventlog.Log) int {
	t.Helper()
	n := 0
	if err := l.Events(context.Background(), func(node.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
