package web

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// The login: throttling per client and per name, one hash per attempt
// whatever went wrong, the form, and where it leads. The auth tests run
// real argon2id hashes (tens of milliseconds each), so they count their
// logins: every login is one hash.

const wrongLogin = `{"error":"wrong name or password"}`

// siteEnv is a site alone, on a real log: the login and the accounts.
type siteEnv struct {
	*webtest.Env
	h    http.Handler
	opts Options
}

func newSiteEnv(t *testing.T, opts Options) *siteEnv {
	t.Helper()
	e := &siteEnv{}
	e.Env = webtest.Start(t, nil, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		opts.Accounts, opts.Logger = staff, webtest.Discard()
		e.opts, e.h = opts, New(opts).Handler()
		return e.h
	})
	return e
}

func TestLoginThrottle(t *testing.T) {
	// lockName makes lockoutFailures failed logins for name and then tries
	// the right password; it returns the failed answers and the last one.
	lockName := func(t *testing.T, e *siteEnv, c *http.Client, name, right string) ([]webtest.Reply, webtest.Reply) {
		t.Helper()
		var fails []webtest.Reply
		for i := 0; i < lockoutFailures; i++ {
			fails = append(fails, webtest.TryLogin(t, c, e.Srv.URL, name, "wrong-password-"+strconv.Itoa(i)))
		}
		return fails, webtest.TryLogin(t, c, e.Srv.URL, name, right)
	}
	var locked [2]webtest.Reply // the 429s of the two lockouts, to compare
	for i, tt := range []struct {
		name   string
		exists bool
	}{{"existing name", true}, {"unknown name", false}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newSiteEnv(t, Options{})
			e.AddAccount(t, "other", accounts.RoleStaff, "other-password")
			if tt.exists {
				e.AddAccount(t, "target", accounts.RoleStaff, "right-password")
			}
			c := webtest.NewClient(t, e.Srv)
			fails, last := lockName(t, e, c, "target", "right-password")
			for j, r := range fails {
				if r.Code != http.StatusUnauthorized || strings.TrimSpace(string(r.Body)) != wrongLogin {
					t.Errorf("failure %d: got %s, want 401 %s", j+1, r, wrongLogin)
				}
			}
			if last.Code != http.StatusTooManyRequests {
				t.Fatalf("attempt %d with the right password: got %s, want 429", lockoutFailures+1, last)
			}
			if n := webtest.RetryAfter(t, last); n > int(lockoutDuration.Seconds()) || n < int(lockoutDuration.Seconds())-60 {
				t.Errorf("Retry-After %d s, want about %v", n, lockoutDuration)
			}
			if c := last.Header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("a locked login set %v", c)
			}
			locked[i] = last
			// A locked attempt costs no hash.
			hashes := accounts.HashCount()
			if r := webtest.TryLogin(t, c, e.Srv.URL, "target", "right-password"); r.Code != http.StatusTooManyRequests {
				t.Errorf("second attempt while locked: %s", r)
			}
			if n := accounts.HashCount() - hashes; n != 0 {
				t.Errorf("a locked attempt cost %d hashes", n)
			}
			// The form says so too.
			r := webtest.Do(t, c, "POST", e.Srv.URL+"/login", "application/x-www-form-urlencoded",
				url.Values{"name": {"target"}, "password": {"right-password"}}.Encode())
			if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), "För många försök") {
				t.Errorf("form while locked: %d %q", r.Code, r.Header.Get("Retry-After"))
			}
			// Another name is not locked.
			if r := webtest.TryLogin(t, c, e.Srv.URL, "other", "other-password"); r.Code != http.StatusOK {
				t.Errorf("another name while target is locked: %s", r)
			}
		})
	}
	if locked[0].Code != 0 && locked[1].Code != 0 {
		if !bytes.Equal(locked[0].Body, locked[1].Body) {
			t.Errorf("locked answers differ: existing %s, unknown %s", locked[0].Body, locked[1].Body)
		}
		if a, b := locked[0].Header.Get("Content-Type"), locked[1].Header.Get("Content-Type"); a != b {
			t.Errorf("locked answers' content types differ: %q, %q", a, b)
		}
	}

	t.Run("same answer", func(t *testing.T) {
		e := newSiteEnv(t, Options{})
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		c := webtest.NewClient(t, e.Srv)
		unknown := webtest.TryLogin(t, c, e.Srv.URL, "nobody-by-this-name", "anna-password-1")
		wrong := webtest.TryLogin(t, c, e.Srv.URL, "anna", "not-annas-password")
		for _, r := range []webtest.Reply{unknown, wrong} {
			if r.Code != http.StatusUnauthorized || strings.TrimSpace(string(r.Body)) != wrongLogin {
				t.Errorf("got %s, want 401 %s", r, wrongLogin)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Errorf("a failed login set a cookie")
			}
		}
		if !bytes.Equal(unknown.Body, wrong.Body) {
			t.Errorf("bodies differ: unknown name %q, wrong password %q", unknown.Body, wrong.Body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Retry-After", "Cache-Control"} {
			if unknown.Header.Get(h) != wrong.Header.Get(h) {
				t.Errorf("%s differs: unknown name %q, wrong password %q", h, unknown.Header.Get(h), wrong.Header.Get(h))
			}
		}
	})

	t.Run("success clears the count", func(t *testing.T) {
		e := newSiteEnv(t, Options{})
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		c := webtest.NewClient(t, e.Srv)
		for round := 0; round < 2; round++ {
			for i := 0; i < lockoutFailures-1; i++ {
				if r := webtest.TryLogin(t, c, e.Srv.URL, "anna", "wrong-password"); r.Code != http.StatusUnauthorized {
					t.Fatalf("round %d, failure %d: %s", round, i+1, r)
				}
			}
			if r := webtest.TryLogin(t, c, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
				t.Fatalf("round %d: right password after %d failures: %s", round, lockoutFailures-1, r)
			}
		}
	})

	t.Run("per client", func(t *testing.T) {
		e := newSiteEnv(t, Options{})
		e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
		c := webtest.NewClient(t, e.Srv)
		for i := 0; i < loginBurst; i++ {
			if r := webtest.TryLogin(t, c, e.Srv.URL, "name-"+strconv.Itoa(i), "some-password"); r.Code != http.StatusUnauthorized {
				t.Fatalf("attempt %d of the burst: %s", i+1, r)
			}
		}
		hashes := accounts.HashCount()
		for _, name := range []string{"another-name", "anna"} { // the right password too
			r := webtest.TryLogin(t, c, e.Srv.URL, name, "anna-password-1")
			if r.Code != http.StatusTooManyRequests {
				t.Fatalf("attempt past the burst as %s: %s, want 429", name, r)
			}
			if n := webtest.RetryAfter(t, r); n > int(loginEvery.Seconds()) {
				t.Errorf("Retry-After %d s, want at most %v", n, loginEvery)
			}
		}
		if n := accounts.HashCount() - hashes; n != 0 {
			t.Errorf("throttled attempts cost %d hashes", n)
		}
		// The limit is per client: the same server lets another address in.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/login", strings.NewReader(webtest.LoginJSON("anna", "anna-password-1")))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.7:40000"
		e.h.ServeHTTP(rec, req)
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
			g.failed(name, lockoutFailures, at)
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
			g.failed("anna", lockoutFailures, at)
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
		g.failed("anna", lockoutFailures, t0)
		fail(g, "anna", t0.Add(lockoutWindow-time.Minute), lockoutFailures-2)
		edge := t0.Add(lockoutWindow + time.Minute)
		g.failed("anna", lockoutFailures, edge) // the first has expired: lockoutFailures-1 within the window
		if isLocked(g, "anna", edge) {
			t.Fatalf("locked with %d failures within the window", lockoutFailures-1)
		}
		g.failed("anna", lockoutFailures, edge.Add(time.Second))
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
			if ok, _ := g.clients.Allow("192.0.2.1", t0); !ok {
				t.Fatalf("attempt %d of the burst refused", i+1)
			}
		}
		ok, wait := g.clients.Allow("192.0.2.1", t0)
		if ok || wait <= 0 || wait > loginEvery {
			t.Fatalf("past the burst: allowed %v, wait %v (want refused, up to %v)", ok, wait, loginEvery)
		}
		if ok, _ := g.clients.Allow("192.0.2.2", t0); !ok {
			t.Error("another client refused")
		}
		if ok, _ := g.clients.Allow("192.0.2.1", t0.Add(loginEvery-time.Second)); ok {
			t.Errorf("allowed before %v", loginEvery)
		}
		if ok, _ := g.clients.Allow("192.0.2.1", t0.Add(loginEvery)); !ok {
			t.Errorf("refused after %v", loginEvery)
		}
		if ok, _ := g.clients.Allow("192.0.2.1", t0.Add(loginEvery)); ok {
			t.Errorf("two attempts allowed after %v", loginEvery)
		}
	})

	t.Run("memory is bounded", func(t *testing.T) {
		g := newLoginGuard()
		g.failed("anna", lockoutFailures, t0)
		for i := 0; len(g.locks) < maxTrackedNames; i++ {
			g.failed("made-up-"+strconv.Itoa(i), lockoutFailures, t0)
		}
		g.failed("one-too-many", lockoutFailures, t0)
		if len(g.locks) > maxTrackedNames {
			t.Errorf("%d names tracked, at most %d", len(g.locks), maxTrackedNames)
		}
		// A name already tracked is still counted when the table is full.
		fail(g, "anna", t0, lockoutFailures-1)
		if !isLocked(g, "anna", t0) {
			t.Error("a tracked name was not locked while the table was full")
		}
		// Once the made-up names are old, they are forgotten.
		later := t0.Add(lockoutWindow + lockoutDuration + time.Second)
		g.failed("new-name", lockoutFailures, later)
		if len(g.locks) > 2 {
			t.Errorf("%d names still tracked after they all expired", len(g.locks))
		}
	})
}

func TestLoginCostsOneHash(t *testing.T) {
	e := newSiteEnv(t, Options{})
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	e.AddAccount(t, "dora", accounts.RoleStaff, "dora-password-1")
	if err := e.Accounts.SetDisabled(context.Background(), "dora", true); err != nil {
		t.Fatal(err)
	}
	c := webtest.NewClient(t, e.Srv)
	// Warm up: the first unknown name makes the dummy hash.
	webtest.TryLogin(t, c, e.Srv.URL, "warm-up", "warm-up-password")

	cases := []struct{ name, user, password string }{
		{"unknown name", "nobody-by-this-name", "anna-password-1"},
		{"wrong password", "anna", "not-annas-password"},
		{"disabled account", "dora", "dora-password-1"},
	}
	var bodies [][]byte
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := accounts.HashCount()
			r := webtest.TryLogin(t, c, e.Srv.URL, tt.user, tt.password)
			if n := accounts.HashCount() - before; n != 1 {
				t.Errorf("cost %d argon2id hashes, want 1", n)
			}
			if r.Code != http.StatusUnauthorized || strings.TrimSpace(string(r.Body)) != wrongLogin {
				t.Errorf("got %s, want 401 %s", r, wrongLogin)
			}
			bodies = append(bodies, r.Body)
		})
	}
	for i := 1; i < len(bodies); i++ {
		if !bytes.Equal(bodies[0], bodies[i]) {
			t.Errorf("%s answers %q, %s answers %q", cases[0].name, bodies[0], cases[i].name, bodies[i])
		}
	}
	// The right password costs one hash as well, and works.
	before := accounts.HashCount()
	if r := webtest.TryLogin(t, c, e.Srv.URL, "anna", "anna-password-1"); r.Code != http.StatusOK {
		t.Errorf("right password: %s", r)
	}
	if n := accounts.HashCount() - before; n != 1 {
		t.Errorf("a successful login cost %d hashes, want 1", n)
	}

	t.Run("timing", func(t *testing.T) {
		// A loose check: the hash dominates either way. In-process, without
		// the network, with a fresh guard for every attempt.
		s := New(e.opts)
		h := s.Handler()
		timeLogin := func(name, password string) time.Duration {
			s.logins = newLoginGuard()
			req := httptest.NewRequest("POST", "/api/login", strings.NewReader(webtest.LoginJSON(name, password)))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
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

func TestLoginForm(t *testing.T) {
	e := newSiteEnv(t, Options{})
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")

	t.Run("page", func(t *testing.T) {
		r := webtest.Do(t, webtest.NewClient(t, e.Srv), "GET", e.Srv.URL+"/login?next="+url.QueryEscape("//evil.example"), "", "")
		page := string(r.Body)
		if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /login: %d %s", r.Code, r.Header.Get("Content-Type"))
		}
		for _, want := range []string{`<form method="post" action="/login">`, `name="name"`, `name="password"`, `type="password"`, `name="next" value="/board"`} {
			if !strings.Contains(page, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
		if strings.Contains(page, "evil.example") {
			t.Error("the login page carries an off-site next")
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
	})

	formLogin := func(t *testing.T, name, password, next string) webtest.Reply {
		t.Helper()
		v := url.Values{"name": {name}, "password": {password}}
		if next != "" {
			v.Set("next", next)
		}
		return webtest.Do(t, webtest.NewClient(t, e.Srv), "POST", e.Srv.URL+"/login", "application/x-www-form-urlencoded", v.Encode())
	}

	t.Run("wrong password", func(t *testing.T) {
		r := formLogin(t, "anna", "not-annas-password", "/board")
		if r.Code != http.StatusUnauthorized || !strings.Contains(string(r.Body), "Fel namn eller lösenord") {
			t.Errorf("got %d, want 401 with the message", r.Code)
		}
		if r.Header.Get("Set-Cookie") != "" {
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
			if r.Code != http.StatusSeeOther || r.Header.Get("Location") != tt.location {
				t.Errorf("got %d to %q, want 303 to %q", r.Code, r.Header.Get("Location"), tt.location)
			}
			if !strings.HasPrefix(r.Header.Get("Set-Cookie"), webtest.CookiePlain+"=") {
				t.Errorf("no session cookie: %q", r.Header.Get("Set-Cookie"))
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
