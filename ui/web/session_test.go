package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/nodetest"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// Staff sessions: their life from login to logout, what ends them, the
// cookie, the accounts API, and that nothing secret reaches the log.

func TestSessionLifecycle(t *testing.T) {
	type me struct {
		Me accounts.Account `json:"me"`
	}
	state := func(t *testing.T, s *webtest.Session) (int, accounts.Account) {
		t.Helper()
		r := s.Get(t, "/api/staff/state")
		var m me
		if r.Code == http.StatusOK {
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatalf("state: %v", err)
			}
		} else if r.Code != http.StatusUnauthorized || r.ErrorText() == "" {
			t.Errorf("state: %s, want 200 or 401 JSON", r)
		}
		return r.Code, m.Me
	}

	t.Run("login, state, logout", func(t *testing.T) {
		e := newNodeEnv(t, web.Options{}, false, nil)
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
		code, acc := state(t, s)
		if code != http.StatusOK || acc.Name != "anna" || acc.Role != accounts.RoleStaff {
			t.Fatalf("state: %d %+v", code, acc)
		}
		for _, path := range []string{"/api/staff/state", "/board"} {
			if cc := s.Get(t, path).Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store: a shared device must not keep staff pages", path, cc)
			}
		}
		token := s.Token(t)
		r := webtest.Do(t, s.C, "POST", s.Base+"/logout", "", "", "X-CSRF-Token", s.CSRF)
		if r.Code != http.StatusNoContent {
			t.Fatalf("logout: %s, want 204", r)
		}
		if sc := r.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, webtest.CookiePlain+"=;") || !strings.Contains(sc, "Max-Age=0") {
			t.Errorf("logout cookie %q, want it cleared", sc)
		}
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("state after logout: %d, want 401", code)
		}
		// The session is over on the server, not just forgotten by the client.
		if r := webtest.WithCookie(t, e.Srv, "GET", "/api/staff/state", token); r.Code != http.StatusUnauthorized {
			t.Errorf("the old token after logout: %s, want 401", r)
		}
	})

	t.Run("logout by form", func(t *testing.T) {
		e := newNodeEnv(t, web.Options{}, false, nil)
		e.AddAccount(t, "vera", accounts.RoleViewer, "vera-password-1")
		s := webtest.Login(t, e.Srv, "vera", "vera-password-1")
		token := s.Token(t)
		r := webtest.Do(t, s.C, "POST", s.Base+"/logout", "application/x-www-form-urlencoded", "csrf="+url.QueryEscape(s.CSRF))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
			t.Fatalf("logout form: %d to %q, want 303 to /login", r.Code, r.Header.Get("Location"))
		}
		if r := webtest.WithCookie(t, e.Srv, "GET", "/api/staff/state", token); r.Code != http.StatusUnauthorized {
			t.Errorf("the old token after logout: %s, want 401", r)
		}
	})

	t.Run("disabling and a new password end sessions", func(t *testing.T) {
		e := newNodeEnv(t, web.Options{}, false, nil)
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		e.AddAccount(t, "bo", accounts.RoleStaff, "bo-password-01")
		anna := webtest.Login(t, e.Srv, "anna", "anna-password-1")
		bo := webtest.Login(t, e.Srv, "bo", "bo-password-01")
		ctx := context.Background()
		if err := e.Accounts.SetDisabled(ctx, "anna", true); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, anna); code != http.StatusUnauthorized {
			t.Errorf("after disabling: %d, want 401", code)
		}
		if code, _ := state(t, bo); code != http.StatusOK {
			t.Errorf("another account after disabling anna: %d", code)
		}
		// Enabling again does not bring the old session back.
		if err := e.Accounts.SetDisabled(ctx, "anna", false); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, anna); code != http.StatusUnauthorized {
			t.Errorf("after enabling again: %d, want 401", code)
		}
		if err := e.Accounts.SetPassword(ctx, "bo", "bo-new-password"); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, bo); code != http.StatusUnauthorized {
			t.Errorf("after a new password: %d, want 401", code)
		}
		if r := webtest.TryLogin(t, webtest.NewClient(t, e.Srv), e.Srv.URL, "bo", "bo-password-01"); r.Code != http.StatusUnauthorized {
			t.Errorf("the old password: %s", r)
		}
		if code, _ := state(t, webtest.Login(t, e.Srv, "bo", "bo-new-password")); code != http.StatusOK {
			t.Errorf("with the new password: %d", code)
		}
	})

	t.Run("sessions survive a restart", func(t *testing.T) {
		e := newNodeEnv(t, web.Options{}, false, nil)
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
		token := s.Token(t)
		e.Srv.Close()

		// A new server on the same log.
		h, _ := nodeSite(e.Log, e.Accounts, e.opts)
		srv2 := httptest.NewServer(h)
		t.Cleanup(srv2.Close)
		if r := webtest.WithCookie(t, srv2, "GET", "/api/staff/state", token); r.Code != http.StatusOK {
			t.Errorf("new server, same log: %s", r)
		}
		srv2.Close()

		// A new process: the log closed and opened again.
		if err := errors.Join(e.Accounts.Close(), e.Log.Close()); err != nil {
			t.Fatal(err)
		}
		l := webtest.OpenLog(t, e.File, nil)
		h, _ = nodeSite(l, webtest.Accounts(t, l), e.opts)
		srv3 := httptest.NewServer(h)
		t.Cleanup(srv3.Close)
		r := webtest.WithCookie(t, srv3, "GET", "/api/staff/state", token)
		var m me
		if r.Code != http.StatusOK || json.Unmarshal(r.Body, &m) != nil || m.Me.Name != "anna" {
			t.Errorf("log reopened: %s", r)
		}
		// And the CSRF token still fits it.
		r = webtest.WithCookie(t, srv3, "POST", "/api/staff/announcements", token, "X-CSRF-Token", s.CSRF)
		if r.Code != http.StatusBadRequest { // "{}" has no title: past the guard, refused by validation
			t.Errorf("a change after the restart: %s, want 400 from the handler", r)
		}
		changed := "x" + token[1:]
		if token[0] == 'x' {
			changed = "y" + token[1:]
		}
		if r := webtest.WithCookie(t, srv3, "GET", "/api/staff/state", changed); r.Code != http.StatusUnauthorized {
			t.Errorf("a changed token after the restart: %s", r)
		}
	})

	t.Run("idle, lifetime and clock set back", func(t *testing.T) {
		start := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
		wall := nodetest.NewWall(start)
		e := newNodeEnv(t, web.Options{}, false, node.NewClock(wall.Now))
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
		// Active every hour and a half: alive until the lifetime ends.
		at := start
		for at.Add(90 * time.Minute).Before(start.Add(accounts.SessionLifetime)) {
			at = at.Add(90 * time.Minute)
			wall.Set(at)
			if code, _ := state(t, s); code != http.StatusOK {
				t.Fatalf("active at %v: %d", at.Sub(start), code)
			}
		}
		wall.Set(start.Add(accounts.SessionLifetime + time.Minute))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("after the lifetime: %d, want 401", code)
		}

		wall.Set(start)
		s = webtest.Login(t, e.Srv, "anna", "anna-password-1")
		wall.Set(start.Add(accounts.SessionIdle + time.Minute))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("after %v idle: %d, want 401", accounts.SessionIdle+time.Minute, code)
		}

		wall.Set(start)
		s = webtest.Login(t, e.Srv, "anna", "anna-password-1")
		wall.Set(start.Add(-time.Hour))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("clock set back an hour: %d, want 401", code)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		for _, useTLS := range []bool{true, false} {
			t.Run("tls="+strconv.FormatBool(useTLS), func(t *testing.T) {
				e := newNodeEnv(t, web.Options{StaffTLS: useTLS, HTTPSPort: "1"}, useTLS, nil)
				e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
				c := webtest.NewClient(t, e.Srv)
				r := webtest.TryLogin(t, c, e.Srv.URL, "anna", "anna-password-1")
				if r.Code != http.StatusOK {
					t.Fatalf("login: %s", r)
				}
				resp := http.Response{Header: r.Header}
				cookies := resp.Cookies()
				if len(cookies) != 2 {
					t.Fatalf("%d cookies set, want 2 (session, device): %v", len(cookies), r.Header.Values("Set-Cookie"))
				}
				wantName, deviceName := webtest.CookiePlain, "safepoint-device"
				if useTLS {
					wantName, deviceName = webtest.CookieTLS, "__Host-safepoint-device"
				}
				var ck, dev *http.Cookie
				for _, c := range cookies {
					switch c.Name {
					case wantName:
						ck = c
					case deviceName:
						dev = c
					}
				}
				if ck == nil || dev == nil {
					t.Fatalf("cookies %v, want %s and %s", r.Header.Values("Set-Cookie"), wantName, deviceName)
				}
				// The device cookie (docs/API.md, Throttling): as private as
				// the session's, and a year long.
				if dev.Secure != useTLS || !dev.HttpOnly || dev.SameSite != http.SameSiteStrictMode || dev.Path != "/" ||
					dev.Domain != "" || dev.MaxAge != 365*24*3600 || strings.Contains(dev.Value, "anna-password") {
					t.Errorf("device cookie %v", dev)
				}
				if ck.Name != wantName || ck.Secure != useTLS || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode ||
					ck.Path != "/" || ck.Domain != "" || ck.MaxAge != int(accounts.SessionLifetime.Seconds()) || len(ck.Value) < 40 {
					t.Errorf("cookie %s, want %s, Secure=%v, HttpOnly, SameSite=Strict, Path=/, host-only, Max-Age %v",
						r.Header.Get("Set-Cookie"), wantName, useTLS, accounts.SessionLifetime)
				}
				for _, raw := range r.Header.Values("Set-Cookie") {
					if !strings.Contains(raw, "SameSite=Strict") {
						t.Errorf("raw cookie %q lacks SameSite=Strict", raw)
					}
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("login answer Cache-Control %q, want no-store", cc)
				}
				// The cookie opens the session on this scheme.
				if r := webtest.Do(t, c, "GET", e.Srv.URL+"/api/staff/state", "", ""); r.Code != http.StatusOK {
					t.Errorf("state with the cookie: %s", r)
				}
			})
		}
	})
}

func TestAccountsAPI(t *testing.T) {
	e := newNodeEnv(t, web.Options{}, false, nil)
	e.AddAccount(t, "adam", accounts.RoleAdmin, "adam-password-1")
	admin := webtest.Login(t, e.Srv, "adam", "adam-password-1")
	before := webtest.EventCount(t, e.Log)

	tests := []struct {
		name, body string
		code       int
	}{
		{"add", `{"name":"bertil","role":"staff","password":"bertil-password"}`, 201},
		{"add a viewer", `{"name":"vera","role":"viewer","password":"vera-password-1"}`, 201},
		{"duplicate", `{"name":"bertil","role":"viewer","password":"another-password"}`, 409},
		{"duplicate, spaced", `{"name":" bertil ","role":"viewer","password":"another-password"}`, 409},
		{"short password", `{"name":"cecilia","role":"staff","password":"short"}`, 400},
		{"nine characters", `{"name":"cecilia","role":"staff","password":"123456789"}`, 400},
		{"bad role", `{"name":"cecilia","role":"root","password":"cecilia-password"}`, 400},
		{"empty role", `{"name":"cecilia","password":"cecilia-password"}`, 400},
		{"bad name", `{"name":"ce cilia","role":"staff","password":"cecilia-password"}`, 400},
		{"empty name", `{"name":"","role":"staff","password":"cecilia-password"}`, 400},
		{"unknown field", `{"name":"cecilia","role":"staff","password":"cecilia-password","hash":"$argon2id$"}`, 400},
		{"not JSON", `name=cecilia`, 400},
		{"scoped", `{"name":"sara","role":"viewer","password":"sara-password-1","municipalities":["2321"," 2309","2321"]}`, 201},
		{"scope of all", `{"name":"tove","role":"viewer","password":"tove-password-1","municipalities":[]}`, 201},
		{"bad municipality", `{"name":"ulla","role":"viewer","password":"ulla-password-1","municipalities":["2309","23x1"]}`, 400},
		{"blank municipality", `{"name":"ulla","role":"viewer","password":"ulla-password-1","municipalities":[""]}`, 400},
		{"municipalities as a string", `{"name":"ulla","role":"viewer","password":"ulla-password-1","municipalities":"2309"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.PostJSON(t, "/api/staff/accounts", tt.body)
			if r.Code != tt.code {
				t.Errorf("got %s, want %d", r, tt.code)
			}
			if r.Code >= 400 && r.ErrorText() == "" {
				t.Errorf("error answer without a JSON error: %s", r)
			}
		})
	}
	if r := admin.PostJSON(t, "/api/staff/accounts", `{"name":"ulla","role":"viewer","password":"ulla-password-1","municipalities":["23x1"]}`); !strings.Contains(r.ErrorText(), `"23x1"`) {
		t.Errorf("a bad municipality: %s; want the error to name it", r)
	}

	r := admin.Get(t, "/api/staff/accounts")
	if r.Code != http.StatusOK {
		t.Fatalf("listing: %s", r)
	}
	for _, secret := range []string{"$argon2id", "argon2", "bertil-password", "hash", "password"} {
		if bytes.Contains(bytes.ToLower(r.Body), []byte(strings.ToLower(secret))) {
			t.Errorf("the account list holds %q: %s", secret, r.Body)
		}
	}
	var list []map[string]any
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatalf("listing: %v", err)
	}
	got, scopes := map[string]string{}, map[string]string{}
	for _, a := range list {
		name, _ := a["name"].(string)
		role, _ := a["role"].(string)
		got[name] = role
		if m, ok := a["municipalities"]; ok {
			scopes[name] = fmt.Sprint(m)
		}
		for k := range a {
			if k != "name" && k != "role" && k != "disabled" && k != "created" && k != "municipalities" {
				t.Errorf("account %s has the field %q", name, k)
			}
		}
	}
	if want := map[string]string{"adam": "admin", "bertil": "staff", "vera": "viewer", "sara": "viewer", "tove": "viewer"}; !maps.Equal(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}
	if want := map[string]string{"sara": "[2309 2321]"}; !maps.Equal(scopes, want) {
		t.Errorf("municipalities listed %v, want %v (none for every municipality)", scopes, want)
	}

	bertil := webtest.Login(t, e.Srv, "bertil", "bertil-password")
	if r := admin.PostJSON(t, "/api/staff/accounts/bertil/disable", ""); r.Code != http.StatusNoContent {
		t.Fatalf("disabling bertil: %s", r)
	}
	if r := bertil.Get(t, "/api/staff/state"); r.Code != http.StatusUnauthorized {
		t.Errorf("bertil's session after disabling: %s, want 401", r)
	}
	if r := webtest.TryLogin(t, webtest.NewClient(t, e.Srv), e.Srv.URL, "bertil", "bertil-password"); r.Code != http.StatusUnauthorized ||
		strings.TrimSpace(string(r.Body)) != wrongLogin {
		t.Errorf("disabled bertil logging in: %s, want 401 %s", r, wrongLogin)
	}
	r = admin.Get(t, "/api/staff/accounts")
	if !strings.Contains(string(r.Body), `"name":"bertil","role":"staff","disabled":true`) {
		t.Errorf("bertil not listed as disabled: %s", r.Body)
	}
	if r := admin.PostJSON(t, "/api/staff/accounts/adam/disable", ""); r.Code != http.StatusBadRequest {
		t.Errorf("disabling oneself: %s, want 400", r)
	}
	if r := admin.Get(t, "/api/staff/state"); r.Code != http.StatusOK {
		t.Errorf("the admin's session after trying to disable itself: %s", r)
	}
	if r := admin.PostJSON(t, "/api/staff/accounts/nobody/disable", ""); r.Code != http.StatusNotFound {
		t.Errorf("disabling an unknown account: %s, want 404", r)
	}
	if after := webtest.EventCount(t, e.Log); after != before {
		t.Errorf("account changes wrote %d events: accounts are never events", after-before)
	}
}

// TestScopedAdmin: the session carries the account's municipalities to
// every handler, and an admin limited to some makes accounts within them
// only.
func TestScopedAdmin(t *testing.T) {
	e := newNodeEnv(t, web.Options{}, false, nil)
	if err := e.Accounts.AddScoped(context.Background(), "greta", accounts.RoleAdmin, "greta-password-1", []string{"2321", "2309"}); err != nil {
		t.Fatal(err)
	}
	greta := webtest.Login(t, e.Srv, "greta", "greta-password-1")
	r := greta.Get(t, "/api/staff/state")
	var st struct {
		Me accounts.Account `json:"me"`
	}
	if err := json.Unmarshal(r.Body, &st); err != nil || r.Code != http.StatusOK {
		t.Fatalf("state: %s, %v", r, err)
	}
	if !slices.Equal(st.Me.Municipalities, []string{"2309", "2321"}) || !st.Me.Sees("2321") || st.Me.Sees("2326") {
		t.Errorf("greta's session account %+v, want municipalities 2309 and 2321", st.Me)
	}

	for _, tt := range []struct {
		name, scope string
		code        int
	}{
		{"all", ``, http.StatusForbidden},
		{"empty", `,"municipalities":[]`, http.StatusForbidden},
		{"wider", `,"municipalities":["2309","2326"]`, http.StatusForbidden},
		{"bad code", `,"municipalities":["2309","x"]`, http.StatusBadRequest},
		{"same", `,"municipalities":["2321","2309"]`, http.StatusCreated},
		{"narrower", `,"municipalities":[" 2321"]`, http.StatusCreated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"name":"` + tt.name + `","role":"staff","password":"a-password-123"` + tt.scope + `}`
			r := greta.PostJSON(t, "/api/staff/accounts", body)
			if r.Code != tt.code {
				t.Errorf("got %s, want %d", r, tt.code)
			}
			if r.Code == http.StatusForbidden && !strings.Contains(r.ErrorText(), "2309,2321") {
				t.Errorf("the refusal does not say the admin's municipalities: %s", r)
			}
		})
	}
	list, err := e.Accounts.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name+fmt.Sprint(a.Municipalities))
	}
	if got := strings.Join(names, " "); got != "greta[2309 2321] narrower[2321] same[2309 2321]" {
		t.Errorf("accounts %s", got)
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	var logs synctest.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newNodeEnv(t, web.Options{Logger: logger}, false, nil)
	const (
		adminName, adminPassword = "Astrid-Lindqvist", "Tr0ll-Hare-Kaffe"
		staffName, staffPassword = "Bengt-Oskarsson", "Mossa-Granskog-77"
		newName, newPassword     = "Cecilia-Holm", "Norrsken-Fjallet-9"
		typedInNameBox           = "Hemligt-Losen-123" // a password typed in the wrong box
		unknownName              = "Okand-Person-Xyz"
	)
	e.AddAccount(t, adminName, accounts.RoleAdmin, adminPassword)
	e.AddAccount(t, staffName, accounts.RoleStaff, staffPassword)

	c := webtest.NewClient(t, e.Srv)
	var answers []webtest.Reply
	answers = append(answers, webtest.TryLogin(t, c, e.Srv.URL, adminName, staffPassword)) // wrong password
	answers = append(answers, webtest.TryLogin(t, c, e.Srv.URL, typedInNameBox, adminPassword))
	answers = append(answers, webtest.TryLogin(t, c, e.Srv.URL, unknownName, typedInNameBox))
	for _, r := range answers {
		if r.Code != http.StatusUnauthorized {
			t.Errorf("a wrong login answered %s", r)
		}
		for _, s := range []string{adminName, typedInNameBox, unknownName, adminPassword, staffPassword} {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("a failed login's answer echoes %q: %s", s, r.Body)
			}
		}
	}
	// The form echoes neither name nor password either.
	r := webtest.Do(t, c, "POST", e.Srv.URL+"/login", "application/x-www-form-urlencoded",
		url.Values{"name": {unknownName}, "password": {typedInNameBox}}.Encode())
	if r.Code != http.StatusUnauthorized || strings.Contains(string(r.Body), unknownName) || strings.Contains(string(r.Body), typedInNameBox) {
		t.Errorf("a failed form login: %d, echoing the name or password", r.Code)
	}

	admin := webtest.Login(t, e.Srv, adminName, adminPassword)
	staff := webtest.Login(t, e.Srv, staffName, staffPassword)
	steps := []struct {
		s      *webtest.Session
		method string
		path   string
		body   string
		code   int
	}{
		{admin, "GET", "/api/staff/state", "", 200},
		{admin, "GET", "/board", "", 200},
		{admin, "POST", "/api/staff/accounts", `{"name":"` + newName + `","role":"staff","password":"` + newPassword + `"}`, 201},
		{admin, "POST", "/api/staff/accounts", `{"name":"` + newName + `","role":"staff","password":"` + newPassword + `"}`, 409},
		{admin, "POST", "/api/staff/accounts", `{"name":"x","role":"staff","password":"` + newPassword[:5] + `"}`, 400},
		{admin, "GET", "/api/staff/accounts", "", 200},
		{admin, "POST", "/api/staff/accounts/" + newName + "/disable", "", 204},
		{staff, "POST", "/api/staff/announcements", announcementJSON, 201},
		{staff, "GET", "/api/staff/accounts", "", 403},
		{staff, "POST", "/logout", "", 204},
		{admin, "POST", "/logout", "", 204},
	}
	var tokens []string
	for _, s := range []*webtest.Session{admin, staff} {
		tokens = append(tokens, s.Token(t), s.CSRF)
	}
	for _, st := range steps {
		var r webtest.Reply
		if st.method == "GET" {
			r = st.s.Get(t, st.path)
		} else {
			r = st.s.PostJSON(t, st.path, st.body)
		}
		if r.Code != st.code {
			t.Errorf("%s %s: %s, want %d", st.method, st.path, r, st.code)
		}
	}
	// A request with a stolen-looking cookie and a query string.
	webtest.WithCookie(t, e.Srv, "GET", "/api/staff/state?name="+url.QueryEscape(adminName), "forged-"+tokens[0])

	out := logs.String()
	if !strings.Contains(out, `"msg":"Request"`) || !strings.Contains(out, `"msg":"Login failed"`) || !strings.Contains(out, `"msg":"Login"`) {
		t.Fatalf("the debug log lacks the expected lines; it holds:\n%s", out)
	}
	secrets := map[string]string{
		"admin password": adminPassword, "staff password": staffPassword, "new password": newPassword,
		"password in the name box": typedInNameBox, "admin name": adminName, "staff name": staffName,
		"new account's name": newName, "unknown name": unknownName, "argon2id hash": "$argon2id", "argon2": "argon2",
	}
	for i, tok := range tokens {
		secrets["session token or CSRF token "+strconv.Itoa(i)] = tok
	}
	for what, secret := range secrets {
		for _, form := range []string{secret, strings.ToLower(secret), url.PathEscape(secret)} {
			if strings.Contains(out, form) {
				t.Errorf("the log holds the %s (%q)", what, form)
				break
			}
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}
