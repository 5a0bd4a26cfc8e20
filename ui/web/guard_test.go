package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// The guard every staff route passes: a session, the route's least role,
// the CSRF token and same-origin requests, and HTTPS when staff TLS is on.

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// samplePath fills a route pattern's wildcards.
func samplePath(pattern string) string {
	return wildcard.ReplaceAllString(pattern, "sample-name")
}

func routeName(rt web.Route) string { return rt.Method + " " + rt.Path }

// knownRoute is a route whose protection is known.
type knownRoute struct {
	name string
	role accounts.Role
}

// TestStaffRouteSweep sweeps every staff route of a node and of central
// without a session and with every role.
func TestStaffRouteSweep(t *testing.T) {
	// The site's own staff routes, in every composition.
	site := []knownRoute{
		{"GET /api/staff/accounts", accounts.RoleAdmin},
		{"POST /api/staff/accounts", accounts.RoleAdmin},
		{"POST /api/staff/accounts/{name}/disable", accounts.RoleAdmin},
		{"POST /logout", accounts.RoleViewer},
	}
	t.Run("node", func(t *testing.T) {
		sweep(t, newNodeEnv(t, web.Options{}, false, nil), append([]knownRoute{
			{"GET /board", accounts.RoleViewer},
			{"POST /board/announcements", accounts.RoleStaff},
			{"GET /api/staff/state", accounts.RoleViewer},
			{"POST /api/staff/announcements", accounts.RoleStaff},
		}, site...))
	})
	t.Run("central", func(t *testing.T) {
		sweep(t, newEnv(t, centralSite, web.Options{}, false, nil), append([]knownRoute{
			{"GET /central", accounts.RoleViewer},
			{"POST /central/announcements", accounts.RoleStaff},
			{"POST /central/activation", accounts.RoleAdmin},
			{"POST /api/announcements", accounts.RoleStaff},
			{"POST /api/activation", accounts.RoleAdmin},
		}, site...))
	})
}

// sweep checks every staff route of e's table: known are routes whose
// protection must not change without changing the test.
func sweep(t *testing.T, e *env, known []knownRoute) {
	e.AddAccount(t, "vera", accounts.RoleViewer, "vera-password-1")
	e.AddAccount(t, "stig", accounts.RoleStaff, "stig-password-1")
	e.AddAccount(t, "lisa", accounts.RoleStaffLead, "lisa-password-1")
	e.AddAccount(t, "adam", accounts.RoleAdmin, "adam-password-1")

	// The table of the server itself: a route added later is swept too.
	var staff []web.Route
	byName := map[string]web.Route{}
	for _, rt := range e.routes {
		byName[routeName(rt)] = rt
		if rt.Access != web.Public {
			staff = append(staff, rt)
		}
	}
	if len(staff) == 0 {
		t.Fatal("no staff routes in the table")
	}

	// Routes whose protection is known: a change to their access or role
	// in the table must be deliberate (and change this list).
	for _, k := range known {
		rt, ok := byName[k.name]
		switch {
		case !ok:
			t.Errorf("%s is not in the route table", k.name)
		case rt.Access == web.Public:
			t.Errorf("%s is public", k.name)
		case rt.MinRole() != k.role:
			t.Errorf("%s needs %s, want %s", k.name, rt.MinRole(), k.role)
		}
	}
	// Only these mutating routes may be used by a viewer; a new one must be
	// added here on purpose.
	wantViewerMutating := []string{"POST /logout"}
	var viewerMutating []string
	for _, rt := range staff {
		if rt.Mutating() && rt.MinRole() == accounts.RoleViewer {
			viewerMutating = append(viewerMutating, routeName(rt))
		}
	}
	sort.Strings(viewerMutating)
	if !slices.Equal(viewerMutating, wantViewerMutating) {
		t.Errorf("mutating routes open to viewers: %v, want %v", viewerMutating, wantViewerMutating)
	}

	before := webtest.EventCount(t, e.Log)
	request := func(t *testing.T, c *http.Client, rt web.Route, hdr ...string) webtest.Reply {
		t.Helper()
		ctype, body := "application/json", "{}"
		if rt.Access == web.StaffPage {
			// No title: invalid however the form is read, so nothing is published.
			ctype, body = "application/x-www-form-urlencoded", "title_sv=&severity=info"
		}
		return webtest.Do(t, c, rt.Method, e.Srv.URL+samplePath(rt.Path), ctype, body, hdr...)
	}

	anonymous := map[string]int{}
	for _, cookie := range []string{"", webtest.CookiePlain + "=not-a-session", webtest.CookieTLS + "=not-a-session"} {
		t.Run("no session/cookie="+cookie, func(t *testing.T) {
			for _, rt := range staff {
				t.Run(routeName(rt), func(t *testing.T) {
					c := webtest.NewClient(t, e.Srv)
					var hdr []string
					if cookie != "" {
						hdr = []string{"Cookie", cookie}
					}
					r := request(t, c, rt, append(hdr, "X-CSRF-Token", "guessed")...)
					switch rt.Access {
					case web.StaffAPI:
						if r.Code != http.StatusUnauthorized || r.ErrorText() == "" {
							t.Errorf("got %s, want 401 JSON", r)
						}
					case web.StaffPage:
						want := "/login" // a page comes back after the login; a form post cannot
						if !rt.Mutating() {
							want += "?next=" + url.QueryEscape(samplePath(rt.Path))
						}
						if loc := r.Header.Get("Location"); r.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") || loc != want {
							t.Errorf("got %d to %q, want 303 to %q", r.Code, loc, want)
						}
					default:
						t.Errorf("unknown access %d", rt.Access)
					}
					if sc := r.Header.Get("Set-Cookie"); sc != "" {
						t.Errorf("refused request set a cookie: %s", sc)
					}
					anonymous[routeName(rt)]++
				})
			}
		})
	}
	if len(anonymous) < len(staff) {
		t.Errorf("without a session, swept %d routes of %d", len(anonymous), len(staff))
	}

	// Every role against every route: 403 exactly when the role is below the
	// route's least role. The viewer-level mutating routes (logout) come
	// last, since they may end the session.
	ordered := slices.Clone(staff)
	sort.SliceStable(ordered, func(i, j int) bool {
		return !(ordered[i].Mutating() && ordered[i].MinRole() == accounts.RoleViewer) &&
			ordered[j].Mutating() && ordered[j].MinRole() == accounts.RoleViewer
	})
	users := []struct{ name, password string }{
		{"vera", "vera-password-1"}, {"stig", "stig-password-1"}, {"lisa", "lisa-password-1"}, {"adam", "adam-password-1"},
	}
	for _, u := range users {
		t.Run("role/"+u.name, func(t *testing.T) {
			sess := webtest.Login(t, e.Srv, u.name, u.password)
			swept, refused := 0, 0
			for _, rt := range ordered {
				t.Run(routeName(rt), func(t *testing.T) {
					swept++
					r := request(t, sess.C, rt, "X-CSRF-Token", sess.CSRF)
					mayUse := sess.Role.AtLeast(rt.MinRole())
					switch {
					case !mayUse && r.Code != http.StatusForbidden:
						t.Errorf("%s (needs %s): got %s, want 403", sess.Role, rt.MinRole(), r)
					case !mayUse && !strings.Contains(r.ErrorText(), "needs "+string(rt.MinRole())):
						// A 403 for another reason (the CSRF check) would hide a missing role check.
						t.Errorf("%s: 403 not from the role check: %s", sess.Role, r)
					case mayUse && (r.Code == http.StatusForbidden || r.Code == http.StatusUnauthorized ||
						r.Code == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/login")):
						t.Errorf("%s (needs %s): got %s, want it let through", sess.Role, rt.MinRole(), r)
					}
					if !mayUse {
						refused++
					}
				})
			}
			if swept < len(staff) {
				t.Errorf("swept %d routes of %d", swept, len(staff))
			}
			if sess.Role == accounts.RoleViewer && refused == 0 {
				t.Error("a viewer was refused nothing")
			}
			if sess.Role == accounts.RoleStaff && refused == 0 {
				t.Error("staff were refused nothing: no admin-only route was swept")
			}
		})
	}
	// Nothing was written: the refused requests were refused, the let-through
	// ones had invalid bodies.
	if after := webtest.EventCount(t, e.Log); after != before {
		t.Errorf("the sweep wrote %d events", after-before)
	}
	if accs, _ := e.Accounts.List(context.Background()); len(accs) != len(users) {
		t.Errorf("%d accounts after the sweep, want %d", len(accs), len(users))
	}
}

func TestCSRF(t *testing.T) {
	e := newNodeEnv(t, web.Options{}, false, nil)
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	e.AddAccount(t, "bo", accounts.RoleStaff, "bo-password-01")
	anna := webtest.Login(t, e.Srv, "anna", "anna-password-1")
	annaAgain := webtest.Login(t, e.Srv, "anna", "anna-password-1") // a second session of the same account
	bo := webtest.Login(t, e.Srv, "bo", "bo-password-01")
	if anna.CSRF == annaAgain.CSRF || anna.CSRF == bo.CSRF {
		t.Fatal("two sessions share a CSRF token")
	}
	api := e.Srv.URL + "/api/staff/announcements"
	form := url.Values{"title_sv": {"Värmestuga öppen"}, "title_en": {"Warming room open"}, "body_sv": {"Kom in"}, "severity": {"info"}}

	refused := []struct {
		name, method, url, ctype, body string
		hdr                            []string
		msg                            string
	}{
		{"no token", "POST", api, "application/json", announcementJSON, nil, "CSRF"},
		{"empty token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", ""}, "CSRF"},
		{"wrong token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", strings.Repeat("A", len(anna.CSRF))}, "CSRF"},
		{"token cut short", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", anna.CSRF[:len(anna.CSRF)-1]}, "CSRF"},
		{"another session's token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", annaAgain.CSRF}, "CSRF"},
		{"another account's token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", bo.CSRF}, "CSRF"},
		{"token in a form field of a JSON body", "POST", api + "?csrf=" + anna.CSRF, "application/json", announcementJSON, nil, "CSRF"},
		{"cross-site text/plain", "POST", api, "text/plain", announcementJSON,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, ""},
		{"cross-site with the right token", "POST", api, "application/json", announcementJSON,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "X-CSRF-Token", anna.CSRF}, "cross-site"},
		{"cross-origin by Origin alone", "POST", api, "application/json", announcementJSON,
			[]string{"Origin", "https://evil.example", "X-CSRF-Token", anna.CSRF}, "cross-site"},
		{"form without csrf", "POST", e.Srv.URL + "/board/announcements", "application/x-www-form-urlencoded", form.Encode(), nil, "CSRF"},
		{"form with a wrong csrf", "POST", e.Srv.URL + "/board/announcements", "application/x-www-form-urlencoded",
			form.Encode() + "&csrf=" + url.QueryEscape(bo.CSRF), nil, "CSRF"},
		{"form with the csrf in the query", "POST", e.Srv.URL + "/board/announcements?csrf=" + url.QueryEscape(anna.CSRF),
			"application/x-www-form-urlencoded", form.Encode(), nil, "CSRF"},
		{"cross-site form with the right csrf", "POST", e.Srv.URL + "/board/announcements", "application/x-www-form-urlencoded",
			form.Encode() + "&csrf=" + url.QueryEscape(anna.CSRF), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, "cross-site"},
		{"logout without a token", "POST", e.Srv.URL + "/logout", "application/json", "{}", nil, "CSRF"},
	}
	before := webtest.EventCount(t, e.Log)
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := webtest.Do(t, anna.C, tt.method, tt.url, tt.ctype, tt.body, tt.hdr...)
			if r.Code != http.StatusForbidden || !strings.Contains(r.ErrorText(), tt.msg) {
				t.Errorf("got %s, want 403 containing %q", r, tt.msg)
			}
			if after := webtest.EventCount(t, e.Log); after != before {
				t.Errorf("a refused request wrote %d events", after-before)
			}
		})
	}
	// The refused logout did not end the session.
	if r := anna.Get(t, "/api/staff/state"); r.Code != http.StatusOK {
		t.Fatalf("after the refused requests: %s", r)
	}

	t.Run("form with the right csrf", func(t *testing.T) {
		before := webtest.EventCount(t, e.Log)
		r := webtest.Do(t, anna.C, "POST", e.Srv.URL+"/board/announcements", "application/x-www-form-urlencoded",
			form.Encode()+"&csrf="+url.QueryEscape(anna.CSRF))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/board?published=1" {
			t.Fatalf("got %d to %q, want 303 to /board?published=1", r.Code, r.Header.Get("Location"))
		}
		if after := webtest.EventCount(t, e.Log); after != before+1 {
			t.Fatalf("%d events written, want 1", after-before)
		}
		evs := webtest.EventsOfType(t, e.Log, node.TypeAnnouncementPublished)
		if len(evs) != 1 {
			t.Fatalf("%d announcement.published events, want 1", len(evs))
		}
		var p node.Announcement
		if err := json.Unmarshal(evs[0], &p); err != nil || p.Title["sv"] != "Värmestuga öppen" || p.By != "anna" {
			t.Fatalf("event payload %s (%v)", evs[0], err)
		}
		st := publicStatus(t, e.Srv)
		if len(st.Announcements) != 1 || st.Announcements[0].ID != p.ID || st.Announcements[0].Title["en"] != "Warming room open" {
			t.Errorf("GET /api/status lists %+v, want the announcement %s", st.Announcements, p.ID)
		}
		if r := anna.Get(t, "/board?published=1"); r.Code != http.StatusOK || !strings.Contains(string(r.Body), "Värmestuga öppen") {
			t.Errorf("board after publishing: %d", r.Code)
		}
	})

	t.Run("header with the right token", func(t *testing.T) {
		before := webtest.EventCount(t, e.Log)
		r := anna.PostJSON(t, "/api/staff/announcements", announcementJSON)
		var out map[string]string
		if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &out) != nil || out["id"] == "" {
			t.Fatalf("got %s, want 201 with an id", r)
		}
		if after := webtest.EventCount(t, e.Log); after != before+1 {
			t.Fatalf("%d events written, want 1", after-before)
		}
		found := false
		for _, raw := range webtest.EventsOfType(t, e.Log, node.TypeAnnouncementPublished) {
			var p node.Announcement
			if json.Unmarshal(raw, &p) == nil && p.ID == out["id"] {
				found = true
			}
		}
		if !found {
			t.Errorf("no announcement.published event with id %s", out["id"])
		}
		st := publicStatus(t, e.Srv)
		if !slices.ContainsFunc(st.Announcements, func(a node.Announcement) bool { return a.ID == out["id"] }) {
			t.Errorf("GET /api/status does not list %s", out["id"])
		}
	})
}

func TestStaffTLSRedirect(t *testing.T) {
	e := newNodeEnv(t, web.Options{StaffTLS: true, HTTPSPort: "8443"}, false, nil)
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	c := webtest.NewClient(t, e.Srv)
	tests := []struct {
		method, path, ctype, body string
		host                      string // the Host header; the server's address when empty
		code                      int
		location                  string
	}{
		{"GET", "/board", "", "", "", 308, "https://127.0.0.1:8443/board"},
		{"GET", "/board?published=1", "", "", "", 308, "https://127.0.0.1:8443/board?published=1"},
		{"GET", "/login", "", "", "", 308, "https://127.0.0.1:8443/login"},
		{"GET", "/login?next=%2Fboard", "", "", "", 308, "https://127.0.0.1:8443/login?next=%2Fboard"},
		{"POST", "/login", "application/x-www-form-urlencoded", "name=anna&password=anna-password-1", "", 308, "https://127.0.0.1:8443/login"},
		{"POST", "/api/login", "application/json", webtest.LoginJSON("anna", "anna-password-1"), "", 308, "https://127.0.0.1:8443/api/login"},
		{"POST", "/logout", "application/json", "{}", "", 308, "https://127.0.0.1:8443/logout"},
		{"GET", "/api/staff/state", "", "", "", 308, "https://127.0.0.1:8443/api/staff/state"},
		{"POST", "/api/staff/announcements", "application/json", announcementJSON, "", 308, "https://127.0.0.1:8443/api/staff/announcements"},
		{"GET", "/board", "", "", "safepoint.local:8080", 308, "https://safepoint.local:8443/board"},
		{"GET", "/board", "", "", "safepoint.local", 308, "https://safepoint.local:8443/board"},
		{"GET", "/board", "", "", "[fe80::1]:8080", 308, "https://[fe80::1]:8443/board"},
		{"GET", "/api/status", "", "", "", 200, ""},
		{"GET", "/healthz", "", "", "", 200, ""},
		{"GET", "/static/", "", "", "", 200, ""},
		{"POST", "/api/reports", "application/json", `{"category":"road","text":"Träd över vägen"}`, "", 201, ""},
	}
	hashes := accounts.HashCount()
	before := webtest.EventCount(t, e.Log)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.host, func(t *testing.T) {
			var hdr []string
			if tt.host != "" {
				hdr = []string{"Host", tt.host}
			}
			r := webtest.Do(t, c, tt.method, e.Srv.URL+tt.path, tt.ctype, tt.body, hdr...)
			if r.Code != tt.code || r.Header.Get("Location") != tt.location {
				t.Errorf("got %d to %q, want %d to %q", r.Code, r.Header.Get("Location"), tt.code, tt.location)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Errorf("plain HTTP set a cookie")
			}
		})
	}
	if n := accounts.HashCount() - hashes; n != 0 {
		t.Errorf("plain-HTTP logins ran %d hashes: the password was checked before the redirect", n)
	}
	if after := webtest.EventCount(t, e.Log); after != before+1 {
		t.Errorf("%d events written, want only the report", after-before)
	}

	// Over TLS the same server logs in.
	tlsEnv := newNodeEnv(t, web.Options{StaffTLS: true, HTTPSPort: "8443"}, true, nil)
	tlsEnv.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	tc := webtest.NewClient(t, tlsEnv.Srv)
	if r := webtest.Do(t, tc, "GET", tlsEnv.Srv.URL+"/login", "", ""); r.Code != http.StatusOK {
		t.Errorf("GET /login over TLS: %s", r)
	}
	if s := webtest.Login(t, tlsEnv.Srv, "anna", "anna-password-1"); s.Get(t, "/board").Code != http.StatusOK {
		t.Error("GET /board over TLS after login failed")
	}
}

// TestCentralPageOnNode: a node serves no central page, whoever asks:
// its paths are unknown at a node, like any other, and answer 404 before
// a login and after, whatever the method.
func TestCentralPageOnNode(t *testing.T) {
	e := newNodeEnv(t, web.Options{}, false, nil)
	e.AddAccount(t, "adam", accounts.RoleAdmin, "adam-password-1")
	adam := webtest.Login(t, e.Srv, "adam", "adam-password-1")
	anon := webtest.NewClient(t, e.Srv)
	for _, c := range []struct {
		method, path string
	}{{"GET", "/central"}, {"GET", "/central/directives/x"}, {"GET", "/api/nodes"},
		{"POST", "/central/announcements"}, {"POST", "/central/activation"}, {"POST", "/api/announcements"}} {
		form := url.Values{"csrf": {adam.CSRF}, "target": {"all"}, "title_sv": {"x"}, "state": {"exercise"}}
		for who, cl := range map[string]*http.Client{"admin": adam.C, "no session": anon} {
			if r := webtest.Do(t, cl, c.method, e.Srv.URL+c.path, "application/x-www-form-urlencoded", form.Encode()); r.Code != http.StatusNotFound {
				t.Errorf("%s %s on a node, %s: %s, want 404", c.method, c.path, who, r)
			}
		}
	}
	if n := webtest.EventCount(t, e.Log); n != 0 {
		t.Errorf("%d events written on the node", n)
	}
}

// TestHealthzSaysWhenTheLogCannotStore: /healthz is 200 "ok" only while
// the daemon's health check passes; otherwise 503 with the reason.
func TestHealthzSaysWhenTheLogCannotStore(t *testing.T) {
	var (
		mu      sync.Mutex
		failing error
	)
	set := func(err error) { mu.Lock(); failing = err; mu.Unlock() }
	health := func() error { mu.Lock(); defer mu.Unlock(); return failing }
	e := newNodeEnv(t, web.Options{Health: health}, false, nil)
	get := func() webtest.Reply {
		return webtest.Do(t, webtest.NewClient(t, e.Srv), "GET", e.Srv.URL+"/healthz", "", "")
	}
	if r := get(); r.Code != http.StatusOK || string(r.Body) != "ok\n" {
		t.Fatalf("healthy: %s", r)
	}
	set(errors.New("event log cannot store: disk I/O error"))
	if r := get(); r.Code != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "disk I/O error") {
		t.Fatalf("failing: %s", r)
	}
	set(nil)
	if r := get(); r.Code != http.StatusOK {
		t.Fatalf("healthy again: %s", r)
	}
}

// TestCrossSiteReadsRefused: a browser's cross-site GET to a staff route
// (by Sec-Fetch-Site, or a foreign Origin) is refused with 403 even with a
// valid session, as docs/API.md says; the same reads from the site itself,
// and from no browser at all, pass.
func TestCrossSiteReadsRefused(t *testing.T) {
	e := newNodeEnv(t, web.Options{}, false, nil)
	e.AddAccount(t, "stina", accounts.RoleStaff, "stina-password-1")
	s := webtest.Login(t, e.Srv, "stina", "stina-password-1")
	host := strings.TrimPrefix(e.Srv.URL, "http://")
	for _, path := range []string{"/board", "/api/staff/state", "/api/staff/checkins/sample-id/personal"} {
		for _, c := range []struct {
			name string
			hdr  []string
			want int
		}{
			{"cross-site", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
			{"same-site, another port", []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
			{"foreign Origin", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
			{"same-origin", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://" + host}, 0},
			{"same-origin, Origin null (no-referrer)", []string{"Sec-Fetch-Site", "same-origin", "Origin", "null"}, 0},
			{"typed in the address bar", []string{"Sec-Fetch-Site", "none"}, 0},
			{"no browser", nil, 0},
		} {
			r := webtest.Do(t, s.C, "GET", s.Base+path, "", "", c.hdr...)
			if c.want != 0 && r.Code != c.want {
				t.Errorf("%s %s: %s, want %d", c.name, path, r, c.want)
			}
			if c.want == 0 && r.Code == http.StatusForbidden {
				t.Errorf("%s %s: refused: %s", c.name, path, r)
			}
		}
	}
}
