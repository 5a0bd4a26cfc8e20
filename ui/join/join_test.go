package join

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central/enrol"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// fakeAccounts records the accounts made, and fails when told to.
type fakeAccounts struct {
	mu   sync.Mutex
	made map[string]string // node → password
	fail error
}

func (f *fakeAccounts) Provision(nodeID, municipality, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if f.made == nil {
		f.made = map[string]string{}
	}
	f.made[nodeID+"@"+municipality] = password
	return nil
}

type env struct {
	srv      *httptest.Server // HTTPS
	plain    *httptest.Server // the same handler on plain HTTP
	codes    *enrol.Store
	accounts *fakeAccounts
	now      time.Time
	enrolled []string
}

func (e *env) central(t *testing.T) *url.URL {
	u, err := ParseCentral(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) fingerprint() string { return FingerprintOf(e.srv.Certificate().Raw) }

func (e *env) code(t *testing.T, d enrol.Draft) string {
	t.Helper()
	c, _, err := e.codes.Create(context.Background(), d, e.now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{accounts: &fakeAccounts{}, now: time.Now().UTC()}
	var handler http.Handler
	webEnv := webtest.Start(t, nil, true, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		codes, err := enrol.Open(context.Background(), l.File())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { codes.Close() })
		e.codes = codes
		site := web.New(web.Options{Accounts: staff, Logger: webtest.Discard(), StaffTLS: true, HTTPSPort: "8493"})
		handler = site.Handler(New(Options{Codes: codes, Accounts: e.accounts, Logger: webtest.Discard(),
			Broker:     func(host string) (string, error) { return "tcp://" + host + ":1883", nil },
			Enrolled:   func(_ context.Context, c enrol.Code) { e.enrolled = append(e.enrolled, c.Node) },
			RequireTLS: true, HTTPSPort: "8493",
			Now: func() time.Time { return e.now }}))
		return handler
	})
	e.srv = webEnv.Srv
	e.plain = httptest.NewServer(handler)
	t.Cleanup(e.plain.Close)
	return e
}

func refusal(t *testing.T, err error) *RefusedError {
	t.Helper()
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("error %v is not central's refusal", err)
	}
	return r
}

// TestJoin: a code pinned to central's certificate gives the point its id,
// municipality, name, broker and its own account, once; a second use, an
// expired, a revoked and an unknown code are refused, each with its reason
// and nothing provisioned.
func TestJoin(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	code := e.code(t, enrol.Draft{Node: "macken-b", Municipality: "2161", Name: "Macken i Byn"})
	g, fp, err := Fetch(ctx, e.central(t), code, FetchOptions{
		Fingerprint: strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.fingerprint(), "SHA256:"), ":", ""))})
	if err != nil {
		t.Fatal(err)
	}
	if fp != e.fingerprint() {
		t.Errorf("fingerprint seen %s, want %s", fp, e.fingerprint())
	}
	pw := e.accounts.made["macken-b@2161"]
	if g.Node != "macken-b" || g.Municipality != "2161" || g.Name != "Macken i Byn" || g.MQTT != "tcp://127.0.0.1:1883" ||
		g.MQTTUser != "macken-b" || g.MQTTPassword != pw || len(pw) != 24 || g.MQTTCA != "" || g.BrokerReload != "" {
		t.Fatalf("grant %+v (provisioned %q)", g, pw)
	}
	if strings.Join(e.enrolled, ",") != "macken-b" {
		t.Fatalf("enrolled %v", e.enrolled)
	}

	expired := e.code(t, enrol.Draft{Node: "skolan-c", Municipality: "2161", Valid: time.Minute})
	revoked := e.code(t, enrol.Draft{Node: "byhuset-a", Municipality: "2161"})
	if _, err := e.codes.RevokeNode(ctx, "byhuset-a", e.now); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Minute)
	for _, c := range []struct {
		name, code, reason string
		status             int
	}{
		{"used", code, ReasonUsed, http.StatusForbidden},
		{"expired", expired, ReasonExpired, http.StatusForbidden},
		{"revoked", revoked, ReasonRevoked, http.StatusForbidden},
		{"unknown", "2222-3333-4444", ReasonUnknown, http.StatusForbidden},
		{"malformed", "2222-3333", ReasonMalformed, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Fetch(ctx, e.central(t), c.code, FetchOptions{Fingerprint: e.fingerprint()})
			r := refusal(t, err)
			if r.Status != c.status || r.Reason != c.reason || r.Message == "" {
				t.Fatalf("refusal %+v, want %d %s", r, c.status, c.reason)
			}
		})
	}
	if len(e.accounts.made) != 1 || len(e.enrolled) != 1 {
		t.Fatalf("provisioned %v, enrolled %v after refusals", e.accounts.made, e.enrolled)
	}
}

// TestJoinTrust: without a pin, a certificate the CAs given do not vouch
// for needs confirming, and a wrong pin is refused before the code is
// sent; a certificate the CAs vouch for needs neither.
func TestJoinTrust(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	code := e.code(t, enrol.Draft{Node: "macken-b", Municipality: "2161"})
	empty := x509.NewCertPool()

	wrong := "SHA256:" + strings.Repeat("AB:", 31) + "AB"
	if _, fp, err := Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: wrong}); !errors.Is(err, ErrMismatch) ||
		fp != e.fingerprint() || !strings.Contains(err.Error(), e.fingerprint()) {
		t.Fatalf("a wrong pin: %v (seen %s)", err, fp)
	}
	_, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Roots: empty})
	if !errors.Is(err, ErrUnconfirmed) || !strings.Contains(err.Error(), "--fingerprint "+e.fingerprint()) {
		t.Fatalf("no pin, no confirmation: %v", err)
	}
	var shown string
	_, _, err = Fetch(ctx, e.central(t), code, FetchOptions{Roots: empty,
		Confirm: func(fp string) (bool, error) { shown = fp; return false, nil }})
	if !errors.Is(err, ErrUnconfirmed) || shown != e.fingerprint() {
		t.Fatalf("declined: %v (shown %q)", err, shown)
	}
	if len(e.accounts.made) != 0 {
		t.Fatalf("the code was sent before its certificate was trusted: %v", e.accounts.made)
	}
	if _, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Roots: empty,
		Confirm: func(string) (bool, error) { return true, nil }}); err != nil {
		t.Fatalf("confirmed: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(e.srv.Certificate())
	code2 := e.code(t, enrol.Draft{Node: "skolan-c", Municipality: "2161"})
	if _, _, err := Fetch(ctx, e.central(t), code2, FetchOptions{Roots: pool}); err != nil {
		t.Fatalf("vouched for by the CAs given: %v", err)
	}
}

// TestJoinOtherNode: a point whose log has another id is refused, and the
// code stays open for the right point.
func TestJoinOtherNode(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	code := e.code(t, enrol.Draft{Node: "macken-b", Municipality: "2161"})
	_, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: e.fingerprint(), Origin: "sp-abc123"})
	if r := refusal(t, err); r.Reason != ReasonOtherNode || !strings.Contains(r.Message, "sp-abc123") {
		t.Fatalf("refusal %+v", r)
	}
	if _, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: e.fingerprint(), Origin: "macken-b"}); err != nil {
		t.Fatalf("the right point after the wrong one: %v", err)
	}
}

// TestJoinProvisionFails: when central cannot make the account the code
// stays open, and the point is told to try again.
func TestJoinProvisionFails(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	code := e.code(t, enrol.Draft{Node: "macken-b", Municipality: "2161"})
	e.accounts.fail = errors.New("disk full")
	_, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: e.fingerprint()})
	if r := refusal(t, err); r.Status != http.StatusServiceUnavailable || r.Reason != ReasonBroker {
		t.Fatalf("refusal %+v", r)
	}
	e.accounts.fail = nil
	if _, _, err := Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: e.fingerprint()}); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
}

// TestJoinGuards: plain HTTP is refused while staff TLS is on, without
// reading the body; a big body is refused; an address gets 10 attempts,
// then 429 with Retry-After.
func TestJoinGuards(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	code := e.code(t, enrol.Draft{Node: "macken-b", Municipality: "2161"})
	plain, err := ParseCentral(e.plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Fetch(ctx, plain, code, FetchOptions{})
	if r := refusal(t, err); r.Status != http.StatusForbidden || r.Reason != ReasonHTTPS || !strings.Contains(r.Message, "https://127.0.0.1:8493/api/enrol") {
		t.Fatalf("over plain HTTP: %+v", r)
	}
	if len(e.accounts.made) != 0 {
		t.Fatal("a code over plain HTTP was used")
	}

	c := e.srv.Client()
	big := `{"code":"` + strings.Repeat("A", 2000) + `"}`
	resp, err := c.Post(e.srv.URL+Path, "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2000-byte body: %d", resp.StatusCode)
	}
	for i := 2; i <= 10; i++ {
		resp, err := c.Post(e.srv.URL+Path, "application/json", strings.NewReader(`{"code":"2222-3333-4444"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	_, _, err = Fetch(ctx, e.central(t), code, FetchOptions{Fingerprint: e.fingerprint()})
	if r := refusal(t, err); r.Status != http.StatusTooManyRequests || r.Reason != ReasonRate || r.Retry == "" {
		t.Fatalf("the 11th attempt: %+v", r)
	}
}

// TestGrantJSON: the answer's shape, as docs/API.md gives it.
func TestGrantJSON(t *testing.T) {
	b, _ := json.Marshal(Grant{Node: "macken-b", Municipality: "2161", Name: "Macken", MQTT: "ssl://c:8883",
		MQTTUser: "macken-b", MQTTPassword: "pw", MQTTCA: "PEM", BrokerReload: "systemctl reload mosquitto"})
	want := `{"node":"macken-b","municipality":"2161","name":"Macken","mqtt":"ssl://c:8883","mqtt_user":"macken-b",` +
		`"mqtt_password":"pw","mqtt_ca":"PEM","broker_reload":"systemctl reload mosquitto"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestParseCentral(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"central.kommun.local", "https://central.kommun.local:8493", ""},
		{"10.0.0.5:9443", "https://10.0.0.5:9443", ""},
		{"https://[fd00::5]", "https://[fd00::5]:8493", ""},
		{"https://central/", "https://central:8493", ""},
		{"http://127.0.0.1:8090", "http://127.0.0.1:8090", ""},
		{"", "", "required"},
		{"ftp://central", "", "not https://"},
		{"https://central/api", "", "only a host"},
		{"https://:8493", "", "no host"},
	} {
		u, err := ParseCentral(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseCentral(%q): %v, want an error saying %q", c.in, err, c.err)
		case c.err == "" && (err != nil || u.String() != c.want):
			t.Errorf("ParseCentral(%q) = %v, %v; want %s", c.in, u, err, c.want)
		}
	}
}

func TestParseFingerprint(t *testing.T) {
	want := "SHA256:" + strings.TrimSuffix(strings.Repeat("0A:", 32), ":")
	for _, in := range []string{want, strings.ToLower(want), strings.Repeat("0a", 32), " sha256:" + strings.Repeat("0A ", 32)} {
		if got, err := ParseFingerprint(in); err != nil || got != want {
			t.Errorf("ParseFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "SHA256:0A", strings.Repeat("0g", 32), "SHA1:" + strings.Repeat("0a", 20)} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q): no error", bad)
		}
	}
}
