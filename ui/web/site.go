package web

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/node/accounts"
)

// Options configure a Site. Zero fields mean defaults.
type Options struct {
	Accounts *accounts.Accounts // required: the staff accounts and their sessions
	Logger   *slog.Logger       // slog.Default() when nil
	// StaffTLS, when set, keeps staff routes on HTTPS: on plain HTTP they
	// redirect to HTTPSPort on the same host.
	StaffTLS  bool
	HTTPSPort string
	// Fingerprint is the staff certificate's SHA-256 fingerprint, shown to
	// logged-in staff so they can compare it with what their browser shows.
	Fingerprint string
	// DeviceKey signs the device cookies of staff logins (at least 32
	// bytes, kept in the data directory so they outlive a restart); a
	// random key for the process when empty.
	DeviceKey []byte
	// Health says why the daemon cannot do its job (its event log cannot
	// store); /healthz answers 503 with it. Nil: always healthy.
	Health func() error
}

// Site is the base the parts stand on: it guards their routes, serves the
// login, the accounts, /healthz and the static files, and ends the live
// connections (boards, streams) on Close.
type Site struct {
	opts      Options
	accounts  *accounts.Accounts
	logger    *slog.Logger
	logins    *loginGuard
	deviceKey []byte
	pages     *Pages        // the login page
	done      chan struct{} // closed by Close: live connections end
	closeMu   sync.Once
	requests  requestCounts
}

//go:embed static
var staticFS embed.FS

// New builds a site around the staff accounts.
func New(opts Options) *Site {
	s := &Site{opts: opts, accounts: opts.Accounts, logger: opts.Logger, done: make(chan struct{})}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.logins = newLoginGuard()
	if s.deviceKey = opts.DeviceKey; len(s.deviceKey) < 32 {
		s.deviceKey = newDeviceKey()
	}
	s.pages = ParsePages(s.logger, nil, templateFS, "templates/login.html")
	return s
}

// Access says who may use a route.
type Access int

const (
	Public    Access = iota // anyone
	StaffPage               // HTML for staff: without a session, a redirect to /login
	StaffAPI                // JSON for staff: without a session, 401
)

// Route is one entry of a part's route table. Every route a part serves is
// in its table, so tests can sweep them all and a new one cannot be
// forgotten by the guards.
type Route struct {
	Method, Path string
	Access       Access
	// Role is the least role a staff route needs; the zero value means
	// viewer for reads and staff for changes.
	Role    accounts.Role
	Handler http.HandlerFunc
}

// Mutating reports whether the route changes state.
func (r Route) Mutating() bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }

// MinRole is the least role the route needs.
func (r Route) MinRole() accounts.Role {
	switch {
	case r.Role != "":
		return r.Role
	case r.Mutating():
		return accounts.RoleStaff
	}
	return accounts.RoleViewer
}

// A Part is what one audience serves: its routes, which the site guards.
// A part that also implements Wrap(http.Handler) http.Handler wraps every
// request of the site (inside the security headers, outside the
// cross-origin check).
type Part interface {
	Routes() []Route
}

type wrapper interface {
	Wrap(http.Handler) http.Handler
}

// Routes are the site's own: health, static files, login, logout and the
// staff accounts.
func (s *Site) Routes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Access: Public, Handler: s.healthz},
		{Method: "GET", Path: "/static/", Access: Public, Handler: static},
		{Method: "GET", Path: "/login", Access: Public, Handler: s.loginPage},
		{Method: "POST", Path: "/login", Access: Public, Handler: s.loginForm},
		{Method: "POST", Path: "/api/login", Access: Public, Handler: s.loginAPI},
		{Method: "POST", Path: "/logout", Access: StaffAPI, Role: accounts.RoleViewer, Handler: s.logout},
		{Method: "GET", Path: "/api/staff/accounts", Access: StaffAPI, Role: accounts.RoleAdmin, Handler: s.listAccounts},
		{Method: "POST", Path: "/api/staff/accounts", Access: StaffAPI, Role: accounts.RoleAdmin, Handler: s.addAccount},
		{Method: "POST", Path: "/api/staff/accounts/{name}/disable", Access: StaffAPI, Role: accounts.RoleAdmin, Handler: s.disableAccount},
	}
}

// Handler serves the site's routes and the parts' behind their guards:
// HTTPS and a session with the route's role for staff routes, HTTPS for
// the login, cross-origin protection for every change, the security
// headers on every answer and a request log at debug level.
func (s *Site) Handler(parts ...Part) http.Handler {
	mux := http.NewServeMux()
	for _, p := range append([]Part{s}, parts...) {
		for _, rt := range p.Routes() {
			var h http.Handler = rt.Handler
			switch {
			case rt.Access != Public:
				h = refuseCrossSite(s.staffOnly(rt, h))
			case strings.HasPrefix(rt.Path, "/login") || rt.Path == "/api/login":
				h = s.requireTLS(h)
			}
			mux.Handle(rt.Method+" "+rt.Path, h)
		}
	}
	// Any other method and path is not found: a node knows no central
	// route and central no node route, before a login and after, whatever
	// the method (not 405 because a GET somewhere shares the path).
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such route")
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusForbidden, "cross-site request refused")
	}))
	h := cop.Handler(mux)
	for _, p := range parts {
		if w, ok := p.(wrapper); ok {
			h = w.Wrap(h)
		}
	}
	return s.observe(secureHeaders(h))
}

// refuseCrossSite refuses a browser's cross-site request to a staff route,
// reads too (http.CrossOriginProtection passes every GET): a page
// elsewhere must not load the board or a resident's personal data into a
// frame or a script, whatever SameSite the cookie has. A browser says
// where a request comes from in Sec-Fetch-Site; one too old to, in
// Origin. A request with neither (curl, a script) is no browser's.
func refuseCrossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As http.CrossOriginProtection decides: Sec-Fetch-Site when the
		// browser sends it (its Origin may be "null" under our
		// Referrer-Policy), else Origin against Host.
		switch site := r.Header.Get("Sec-Fetch-Site"); site {
		case "same-origin", "none":
		case "":
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || u.Host != r.Host {
					WriteError(w, http.StatusForbidden, "cross-site request refused")
					return
				}
			}
		default: // cross-site, same-site (another port or subdomain)
			WriteError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close ends the live connections, which would otherwise hold a graceful
// shutdown open. Register it with http.Server.RegisterOnShutdown.
func (s *Site) Close() { s.closeMu.Do(func() { close(s.done) }) }

// Done is closed when the site closes: a live connection ends then.
func (s *Site) Done() <-chan struct{} { return s.done }

// Fingerprint is the staff certificate's fingerprint; "" without staff TLS.
func (s *Site) Fingerprint() string { return s.opts.Fingerprint }

// healthz says ok only while the daemon can store what it is sent: a
// supervisor or a monitoring check then sees a node whose log fails.
func (s *Site) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.opts.Health != nil {
		if err := s.opts.Health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "unhealthy: "+err.Error()+"\n")
			return
		}
	}
	io.WriteString(w, "ok\n")
}

func static(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(staticFS, "static")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.StripPrefix("/static/", http.FileServerFS(sub)).ServeHTTP(w, r)
}

// requireTLS sends a request that came over plain HTTP to the HTTPS
// listener when staff routes are kept on HTTPS.
func (s *Site) requireTLS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.StaffTLS && r.TLS == nil {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			target := "https://" + net.JoinHostPort(host, s.opts.HTTPSPort) + r.URL.RequestURI()
			// 308 keeps the method, so a POST is not silently turned into a GET.
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secureHeaders sets the headers every answer carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer, to flush a
// live stream and set its deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// observe counts every answer by its route and status code, and at debug
// level logs method, route, status and duration: never a body, a query
// string, a path's wildcard values, a cookie or a client address, which
// could identify a resident or a staff member or open a session.
func (s *Site) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		debug := s.logger.Enabled(r.Context(), slog.LevelDebug)
		var start time.Time
		if debug {
			start = time.Now()
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		// The route that matched, not the path asked for: a wildcard may
		// hold an account name ("/api/staff/accounts/{name}/disable"), and
		// the patterns are few, so the counts stay few.
		s.requests.add(r.Pattern, status)
		if !debug {
			return
		}
		// A request that matched no route logs no path at all.
		path := "(no route)"
		if _, route, ok := strings.Cut(r.Pattern, " "); ok {
			path = route
		}
		s.logger.Debug("Request", "method", r.Method, "path", path,
			"status", status, "duration", time.Since(start).Round(time.Microsecond))
	})
}

// NoRoute is the route of a request answered before any route matched it:
// the captive portal's redirect, the rate limit, a cross-origin refusal.
const NoRoute = "none"

// RequestCount is how many requests a route answered with a status code.
type RequestCount struct {
	Route string // the mux pattern ("GET /api/status"; "/" for no such route), or NoRoute
	Code  int
	N     uint64
}

// Requests is every route and status code the site has answered since it
// was made, with how often, by route and then code.
func (s *Site) Requests() []RequestCount {
	return s.requests.list()
}

type routeCode struct {
	route string
	code  int
}

// requestCounts counts answers by route and status code: a read lock and an
// atomic add for a pair seen before, the write lock only for a new pair.
type requestCounts struct {
	mu sync.RWMutex
	n  map[routeCode]*atomic.Uint64
}

func (c *requestCounts) add(route string, code int) {
	k := routeCode{route, code}
	c.mu.RLock()
	n := c.n[k]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[routeCode]*atomic.Uint64{}
		}
		if n = c.n[k]; n == nil {
			n = new(atomic.Uint64)
			c.n[k] = n
		}
		c.mu.Unlock()
	}
	n.Add(1)
}

func (c *requestCounts) list() []RequestCount {
	c.mu.RLock()
	out := make([]RequestCount, 0, len(c.n))
	for k, n := range c.n {
		route := k.route
		if route == "" {
			route = NoRoute
		}
		out = append(out, RequestCount{Route: route, Code: k.code, N: n.Load()})
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b RequestCount) int {
		if c := strings.Compare(a.Route, b.Route); c != 0 {
			return c
		}
		return a.Code - b.Code
	})
	return out
}

type ctxKey struct{}

// SessionFrom returns the session the staff guard attached to a staff
// route's request.
func SessionFrom(ctx context.Context) accounts.Session {
	s, _ := ctx.Value(ctxKey{}).(accounts.Session)
	return s
}
