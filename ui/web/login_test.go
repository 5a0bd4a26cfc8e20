package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// The auth tests run real argon2id hashes (tens of milliseconds each), so
// they count their logins: every login is one hash.

const wrongLogin = `{"error":"wrong name or password"}`

// authEnv is a server on a real log, for the auth tests.
type authEnv struct {
	srv  *httptest.Server
	s    *Server
	l    *node.Log
	file string
	opts Options
}

func openTestLog(t *testing.T, file string, clock *node.Clock) *node.Log {
	t.Helper()
	l, err := node.Open(context.Background(), file, node.Options{Origin: "sp-test", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// newAuthEnv starts a server on a new log: over TLS when useTLS, so that
// requests have r.TLS set.
func newAuthEnv(t *testing.T, opts Options, useTLS bool, clock *node.Clock) *authEnv {
	t.Helper()
	file := filepath.Join(t.TempDir(), node.FileName)
	l := openTestLog(t, file, clock)
	opts.Log = l
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := New(opts)
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(s)
	} else {
		srv = httptest.NewServer(s)
	}
	t.Cleanup(srv.Close)
	return &authEnv{srv: srv, s: s, l: l, file: file, opts: opts}
}

func (e *authEnv) addAccount(t *testing.T, name string, role node.Role, password string) {
	t.Helper()
	if err := e.l.Accounts().Add(context.Background(), name, role, password); err != nil {
		t.Fatalf("adding %s: %v", name, err)
	}
}

// newClient is a client of srv with its own cookie jar that does not
// follow redirects.
func newClient(t *testing.T, srv *httptest.Server) *http.Client {
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

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (r reply) String() string { return strconv.Itoa(r.code) + " " + strings.TrimSpace(string(r.body)) }

// errorText is the "error" of a JSON error answer, or "" if it is none.
func (r reply) errorText() string {
	var e Error
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error
}

// do sends one request; hdr holds header names and values, alternating.
func do(t *testing.T, c *http.Client, method, url, ctype, body string, hdr ...string) reply {
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
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

func loginJSON(name, password string) string {
	b, _ := json.Marshal(LoginRequest{Name: name, Password: password})
	return string(b)
}

func tryLogin(t *testing.T, c *http.Client, base, name, password string) reply {
	t.Helper()
	return do(t, c, "POST", base+"/api/login", "application/json", loginJSON(name, password))
}

// session is a client logged in through POST /api/login.
type session struct {
	c    *http.Client
	base string
	csrf string
	role node.Role
}

func login(t *testing.T, srv *httptest.Server, name, password string) *session {
	t.Helper()
	c := newClient(t, srv)
	r := tryLogin(t, c, srv.URL, name, password)
	if r.code != http.StatusOK {
		t.Fatalf("login as %s: %s", name, r)
	}
	var lr LoginResponse
	if err := json.Unmarshal(r.body, &lr); err != nil || lr.CSRF == "" || lr.Role == "" {
		t.Fatalf("login as %s: answer %s (%v)", name, r.body, err)
	}
	if len(r.header.Values("Set-Cookie")) == 0 {
		t.Fatalf("login as %s: no cookie", name)
	}
	return &session{c: c, base: srv.URL, csrf: lr.CSRF, role: lr.Role}
}

// token is the session cookie's value from the jar.
func (s *session) token(t *testing.T) string {
	t.Helper()
	u, _ := url.Parse(s.base)
	for _, c := range s.c.Jar.Cookies(u) {
		if c.Name == cookiePlain || c.Name == cookieTLS {
			return c.Value
		}
	}
	t.Fatal("no session cookie in the jar")
	return ""
}

func (s *session) get(t *testing.T, path string) reply {
	t.Helper()
	return do(t, s.c, "GET", s.base+path, "", "")
}

// postJSON posts with the session's CSRF token.
func (s *session) postJSON(t *testing.T, path, body string) reply {
	t.Helper()
	return do(t, s.c, "POST", s.base+path, "application/json", body, "X-CSRF-Token", s.csrf)
}

// withCookie sends a request carrying only the given session token, on a
// client without a jar.
func withCookie(t *testing.T, srv *httptest.Server, method, path, token string, hdr ...string) reply {
	t.Helper()
	c := newClient(t, srv)
	c.Jar = nil
	name := cookiePlain
	if strings.HasPrefix(srv.URL, "https:") {
		name = cookieTLS
	}
	return do(t, c, method, srv.URL+path, "application/json", "{}", append([]string{"Cookie", name + "=" + token}, hdr...)...)
}

// eventsOfType lists the payloads of the log's events of one type.
func eventsOfType(t *testing.T, l *node.Log, typ string) []json.RawMessage {
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

const announcementJSON = `{"title":{"sv":"Vattnet är tjänligt igen","en":"Tap water is safe again"},"severity":"info"}`

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// samplePath fills a route pattern's wildcards.
func samplePath(pattern string) string {
	return wildcard.ReplaceAllString(pattern, "sample-name")
}

func routeName(rt route) string { return rt.method + " " + rt.path }

func TestStaffRouteSweep(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "vera", node.RoleViewer, "vera-password-1")
	e.addAccount(t, "stig", node.RoleStaff, "stig-password-1")
	e.addAccount(t, "lisa", node.RoleStaffLead, "lisa-password-1")
	e.addAccount(t, "adam", node.RoleAdmin, "adam-password-1")

	// The table of the server itself: a route added later is swept too.
	var staff []route
	byName := map[string]route{}
	for _, rt := range New(e.opts).routes() {
		byName[routeName(rt)] = rt
		if rt.access != public {
			staff = append(staff, rt)
		}
	}
	if len(staff) == 0 {
		t.Fatal("no staff routes in the table")
	}

	// Routes whose protection is known: a change to their access or role
	// in the table must be deliberate (and change this list).
	known := []struct {
		name string
		role node.Role
	}{
		{"GET /board", node.RoleViewer},
		{"POST /board/announcements", node.RoleStaff},
		{"GET /api/staff/state", node.RoleViewer},
		{"POST /api/staff/announcements", node.RoleStaff},
		{"GET /api/staff/accounts", node.RoleAdmin},
		{"POST /api/staff/accounts", node.RoleAdmin},
		{"POST /api/staff/accounts/{name}/disable", node.RoleAdmin},
		{"POST /logout", node.RoleViewer},
	}
	for _, k := range known {
		rt, ok := byName[k.name]
		switch {
		case !ok:
			t.Errorf("%s is not in the route table", k.name)
		case rt.access == public:
			t.Errorf("%s is public", k.name)
		case rt.minRole() != k.role:
			t.Errorf("%s needs %s, want %s", k.name, rt.minRole(), k.role)
		}
	}
	// Only these mutating routes may be used by a viewer; a new one must be
	// added here on purpose.
	wantViewerMutating := []string{"POST /logout"}
	var viewerMutating []string
	for _, rt := range staff {
		if rt.mutating() && rt.minRole() == node.RoleViewer {
			viewerMutating = append(viewerMutating, routeName(rt))
		}
	}
	sort.Strings(viewerMutating)
	if !slices.Equal(viewerMutating, wantViewerMutating) {
		t.Errorf("mutating routes open to viewers: %v, want %v", viewerMutating, wantViewerMutating)
	}

	before := eventCount(t, e.l)
	request := func(t *testing.T, c *http.Client, rt route, hdr ...string) reply {
		t.Helper()
		ctype, body := "application/json", "{}"
		if rt.access == staffPage {
			// No title: invalid however the form is read, so nothing is published.
			ctype, body = "application/x-www-form-urlencoded", "title_sv=&severity=info"
		}
		return do(t, c, rt.method, e.srv.URL+samplePath(rt.path), ctype, body, hdr...)
	}

	anonymous := map[string]int{}
	for _, cookie := range []string{"", cookiePlain + "=not-a-session", cookieTLS + "=not-a-session"} {
		t.Run("no session/cookie="+cookie, func(t *testing.T) {
			for _, rt := range staff {
				t.Run(routeName(rt), func(t *testing.T) {
					c := newClient(t, e.srv)
					var hdr []string
					if cookie != "" {
						hdr = []string{"Cookie", cookie}
					}
					r := request(t, c, rt, append(hdr, "X-CSRF-Token", "guessed")...)
					switch rt.access {
					case staffAPI:
						if r.code != http.StatusUnauthorized || r.errorText() == "" {
							t.Errorf("got %s, want 401 JSON", r)
						}
					case staffPage:
						want := "/login" // a page comes back after the login; a form post cannot
						if !rt.mutating() {
							want += "?next=" + url.QueryEscape(samplePath(rt.path))
						}
						if loc := r.header.Get("Location"); r.code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") || loc != want {
							t.Errorf("got %d to %q, want 303 to %q", r.code, loc, want)
						}
					default:
						t.Errorf("unknown access %d", rt.access)
					}
					if sc := r.header.Get("Set-Cookie"); sc != "" {
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
		return !(ordered[i].mutating() && ordered[i].minRole() == node.RoleViewer) &&
			ordered[j].mutating() && ordered[j].minRole() == node.RoleViewer
	})
	users := []struct{ name, password string }{
		{"vera", "vera-password-1"}, {"stig", "stig-password-1"}, {"lisa", "lisa-password-1"}, {"adam", "adam-password-1"},
	}
	for _, u := range users {
		t.Run("role/"+u.name, func(t *testing.T) {
			sess := login(t, e.srv, u.name, u.password)
			swept, refused := 0, 0
			for _, rt := range ordered {
				t.Run(routeName(rt), func(t *testing.T) {
					swept++
					r := request(t, sess.c, rt, "X-CSRF-Token", sess.csrf)
					mayUse := sess.role.AtLeast(rt.minRole())
					switch {
					case !mayUse && r.code != http.StatusForbidden:
						t.Errorf("%s (needs %s): got %s, want 403", sess.role, rt.minRole(), r)
					case !mayUse && !strings.Contains(r.errorText(), "needs "+string(rt.minRole())):
						// A 403 for another reason (the CSRF check) would hide a missing role check.
						t.Errorf("%s: 403 not from the role check: %s", sess.role, r)
					case mayUse && (r.code == http.StatusForbidden || r.code == http.StatusUnauthorized ||
						r.code == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/login")):
						t.Errorf("%s (needs %s): got %s, want it let through", sess.role, rt.minRole(), r)
					}
					if !mayUse {
						refused++
					}
				})
			}
			if swept < len(staff) {
				t.Errorf("swept %d routes of %d", swept, len(staff))
			}
			if sess.role == node.RoleViewer && refused == 0 {
				t.Error("a viewer was refused nothing")
			}
			if sess.role == node.RoleStaff && refused == 0 {
				t.Error("staff were refused nothing: no admin-only route was swept")
			}
		})
	}
	// Nothing was written: the refused requests were refused, the let-through
	// ones had invalid bodies.
	if after := eventCount(t, e.l); after != before {
		t.Errorf("the sweep wrote %d events", after-before)
	}
	if accs, _ := e.l.Accounts().List(context.Background()); len(accs) != len(users) {
		t.Errorf("%d accounts after the sweep, want %d", len(accs), len(users))
	}
}

func TestCSRF(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
	e.addAccount(t, "bo", node.RoleStaff, "bo-password-01")
	anna := login(t, e.srv, "anna", "anna-password-1")
	annaAgain := login(t, e.srv, "anna", "anna-password-1") // a second session of the same account
	bo := login(t, e.srv, "bo", "bo-password-01")
	if anna.csrf == annaAgain.csrf || anna.csrf == bo.csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	api := e.srv.URL + "/api/staff/announcements"
	form := url.Values{"title_sv": {"Värmestuga öppen"}, "title_en": {"Warming room open"}, "body_sv": {"Kom in"}, "severity": {"info"}}

	refused := []struct {
		name, method, url, ctype, body string
		hdr                            []string
		msg                            string
	}{
		{"no token", "POST", api, "application/json", announcementJSON, nil, "CSRF"},
		{"empty token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", ""}, "CSRF"},
		{"wrong token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", strings.Repeat("A", len(anna.csrf))}, "CSRF"},
		{"token cut short", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", anna.csrf[:len(anna.csrf)-1]}, "CSRF"},
		{"another session's token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", annaAgain.csrf}, "CSRF"},
		{"another account's token", "POST", api, "application/json", announcementJSON, []string{"X-CSRF-Token", bo.csrf}, "CSRF"},
		{"token in a form field of a JSON body", "POST", api + "?csrf=" + anna.csrf, "application/json", announcementJSON, nil, "CSRF"},
		{"cross-site text/plain", "POST", api, "text/plain", announcementJSON,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, ""},
		{"cross-site with the right token", "POST", api, "application/json", announcementJSON,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "X-CSRF-Token", anna.csrf}, "cross-site"},
		{"cross-origin by Origin alone", "POST", api, "application/json", announcementJSON,
			[]string{"Origin", "https://evil.example", "X-CSRF-Token", anna.csrf}, "cross-site"},
		{"form without csrf", "POST", e.srv.URL + "/board/announcements", "application/x-www-form-urlencoded", form.Encode(), nil, "CSRF"},
		{"form with a wrong csrf", "POST", e.srv.URL + "/board/announcements", "application/x-www-form-urlencoded",
			form.Encode() + "&csrf=" + url.QueryEscape(bo.csrf), nil, "CSRF"},
		{"form with the csrf in the query", "POST", e.srv.URL + "/board/announcements?csrf=" + url.QueryEscape(anna.csrf),
			"application/x-www-form-urlencoded", form.Encode(), nil, "CSRF"},
		{"cross-site form with the right csrf", "POST", e.srv.URL + "/board/announcements", "application/x-www-form-urlencoded",
			form.Encode() + "&csrf=" + url.QueryEscape(anna.csrf), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, "cross-site"},
		{"logout without a token", "POST", e.srv.URL + "/logout", "application/json", "{}", nil, "CSRF"},
	}
	before := eventCount(t, e.l)
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, anna.c, tt.method, tt.url, tt.ctype, tt.body, tt.hdr...)
			if r.code != http.StatusForbidden || !strings.Contains(r.errorText(), tt.msg) {
				t.Errorf("got %s, want 403 containing %q", r, tt.msg)
			}
			if after := eventCount(t, e.l); after != before {
				t.Errorf("a refused request wrote %d events", after-before)
			}
		})
	}
	// The refused logout did not end the session.
	if r := anna.get(t, "/api/staff/state"); r.code != http.StatusOK {
		t.Fatalf("after the refused requests: %s", r)
	}

	t.Run("form with the right csrf", func(t *testing.T) {
		before := eventCount(t, e.l)
		r := do(t, anna.c, "POST", e.srv.URL+"/board/announcements", "application/x-www-form-urlencoded",
			form.Encode()+"&csrf="+url.QueryEscape(anna.csrf))
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/board?published=1" {
			t.Fatalf("got %d to %q, want 303 to /board?published=1", r.code, r.header.Get("Location"))
		}
		if after := eventCount(t, e.l); after != before+1 {
			t.Fatalf("%d events written, want 1", after-before)
		}
		evs := eventsOfType(t, e.l, node.TypeAnnouncementPublished)
		if len(evs) != 1 {
			t.Fatalf("%d announcement.published events, want 1", len(evs))
		}
		var p node.AnnouncementPublished
		if err := json.Unmarshal(evs[0], &p); err != nil || p.Title["sv"] != "Värmestuga öppen" || p.By != "anna" {
			t.Fatalf("event payload %s (%v)", evs[0], err)
		}
		st := publicStatus(t, e.srv)
		if len(st.Announcements) != 1 || st.Announcements[0].ID != p.ID || st.Announcements[0].Title["en"] != "Warming room open" {
			t.Errorf("GET /api/status lists %+v, want the announcement %s", st.Announcements, p.ID)
		}
		if r := anna.get(t, "/board?published=1"); r.code != http.StatusOK || !strings.Contains(string(r.body), "Värmestuga öppen") {
			t.Errorf("board after publishing: %d", r.code)
		}
	})

	t.Run("header with the right token", func(t *testing.T) {
		before := eventCount(t, e.l)
		r := anna.postJSON(t, "/api/staff/announcements", announcementJSON)
		var out map[string]string
		if r.code != http.StatusCreated || json.Unmarshal(r.body, &out) != nil || out["id"] == "" {
			t.Fatalf("got %s, want 201 with an id", r)
		}
		if after := eventCount(t, e.l); after != before+1 {
			t.Fatalf("%d events written, want 1", after-before)
		}
		found := false
		for _, raw := range eventsOfType(t, e.l, node.TypeAnnouncementPublished) {
			var p node.AnnouncementPublished
			if json.Unmarshal(raw, &p) == nil && p.ID == out["id"] {
				found = true
			}
		}
		if !found {
			t.Errorf("no announcement.published event with id %s", out["id"])
		}
		st := publicStatus(t, e.srv)
		if !slices.ContainsFunc(st.Announcements, func(a node.Announcement) bool { return a.ID == out["id"] }) {
			t.Errorf("GET /api/status does not list %s", out["id"])
		}
	})
}

func publicStatus(t *testing.T, srv *httptest.Server) Status {
	t.Helper()
	r := do(t, newClient(t, srv), "GET", srv.URL+"/api/status", "", "")
	var st Status
	if r.code != http.StatusOK || json.Unmarshal(r.body, &st) != nil {
		t.Fatalf("GET /api/status: %s", r)
	}
	return st
}

func retryAfter(t *testing.T, r reply) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", r.header.Get("Retry-After"))
	}
	return n
}

func TestLoginThrottle(t *testing.T) {
	// lockName makes lockoutFailures failed logins for name and then tries
	// the right password; it returns the failed answers and the last one.
	lockName := func(t *testing.T, e *authEnv, c *http.Client, name, right string) ([]reply, reply) {
		t.Helper()
		var fails []reply
		for i := 0; i < lockoutFailures; i++ {
			fails = append(fails, tryLogin(t, c, e.srv.URL, name, "wrong-password-"+strconv.Itoa(i)))
		}
		return fails, tryLogin(t, c, e.srv.URL, name, right)
	}
	var locked [2]reply // the 429s of the two lockouts, to compare
	for i, tt := range []struct {
		name   string
		exists bool
	}{{"existing name", true}, {"unknown name", false}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newAuthEnv(t, Options{}, false, nil)
			e.addAccount(t, "other", node.RoleStaff, "other-password")
			if tt.exists {
				e.addAccount(t, "target", node.RoleStaff, "right-password")
			}
			c := newClient(t, e.srv)
			fails, last := lockName(t, e, c, "target", "right-password")
			for j, r := range fails {
				if r.code != http.StatusUnauthorized || strings.TrimSpace(string(r.body)) != wrongLogin {
					t.Errorf("failure %d: got %s, want 401 %s", j+1, r, wrongLogin)
				}
			}
			if last.code != http.StatusTooManyRequests {
				t.Fatalf("attempt %d with the right password: got %s, want 429", lockoutFailures+1, last)
			}
			if n := retryAfter(t, last); n > int(lockoutDuration.Seconds()) || n < int(lockoutDuration.Seconds())-60 {
				t.Errorf("Retry-After %d s, want about %v", n, lockoutDuration)
			}
			if c := last.header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("a locked login set %v", c)
			}
			locked[i] = last
			// A locked attempt costs no hash.
			hashes := node.HashCount()
			if r := tryLogin(t, c, e.srv.URL, "target", "right-password"); r.code != http.StatusTooManyRequests {
				t.Errorf("second attempt while locked: %s", r)
			}
			if n := node.HashCount() - hashes; n != 0 {
				t.Errorf("a locked attempt cost %d hashes", n)
			}
			// The form says so too.
			r := do(t, c, "POST", e.srv.URL+"/login", "application/x-www-form-urlencoded",
				url.Values{"name": {"target"}, "password": {"right-password"}}.Encode())
			if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "För många försök") {
				t.Errorf("form while locked: %d %q", r.code, r.header.Get("Retry-After"))
			}
			// Another name is not locked.
			if r := tryLogin(t, c, e.srv.URL, "other", "other-password"); r.code != http.StatusOK {
				t.Errorf("another name while target is locked: %s", r)
			}
		})
	}
	if locked[0].code != 0 && locked[1].code != 0 {
		if !bytes.Equal(locked[0].body, locked[1].body) {
			t.Errorf("locked answers differ: existing %s, unknown %s", locked[0].body, locked[1].body)
		}
		if a, b := locked[0].header.Get("Content-Type"), locked[1].header.Get("Content-Type"); a != b {
			t.Errorf("locked answers' content types differ: %q, %q", a, b)
		}
	}

	t.Run("same answer", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		c := newClient(t, e.srv)
		unknown := tryLogin(t, c, e.srv.URL, "nobody-by-this-name", "anna-password-1")
		wrong := tryLogin(t, c, e.srv.URL, "anna", "not-annas-password")
		for _, r := range []reply{unknown, wrong} {
			if r.code != http.StatusUnauthorized || strings.TrimSpace(string(r.body)) != wrongLogin {
				t.Errorf("got %s, want 401 %s", r, wrongLogin)
			}
			if r.header.Get("Set-Cookie") != "" {
				t.Errorf("a failed login set a cookie")
			}
		}
		if !bytes.Equal(unknown.body, wrong.body) {
			t.Errorf("bodies differ: unknown name %q, wrong password %q", unknown.body, wrong.body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Retry-After", "Cache-Control"} {
			if unknown.header.Get(h) != wrong.header.Get(h) {
				t.Errorf("%s differs: unknown name %q, wrong password %q", h, unknown.header.Get(h), wrong.header.Get(h))
			}
		}
	})

	t.Run("success clears the count", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		c := newClient(t, e.srv)
		for round := 0; round < 2; round++ {
			for i := 0; i < lockoutFailures-1; i++ {
				if r := tryLogin(t, c, e.srv.URL, "anna", "wrong-password"); r.code != http.StatusUnauthorized {
					t.Fatalf("round %d, failure %d: %s", round, i+1, r)
				}
			}
			if r := tryLogin(t, c, e.srv.URL, "anna", "anna-password-1"); r.code != http.StatusOK {
				t.Fatalf("round %d: right password after %d failures: %s", round, lockoutFailures-1, r)
			}
		}
	})

	t.Run("per client", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		c := newClient(t, e.srv)
		for i := 0; i < loginBurst; i++ {
			if r := tryLogin(t, c, e.srv.URL, "name-"+strconv.Itoa(i), "some-password"); r.code != http.StatusUnauthorized {
				t.Fatalf("attempt %d of the burst: %s", i+1, r)
			}
		}
		hashes := node.HashCount()
		for _, name := range []string{"another-name", "anna"} { // the right password too
			r := tryLogin(t, c, e.srv.URL, name, "anna-password-1")
			if r.code != http.StatusTooManyRequests {
				t.Fatalf("attempt past the burst as %s: %s, want 429", name, r)
			}
			if n := retryAfter(t, r); n > int(loginEvery.Seconds()) {
				t.Errorf("Retry-After %d s, want at most %v", n, loginEvery)
			}
		}
		if n := node.HashCount() - hashes; n != 0 {
			t.Errorf("throttled attempts cost %d hashes", n)
		}
		// The limit is per client: the same server lets another address in.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/login", strings.NewReader(loginJSON("anna", "anna-password-1")))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.7:40000"
		e.s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("another client: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestLoginGuard checks the time-dependent throttling with explicit times.
func TestLoginGuard(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	fail := func(g *loginGuard, name string, at time.Time, n int) {
		for i := 0; i < n; i++ {
			g.failed(name, at)
		}
	}
	isLocked := func(g *loginGuard, name string, at time.Time) bool {
		ok, _ := g.locked(name, at)
		return ok
	}

	t.Run("lock and expiry", func(t *testing.T) {
		g := newLoginGuard()
		fail(g, "anna", t0, lockoutFailures-1)
		if isLocked(g, "anna", t0) {
			t.Fatalf("locked after %d failures", lockoutFailures-1)
		}
		fail(g, "anna", t0, 1)
		locked, wait := g.locked("anna", t0)
		if !locked || wait != lockoutDuration {
			t.Fatalf("after %d failures: locked %v for %v, want %v", lockoutFailures, locked, wait, lockoutDuration)
		}
		if locked, wait := g.locked("anna", t0.Add(lockoutDuration-time.Second)); !locked || wait != time.Second {
			t.Errorf("a second before the end: locked %v for %v", locked, wait)
		}
		if isLocked(g, "anna", t0.Add(lockoutDuration)) {
			t.Error("still locked after lockoutDuration")
		}
		if isLocked(g, "bo", t0) {
			t.Error("another name is locked")
		}
		// After the lock, the count starts over.
		after := t0.Add(lockoutDuration)
		fail(g, "anna", after, lockoutFailures-1)
		if isLocked(g, "anna", after) {
			t.Errorf("locked again after %d failures", lockoutFailures-1)
		}
		fail(g, "anna", after, 1)
		if !isLocked(g, "anna", after) {
			t.Errorf("not locked again after %d more failures", lockoutFailures)
		}
	})

	t.Run("old failures do not count", func(t *testing.T) {
		g := newLoginGuard()
		fail(g, "anna", t0, lockoutFailures-1)
		later := t0.Add(lockoutWindow + time.Second)
		fail(g, "anna", later, lockoutFailures-1)
		if isLocked(g, "anna", later) {
			t.Errorf("locked by failures older than %v", lockoutWindow)
		}
		fail(g, "anna", later, 1)
		if !isLocked(g, "anna", later) {
			t.Errorf("%d failures at once did not lock", lockoutFailures)
		}
	})

	t.Run("failures within the window count", func(t *testing.T) {
		// lockoutFailures failures spread over just under lockoutWindow lock.
		g := newLoginGuard()
		step := (lockoutWindow - time.Second) / time.Duration(lockoutFailures-1)
		var at time.Time
		for i := 0; i < lockoutFailures; i++ {
			at = t0.Add(time.Duration(i) * step)
			if isLocked(g, "anna", at) {
				t.Fatalf("locked after %d failures", i)
			}
			g.failed("anna", at)
		}
		if !isLocked(g, "anna", at) {
			t.Errorf("%d failures within %v did not lock", lockoutFailures, lockoutWindow)
		}
	})

	t.Run("a sliding window", func(t *testing.T) {
		// One early failure expires, but the recent ones still count: the
		// docs promise a lock after lockoutFailures failures within any
		// lockoutWindow, not within windows that start at a first failure.
		g := newLoginGuard()
		g.failed("anna", t0)
		fail(g, "anna", t0.Add(lockoutWindow-time.Minute), lockoutFailures-2)
		edge := t0.Add(lockoutWindow + time.Minute)
		g.failed("anna", edge) // the first has expired: lockoutFailures-1 within the window
		if isLocked(g, "anna", edge) {
			t.Fatalf("locked with %d failures within the window", lockoutFailures-1)
		}
		g.failed("anna", edge.Add(time.Second))
		if !isLocked(g, "anna", edge.Add(time.Second)) {
			t.Errorf("%d failures within %v did not lock", lockoutFailures, 2*time.Minute+time.Second)
		}
	})

	t.Run("success clears", func(t *testing.T) {
		g := newLoginGuard()
		fail(g, "anna", t0, lockoutFailures-1)
		g.succeeded("anna")
		fail(g, "anna", t0, lockoutFailures-1)
		if isLocked(g, "anna", t0) {
			t.Error("failures before a success counted")
		}
		fail(g, "anna", t0, 1)
		if !isLocked(g, "anna", t0) {
			t.Error("not locked after a success and then enough failures")
		}
	})

	t.Run("per client", func(t *testing.T) {
		g := newLoginGuard()
		for i := 0; i < loginBurst; i++ {
			if ok, _ := g.clients.allow("192.0.2.1", t0); !ok {
				t.Fatalf("attempt %d of the burst refused", i+1)
			}
		}
		ok, wait := g.clients.allow("192.0.2.1", t0)
		if ok || wait <= 0 || wait > loginEvery {
			t.Fatalf("past the burst: allowed %v, wait %v (want refused, up to %v)", ok, wait, loginEvery)
		}
		if ok, _ := g.clients.allow("192.0.2.2", t0); !ok {
			t.Error("another client refused")
		}
		if ok, _ := g.clients.allow("192.0.2.1", t0.Add(loginEvery-time.Second)); ok {
			t.Errorf("allowed before %v", loginEvery)
		}
		if ok, _ := g.clients.allow("192.0.2.1", t0.Add(loginEvery)); !ok {
			t.Errorf("refused after %v", loginEvery)
		}
		if ok, _ := g.clients.allow("192.0.2.1", t0.Add(loginEvery)); ok {
			t.Errorf("two attempts allowed after %v", loginEvery)
		}
	})

	t.Run("memory is bounded", func(t *testing.T) {
		g := newLoginGuard()
		g.failed("anna", t0)
		for i := 0; len(g.names) < maxTrackedNames; i++ {
			g.failed("made-up-"+strconv.Itoa(i), t0)
		}
		g.failed("one-too-many", t0)
		if len(g.names) > maxTrackedNames {
			t.Errorf("%d names tracked, at most %d", len(g.names), maxTrackedNames)
		}
		// A name already tracked is still counted when the table is full.
		fail(g, "anna", t0, lockoutFailures-1)
		if !isLocked(g, "anna", t0) {
			t.Error("a tracked name was not locked while the table was full")
		}
		// Once the made-up names are old, they are forgotten.
		later := t0.Add(lockoutWindow + lockoutDuration + time.Second)
		g.failed("new-name", later)
		if len(g.names) > 2 {
			t.Errorf("%d names still tracked after they all expired", len(g.names))
		}
	})
}

func TestLoginCostsOneHash(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
	e.addAccount(t, "dora", node.RoleStaff, "dora-password-1")
	if err := e.l.Accounts().SetDisabled(context.Background(), "dora", true); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, e.srv)
	// Warm up: the first unknown name makes the dummy hash.
	tryLogin(t, c, e.srv.URL, "warm-up", "warm-up-password")

	cases := []struct{ name, user, password string }{
		{"unknown name", "nobody-by-this-name", "anna-password-1"},
		{"wrong password", "anna", "not-annas-password"},
		{"disabled account", "dora", "dora-password-1"},
	}
	var bodies [][]byte
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := node.HashCount()
			r := tryLogin(t, c, e.srv.URL, tt.user, tt.password)
			if n := node.HashCount() - before; n != 1 {
				t.Errorf("cost %d argon2id hashes, want 1", n)
			}
			if r.code != http.StatusUnauthorized || strings.TrimSpace(string(r.body)) != wrongLogin {
				t.Errorf("got %s, want 401 %s", r, wrongLogin)
			}
			bodies = append(bodies, r.body)
		})
	}
	for i := 1; i < len(bodies); i++ {
		if !bytes.Equal(bodies[0], bodies[i]) {
			t.Errorf("%s answers %q, %s answers %q", cases[0].name, bodies[0], cases[i].name, bodies[i])
		}
	}
	// The right password costs one hash as well, and works.
	before := node.HashCount()
	if r := tryLogin(t, c, e.srv.URL, "anna", "anna-password-1"); r.code != http.StatusOK {
		t.Errorf("right password: %s", r)
	}
	if n := node.HashCount() - before; n != 1 {
		t.Errorf("a successful login cost %d hashes, want 1", n)
	}

	t.Run("timing", func(t *testing.T) {
		// A loose check: the hash dominates either way. In-process, without
		// the network, with a fresh guard for every attempt.
		s := New(e.opts)
		timeLogin := func(name, password string) time.Duration {
			s.logins = newLoginGuard()
			req := httptest.NewRequest("POST", "/api/login", strings.NewReader(loginJSON(name, password)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			start := time.Now()
			s.ServeHTTP(rec, req)
			d := time.Since(start)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
			}
			return d
		}
		const n = 7
		var unknown, wrong []time.Duration
		for i := 0; i < n; i++ { // interleaved, so a slow moment hits both
			unknown = append(unknown, timeLogin("nobody-by-this-name", "anna-password-1"))
			wrong = append(wrong, timeLogin("anna", "not-annas-password"))
		}
		slices.Sort(unknown)
		slices.Sort(wrong)
		mu, mw := unknown[n/2], wrong[n/2]
		ratio := float64(mu) / float64(mw)
		t.Logf("median unknown name %v, wrong password %v, ratio %.2f", mu, mw, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("unknown name takes %v, wrong password %v: ratio %.2f, want 0.5 to 2", mu, mw, ratio)
		}
	})
}

func TestSessionLifecycle(t *testing.T) {
	type me struct {
		Me node.Account `json:"me"`
	}
	state := func(t *testing.T, s *session) (int, node.Account) {
		t.Helper()
		r := s.get(t, "/api/staff/state")
		var m me
		if r.code == http.StatusOK {
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatalf("state: %v", err)
			}
		} else if r.code != http.StatusUnauthorized || r.errorText() == "" {
			t.Errorf("state: %s, want 200 or 401 JSON", r)
		}
		return r.code, m.Me
	}

	t.Run("login, state, logout", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		s := login(t, e.srv, "anna", "anna-password-1")
		code, acc := state(t, s)
		if code != http.StatusOK || acc.Name != "anna" || acc.Role != node.RoleStaff {
			t.Fatalf("state: %d %+v", code, acc)
		}
		for _, path := range []string{"/api/staff/state", "/board"} {
			if cc := s.get(t, path).header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store: a shared device must not keep staff pages", path, cc)
			}
		}
		token := s.token(t)
		r := do(t, s.c, "POST", s.base+"/logout", "", "", "X-CSRF-Token", s.csrf)
		if r.code != http.StatusNoContent {
			t.Fatalf("logout: %s, want 204", r)
		}
		if sc := r.header.Get("Set-Cookie"); !strings.HasPrefix(sc, cookiePlain+"=;") || !strings.Contains(sc, "Max-Age=0") {
			t.Errorf("logout cookie %q, want it cleared", sc)
		}
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("state after logout: %d, want 401", code)
		}
		// The session is over on the server, not just forgotten by the client.
		if r := withCookie(t, e.srv, "GET", "/api/staff/state", token); r.code != http.StatusUnauthorized {
			t.Errorf("the old token after logout: %s, want 401", r)
		}
	})

	t.Run("logout by form", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "vera", node.RoleViewer, "vera-password-1")
		s := login(t, e.srv, "vera", "vera-password-1")
		token := s.token(t)
		r := do(t, s.c, "POST", s.base+"/logout", "application/x-www-form-urlencoded", "csrf="+url.QueryEscape(s.csrf))
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Fatalf("logout form: %d to %q, want 303 to /login", r.code, r.header.Get("Location"))
		}
		if r := withCookie(t, e.srv, "GET", "/api/staff/state", token); r.code != http.StatusUnauthorized {
			t.Errorf("the old token after logout: %s, want 401", r)
		}
	})

	t.Run("disabling and a new password end sessions", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		e.addAccount(t, "bo", node.RoleStaff, "bo-password-01")
		anna := login(t, e.srv, "anna", "anna-password-1")
		bo := login(t, e.srv, "bo", "bo-password-01")
		ctx := context.Background()
		if err := e.l.Accounts().SetDisabled(ctx, "anna", true); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, anna); code != http.StatusUnauthorized {
			t.Errorf("after disabling: %d, want 401", code)
		}
		if code, _ := state(t, bo); code != http.StatusOK {
			t.Errorf("another account after disabling anna: %d", code)
		}
		// Enabling again does not bring the old session back.
		if err := e.l.Accounts().SetDisabled(ctx, "anna", false); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, anna); code != http.StatusUnauthorized {
			t.Errorf("after enabling again: %d, want 401", code)
		}
		if err := e.l.Accounts().SetPassword(ctx, "bo", "bo-new-password"); err != nil {
			t.Fatal(err)
		}
		if code, _ := state(t, bo); code != http.StatusUnauthorized {
			t.Errorf("after a new password: %d, want 401", code)
		}
		if r := tryLogin(t, newClient(t, e.srv), e.srv.URL, "bo", "bo-password-01"); r.code != http.StatusUnauthorized {
			t.Errorf("the old password: %s", r)
		}
		if code, _ := state(t, login(t, e.srv, "bo", "bo-new-password")); code != http.StatusOK {
			t.Errorf("with the new password: %d", code)
		}
	})

	t.Run("sessions survive a restart", func(t *testing.T) {
		e := newAuthEnv(t, Options{}, false, nil)
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		s := login(t, e.srv, "anna", "anna-password-1")
		token := s.token(t)
		e.srv.Close()

		// A new server on the same log.
		srv2 := httptest.NewServer(New(e.opts))
		t.Cleanup(srv2.Close)
		if r := withCookie(t, srv2, "GET", "/api/staff/state", token); r.code != http.StatusOK {
			t.Errorf("new server, same log: %s", r)
		}
		srv2.Close()

		// A new process: the log closed and opened again.
		if err := e.l.Close(); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, e.file, nil)
		opts := e.opts
		opts.Log = l
		srv3 := httptest.NewServer(New(opts))
		t.Cleanup(srv3.Close)
		r := withCookie(t, srv3, "GET", "/api/staff/state", token)
		var m me
		if r.code != http.StatusOK || json.Unmarshal(r.body, &m) != nil || m.Me.Name != "anna" {
			t.Errorf("log reopened: %s", r)
		}
		// And the CSRF token still fits it.
		r = withCookie(t, srv3, "POST", "/api/staff/announcements", token, "X-CSRF-Token", s.csrf)
		if r.code != http.StatusBadRequest { // "{}" has no title: past the guard, refused by validation
			t.Errorf("a change after the restart: %s, want 400 from the handler", r)
		}
		changed := "x" + token[1:]
		if token[0] == 'x' {
			changed = "y" + token[1:]
		}
		if r := withCookie(t, srv3, "GET", "/api/staff/state", changed); r.code != http.StatusUnauthorized {
			t.Errorf("a changed token after the restart: %s", r)
		}
	})

	t.Run("idle, lifetime and clock set back", func(t *testing.T) {
		start := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
		wall := &wallClock{t: start}
		e := newAuthEnv(t, Options{}, false, node.NewClock(wall.Now))
		e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
		s := login(t, e.srv, "anna", "anna-password-1")
		// Active every hour and a half: alive until the lifetime ends.
		at := start
		for at.Add(90 * time.Minute).Before(start.Add(node.SessionLifetime)) {
			at = at.Add(90 * time.Minute)
			wall.Set(at)
			if code, _ := state(t, s); code != http.StatusOK {
				t.Fatalf("active at %v: %d", at.Sub(start), code)
			}
		}
		wall.Set(start.Add(node.SessionLifetime + time.Minute))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("after the lifetime: %d, want 401", code)
		}

		wall.Set(start)
		s = login(t, e.srv, "anna", "anna-password-1")
		wall.Set(start.Add(node.SessionIdle + time.Minute))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("after %v idle: %d, want 401", node.SessionIdle+time.Minute, code)
		}

		wall.Set(start)
		s = login(t, e.srv, "anna", "anna-password-1")
		wall.Set(start.Add(-time.Hour))
		if code, _ := state(t, s); code != http.StatusUnauthorized {
			t.Errorf("clock set back an hour: %d, want 401", code)
		}
	})

	t.Run("cookie", func(t *testing.T) {
		for _, useTLS := range []bool{true, false} {
			t.Run("tls="+strconv.FormatBool(useTLS), func(t *testing.T) {
				e := newAuthEnv(t, Options{StaffTLS: useTLS, HTTPSPort: "1"}, useTLS, nil)
				e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
				c := newClient(t, e.srv)
				r := tryLogin(t, c, e.srv.URL, "anna", "anna-password-1")
				if r.code != http.StatusOK {
					t.Fatalf("login: %s", r)
				}
				resp := http.Response{Header: r.header}
				cookies := resp.Cookies()
				if len(cookies) != 1 {
					t.Fatalf("%d cookies set, want 1: %v", len(cookies), r.header.Values("Set-Cookie"))
				}
				ck := cookies[0]
				wantName := cookiePlain
				if useTLS {
					wantName = cookieTLS
				}
				if ck.Name != wantName || ck.Secure != useTLS || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode ||
					ck.Path != "/" || ck.Domain != "" || ck.MaxAge != int(node.SessionLifetime.Seconds()) || len(ck.Value) < 40 {
					t.Errorf("cookie %s, want %s, Secure=%v, HttpOnly, SameSite=Strict, Path=/, host-only, Max-Age %v",
						r.header.Get("Set-Cookie"), wantName, useTLS, node.SessionLifetime)
				}
				if raw := r.header.Get("Set-Cookie"); !strings.Contains(raw, "SameSite=Strict") {
					t.Errorf("raw cookie %q lacks SameSite=Strict", raw)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("login answer Cache-Control %q, want no-store", cc)
				}
				// The cookie opens the session on this scheme.
				if r := do(t, c, "GET", e.srv.URL+"/api/staff/state", "", ""); r.code != http.StatusOK {
					t.Errorf("state with the cookie: %s", r)
				}
			})
		}
	})
}

func TestStaffTLSRedirect(t *testing.T) {
	e := newAuthEnv(t, Options{StaffTLS: true, HTTPSPort: "8443"}, false, nil)
	e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
	c := newClient(t, e.srv)
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
		{"POST", "/api/login", "application/json", loginJSON("anna", "anna-password-1"), "", 308, "https://127.0.0.1:8443/api/login"},
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
	hashes := node.HashCount()
	before := eventCount(t, e.l)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.host, func(t *testing.T) {
			var hdr []string
			if tt.host != "" {
				hdr = []string{"Host", tt.host}
			}
			r := do(t, c, tt.method, e.srv.URL+tt.path, tt.ctype, tt.body, hdr...)
			if r.code != tt.code || r.header.Get("Location") != tt.location {
				t.Errorf("got %d to %q, want %d to %q", r.code, r.header.Get("Location"), tt.code, tt.location)
			}
			if r.header.Get("Set-Cookie") != "" {
				t.Errorf("plain HTTP set a cookie")
			}
		})
	}
	if n := node.HashCount() - hashes; n != 0 {
		t.Errorf("plain-HTTP logins ran %d hashes: the password was checked before the redirect", n)
	}
	if after := eventCount(t, e.l); after != before+1 {
		t.Errorf("%d events written, want only the report", after-before)
	}

	// Over TLS the same server logs in.
	tlsEnv := newAuthEnv(t, Options{StaffTLS: true, HTTPSPort: "8443"}, true, nil)
	tlsEnv.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
	tc := newClient(t, tlsEnv.srv)
	if r := do(t, tc, "GET", tlsEnv.srv.URL+"/login", "", ""); r.code != http.StatusOK {
		t.Errorf("GET /login over TLS: %s", r)
	}
	if s := login(t, tlsEnv.srv, "anna", "anna-password-1"); s.get(t, "/board").code != http.StatusOK {
		t.Error("GET /board over TLS after login failed")
	}
}

func TestLoginForm(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")

	t.Run("page", func(t *testing.T) {
		r := do(t, newClient(t, e.srv), "GET", e.srv.URL+"/login?next="+url.QueryEscape("//evil.example"), "", "")
		page := string(r.body)
		if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /login: %d %s", r.code, r.header.Get("Content-Type"))
		}
		for _, want := range []string{`<form method="post" action="/login">`, `name="name"`, `name="password"`, `type="password"`, `name="next" value="/board"`} {
			if !strings.Contains(page, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
		if strings.Contains(page, "evil.example") {
			t.Error("the login page carries an off-site next")
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
	})

	formLogin := func(t *testing.T, name, password, next string) reply {
		t.Helper()
		v := url.Values{"name": {name}, "password": {password}}
		if next != "" {
			v.Set("next", next)
		}
		return do(t, newClient(t, e.srv), "POST", e.srv.URL+"/login", "application/x-www-form-urlencoded", v.Encode())
	}

	t.Run("wrong password", func(t *testing.T) {
		r := formLogin(t, "anna", "not-annas-password", "/board")
		if r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), "Fel namn eller lösenord") {
			t.Errorf("got %d, want 401 with the message", r.code)
		}
		if r.header.Get("Set-Cookie") != "" {
			t.Error("a failed login set a cookie")
		}
	})

	tests := []struct{ next, location string }{
		{"/board", "/board"},
		{"//evil.example", "/board"},
		{"https://evil.example", "/board"},
		{`/\evil.example`, "/board"},
	}
	for _, tt := range tests {
		t.Run("next="+tt.next, func(t *testing.T) {
			r := formLogin(t, "anna", "anna-password-1", tt.next)
			if r.code != http.StatusSeeOther || r.header.Get("Location") != tt.location {
				t.Errorf("got %d to %q, want 303 to %q", r.code, r.header.Get("Location"), tt.location)
			}
			if !strings.HasPrefix(r.header.Get("Set-Cookie"), cookiePlain+"=") {
				t.Errorf("no session cookie: %q", r.header.Get("Set-Cookie"))
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"", "/board"},
		{"/board", "/board"},
		{"/board?published=1", "/board?published=1"},
		{"/api/staff/state", "/api/staff/state"},
		{"//evil.example", "/board"},
		{"//evil.example/board", "/board"},
		{"///evil.example", "/board"},
		{"https://evil.example", "/board"},
		{"http://evil.example/board", "/board"},
		{"javascript:alert(1)", "/board"},
		{"evil.example", "/board"},
		{"board", "/board"},
		{`/\evil.example`, "/board"},
		{`\\evil.example`, "/board"},
		{"/\t/evil.example", "/board"},
		{"/\n/evil.example", "/board"},
		{"/\r\nSet-Cookie: x=y", "/board"},
		{" //evil.example", "/board"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.next), func(t *testing.T) {
			got := safeNext(tt.next)
			if got != tt.want {
				t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
			}
			// Whatever it gives must be a path on this site.
			u, err := url.Parse(got)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
				t.Errorf("safeNext(%q) = %q leaves the site", tt.next, got)
			}
		})
	}
}

func TestBoardEscapes(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "anna", node.RoleStaff, "anna-password-1")
	s := login(t, e.srv, "anna", "anna-password-1")
	body, _ := json.Marshal(AnnouncementRequest{
		Title:    map[string]string{"sv": "<script>alert(1)</script>", "en": "<b>bold</b>"},
		Body:     map[string]string{"sv": `"><img src=x onerror=alert(2)>`},
		Severity: "warning",
	})
	if r := s.postJSON(t, "/api/staff/announcements", string(body)); r.code != http.StatusCreated {
		t.Fatalf("publishing: %s", r)
	}
	r := s.get(t, "/board")
	page := string(r.body)
	if r.code != http.StatusOK {
		t.Fatalf("GET /board: %d", r.code)
	}
	for _, raw := range []string{"<script>alert(1)", "<img src=x", "onerror=alert(2)>"} {
		if strings.Contains(page, raw) {
			t.Errorf("the board holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("the board lacks %q", escaped)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The public JSON escapes it too.
	st := do(t, newClient(t, e.srv), "GET", e.srv.URL+"/api/status", "", "")
	if strings.Contains(string(st.body), "<script>") {
		t.Error("GET /api/status holds <script> unescaped")
	}
}

func TestAccountsAPI(t *testing.T) {
	e := newAuthEnv(t, Options{}, false, nil)
	e.addAccount(t, "adam", node.RoleAdmin, "adam-password-1")
	admin := login(t, e.srv, "adam", "adam-password-1")
	before := eventCount(t, e.l)

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.postJSON(t, "/api/staff/accounts", tt.body)
			if r.code != tt.code {
				t.Errorf("got %s, want %d", r, tt.code)
			}
			if r.code >= 400 && r.errorText() == "" {
				t.Errorf("error answer without a JSON error: %s", r)
			}
		})
	}

	r := admin.get(t, "/api/staff/accounts")
	if r.code != http.StatusOK {
		t.Fatalf("listing: %s", r)
	}
	for _, secret := range []string{"$argon2id", "argon2", "bertil-password", "hash", "password"} {
		if bytes.Contains(bytes.ToLower(r.body), []byte(strings.ToLower(secret))) {
			t.Errorf("the account list holds %q: %s", secret, r.body)
		}
	}
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("listing: %v", err)
	}
	got := map[string]string{}
	for _, a := range list {
		name, _ := a["name"].(string)
		role, _ := a["role"].(string)
		got[name] = role
		for k := range a {
			if k != "name" && k != "role" && k != "disabled" && k != "created" {
				t.Errorf("account %s has the field %q", name, k)
			}
		}
	}
	if want := map[string]string{"adam": "admin", "bertil": "staff", "vera": "viewer"}; !mapsEqual(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}

	bertil := login(t, e.srv, "bertil", "bertil-password")
	if r := admin.postJSON(t, "/api/staff/accounts/bertil/disable", ""); r.code != http.StatusNoContent {
		t.Fatalf("disabling bertil: %s", r)
	}
	if r := bertil.get(t, "/api/staff/state"); r.code != http.StatusUnauthorized {
		t.Errorf("bertil's session after disabling: %s, want 401", r)
	}
	if r := tryLogin(t, newClient(t, e.srv), e.srv.URL, "bertil", "bertil-password"); r.code != http.StatusUnauthorized ||
		strings.TrimSpace(string(r.body)) != wrongLogin {
		t.Errorf("disabled bertil logging in: %s, want 401 %s", r, wrongLogin)
	}
	r = admin.get(t, "/api/staff/accounts")
	if !strings.Contains(string(r.body), `"name":"bertil","role":"staff","disabled":true`) {
		t.Errorf("bertil not listed as disabled: %s", r.body)
	}
	if r := admin.postJSON(t, "/api/staff/accounts/adam/disable", ""); r.code != http.StatusBadRequest {
		t.Errorf("disabling oneself: %s, want 400", r)
	}
	if r := admin.get(t, "/api/staff/state"); r.code != http.StatusOK {
		t.Errorf("the admin's session after trying to disable itself: %s", r)
	}
	if r := admin.postJSON(t, "/api/staff/accounts/nobody/disable", ""); r.code != http.StatusNotFound {
		t.Errorf("disabling an unknown account: %s, want 404", r)
	}
	if after := eventCount(t, e.l); after != before {
		t.Errorf("account changes wrote %d events: accounts are never events", after-before)
	}
}

func mapsEqual(a, b map[string]string) bool {
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

// syncBuffer is a bytes.Buffer for a logger shared by handler goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNoSecretsInLogs(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newAuthEnv(t, Options{Logger: logger}, false, nil)
	const (
		adminName, adminPassword = "Astrid-Lindqvist", "Tr0ll-Hare-Kaffe"
		staffName, staffPassword = "Bengt-Oskarsson", "Mossa-Granskog-77"
		newName, newPassword     = "Cecilia-Holm", "Norrsken-Fjallet-9"
		typedInNameBox           = "Hemligt-Losen-123" // a password typed in the wrong box
		unknownName              = "Okand-Person-Xyz"
	)
	e.addAccount(t, adminName, node.RoleAdmin, adminPassword)
	e.addAccount(t, staffName, node.RoleStaff, staffPassword)

	c := newClient(t, e.srv)
	var answers []reply
	answers = append(answers, tryLogin(t, c, e.srv.URL, adminName, staffPassword)) // wrong password
	answers = append(answers, tryLogin(t, c, e.srv.URL, typedInNameBox, adminPassword))
	answers = append(answers, tryLogin(t, c, e.srv.URL, unknownName, typedInNameBox))
	for _, r := range answers {
		if r.code != http.StatusUnauthorized {
			t.Errorf("a wrong login answered %s", r)
		}
		for _, s := range []string{adminName, typedInNameBox, unknownName, adminPassword, staffPassword} {
			if strings.Contains(string(r.body), s) {
				t.Errorf("a failed login's answer echoes %q: %s", s, r.body)
			}
		}
	}
	// The form echoes neither name nor password either.
	r := do(t, c, "POST", e.srv.URL+"/login", "application/x-www-form-urlencoded",
		url.Values{"name": {unknownName}, "password": {typedInNameBox}}.Encode())
	if r.code != http.StatusUnauthorized || strings.Contains(string(r.body), unknownName) || strings.Contains(string(r.body), typedInNameBox) {
		t.Errorf("a failed form login: %d, echoing the name or password", r.code)
	}

	admin := login(t, e.srv, adminName, adminPassword)
	staff := login(t, e.srv, staffName, staffPassword)
	steps := []struct {
		s      *session
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
	for _, s := range []*session{admin, staff} {
		tokens = append(tokens, s.token(t), s.csrf)
	}
	for _, st := range steps {
		var r reply
		if st.method == "GET" {
			r = st.s.get(t, st.path)
		} else {
			r = st.s.postJSON(t, st.path, st.body)
		}
		if r.code != st.code {
			t.Errorf("%s %s: %s, want %d", st.method, st.path, r, st.code)
		}
	}
	// A request with a stolen-looking cookie and a query string.
	withCookie(t, e.srv, "GET", "/api/staff/state?name="+url.QueryEscape(adminName), "forged-"+tokens[0])

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
