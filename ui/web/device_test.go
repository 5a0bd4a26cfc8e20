package web

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// from is a client of srv that connects from the loopback address ip (on
// Linux all of 127.0.0.0/8 is loopback), with its own cookie jar.
func from(t *testing.T, srv *httptest.Server, ip string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestGuesserCannotLockOutStaff: a guesser's wrong passwords lock the name
// from the guesser's own address only; the staff member logs in from
// another address, and from the same address on a device that has logged
// in before (its device cookie); a storm of guesses from many addresses
// locks the name for new devices, never for known ones; and a known
// device that guesses itself loses its pass.
func TestGuesserCannotLockOutStaff(t *testing.T) {
	e := newSiteEnv(t, Options{})
	e.AddAccount(t, "anna", accounts.RoleAdmin, "anna-password-1")
	tablet := from(t, e.Srv, "127.0.0.2") // anna's own tablet, before the attack
	if r := webtest.TryLogin(t, tablet, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
		t.Fatalf("the tablet's first login: %s", r)
	}
	attacker := from(t, e.Srv, "127.0.0.2") // the same Wi-Fi address
	for i := 0; i < lockoutFailures; i++ {
		if r := webtest.TryLogin(t, attacker, e.Srv.URL, "anna", "guess-"+strconv.Itoa(i)); r.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %s", i+1, r)
		}
	}
	if r := webtest.TryLogin(t, attacker, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusTooManyRequests {
		t.Fatalf("the guesser, even with the right password: %s, want 429 (throttled)", r)
	}
	if r := webtest.TryLogin(t, tablet, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
		t.Errorf("the known tablet at the guesser's address: %s, want 200", r)
	}
	if r := webtest.TryLogin(t, from(t, e.Srv, "127.0.0.1"), e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
		t.Errorf("a new device at another address: %s, want 200", r)
	}

	// Many addresses: nameLockoutFailures failures in all lock the name
	// for devices it does not know.
	for i := 0; i < nameLockoutFailures; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/login", strings.NewReader(webtest.LoginJSON("anna", "guess")))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2." + strconv.Itoa(10+i/lockoutFailures) + ":40000"
		e.h.ServeHTTP(rec, req)
	}
	if r := webtest.TryLogin(t, from(t, e.Srv, "127.0.0.3"), e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusTooManyRequests {
		t.Errorf("a new device after %d guesses from many addresses: %s, want 429", nameLockoutFailures, r)
	}
	if r := webtest.TryLogin(t, tablet, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
		t.Errorf("the known tablet after the storm: %s, want 200", r)
	}

	// A stolen or shared device cookie does not make a guesser: its own
	// failures take its pass away.
	for i := 0; i < lockoutFailures; i++ {
		webtest.TryLogin(t, tablet, e.Srv.URL, "anna", "guess-"+strconv.Itoa(i))
	}
	if r := webtest.TryLogin(t, tablet, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusTooManyRequests {
		t.Errorf("the tablet after %d failures of its own: %s, want 429", lockoutFailures, r)
	}

	// A device cookie signed for another name, or forged, is no pass.
	other := from(t, e.Srv, "127.0.0.2")
	u := e.Srv.URL
	req, _ := http.NewRequest("GET", u, nil)
	for _, c := range tablet.Jar.Cookies(req.URL) {
		if c.Name == deviceCookiePlain {
			parts := strings.Split(c.Value, ".")
			parts[2] = strings.Repeat("A", len(parts[2]))
			c.Value = strings.Join(parts, ".")
			other.Jar.SetCookies(req.URL, []*http.Cookie{c})
		}
	}
	if r := webtest.TryLogin(t, other, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusTooManyRequests {
		t.Errorf("a forged device cookie: %s, want 429", r)
	}
}
