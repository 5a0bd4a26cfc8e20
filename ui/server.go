package ui

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"golang.org/x/time/rate"
)

// Options configure a Server. Zero fields mean defaults.
type Options struct {
	Log      *eventlog.Log      // required
	Accounts *accounts.Accounts // required: staff logins and sessions
	Logger   *slog.Logger       // slog.Default() when nil
	// PostPerMinute is how many public submissions (reports, check-ins,
	// forms or API) one client may make per minute on average; 12 by
	// default, and a negative number turns the limit off (for tests).
	PostPerMinute float64
	// PostBurst is how many it may make at once; 10 by default.
	PostBurst int
	// Catalog holds the resident pages' languages; the built-in ones when nil.
	Catalog *Catalog
	// PortalHost is the host name (or address) residents' phones reach the
	// portal at. When set, plain-HTTP requests for any other host, and the
	// phones' captive-portal checks, are redirected to it.
	PortalHost string
	// Nearby lists other safety points for the contact page.
	Nearby []Nearby
	// Power reads the power monitor; nil when the node watches no source.
	Power func() powermon.Status
	// PowerHistory returns the monitor's samples since a time.
	PowerHistory func(since time.Time) []powermon.Sample
	// CallDown flags open reports untouched this long; 30 min by default.
	CallDown time.Duration
	// Sync reads the link to central; nil when none is configured.
	Sync func() SyncStatus
	// Nodes lists the nodes central hears from (GET /api/nodes); nil on a node.
	Nodes func() any
	// Downlink sends directives to the nodes (central only; nil on a node).
	Downlink Downlink
	// StaffTLS, when set, keeps staff routes on HTTPS: on plain HTTP they
	// redirect to HTTPSPort on the same host.
	StaffTLS  bool
	HTTPSPort string
	// Fingerprint is the staff certificate's SHA-256 fingerprint, shown to
	// logged-in staff so they can compare it with what their browser shows.
	Fingerprint string
}

// Server serves the node's HTTP routes.
type Server struct {
	opts     Options
	log      *eventlog.Log
	accounts *accounts.Accounts
	logger   *slog.Logger
	public   *limiter
	logins   *loginGuard
	pages    *template.Template // staff
	portal   *template.Template // residents
	cat      *Catalog
	cache    pageCache
	streams  chan struct{} // live-update connections, bounded
	done     chan struct{} // closed by Close: live streams end
	closeMu  sync.Once
	hub      *hub
	handler  http.Handler
}

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// access says who may use a route.
type access int

const (
	public    access = iota
	staffPage        // HTML for staff: without a session, a redirect to /login
	staffAPI         // JSON for staff: without a session, 401
)

// route is one entry of the router. Every route is declared in routes(),
// so tests can sweep them all and a new one cannot be forgotten.
type route struct {
	method, path string
	access       access
	// role is the least role a staff route needs; the zero value means
	// viewer for reads and staff for changes.
	role    accounts.Role
	handler http.HandlerFunc
}

// mutating reports whether the route changes state.
func (r route) mutating() bool { return r.method != http.MethodGet && r.method != http.MethodHead }

func (r route) minRole() accounts.Role {
	switch {
	case r.role != "":
		return r.role
	case r.mutating():
		return accounts.RoleStaff
	}
	return accounts.RoleViewer
}

func (s *Server) routes() []route {
	limited := func(h http.HandlerFunc) http.HandlerFunc { return s.public.wrap(h).ServeHTTP }
	return []route{
		{method: "GET", path: "/{$}", access: public, handler: s.statusPage()},
		{method: "GET", path: "/announcements", access: public, handler: s.announcementsPage()},
		{method: "GET", path: "/guidance", access: public, handler: s.guidancePage()},
		{method: "GET", path: "/contact", access: public, handler: s.contactPage()},
		{method: "GET", path: "/checkin", access: public, handler: s.checkinPage},
		{method: "POST", path: "/checkin", access: public, handler: s.limitedForm(s.checkinPost)},
		{method: "GET", path: "/report", access: public, handler: s.reportPage},
		{method: "POST", path: "/report", access: public, handler: s.limitedForm(s.reportPost)},
		{method: "GET", path: "/r/{code}", access: public, handler: s.receiptPage},
		{method: "GET", path: "/events", access: public, handler: s.events},
		{method: "GET", path: "/", access: public, handler: s.notFound},
		// Captive-portal checks: Android, Apple, Windows, Firefox.
		{method: "GET", path: "/generate_204", access: public, handler: s.probe},
		{method: "GET", path: "/gen_204", access: public, handler: s.probe},
		{method: "GET", path: "/hotspot-detect.html", access: public, handler: s.probe},
		{method: "GET", path: "/library/test/success.html", access: public, handler: s.probe},
		{method: "GET", path: "/connecttest.txt", access: public, handler: s.probe},
		{method: "GET", path: "/ncsi.txt", access: public, handler: s.probe},
		{method: "GET", path: "/success.txt", access: public, handler: s.probe},
		{method: "GET", path: "/canonical.html", access: public, handler: s.probe},

		{method: "GET", path: "/healthz", access: public, handler: s.healthz},
		{method: "GET", path: "/static/", access: public, handler: s.static},
		{method: "GET", path: "/api/status", access: public, handler: s.status},
		{method: "POST", path: "/api/reports", access: public, handler: limited(s.createReport)},
		{method: "POST", path: "/api/checkins", access: public, handler: limited(s.createCheckIn)},

		{method: "GET", path: "/login", access: public, handler: s.loginPage},
		{method: "POST", path: "/login", access: public, handler: s.loginForm},
		{method: "POST", path: "/api/login", access: public, handler: s.loginAPI},
		{method: "POST", path: "/logout", access: staffAPI, role: accounts.RoleViewer, handler: s.logout},

		{method: "GET", path: "/board", access: staffPage, handler: s.board},
		{method: "POST", path: "/board/announcements", access: staffPage, handler: s.announceForm},
		{method: "GET", path: "/board/ws", access: staffAPI, handler: s.boardWS},
		{method: "GET", path: "/board/print", access: staffPage, handler: s.boardPrint},
		{method: "POST", path: "/board/reports/{id}/status", access: staffPage, handler: formAction(s, "reports", reportActionForm, s.setReportStatus)},
		{method: "POST", path: "/board/reports/{id}/assign", access: staffPage, handler: formAction(s, "reports", reportActionForm, s.assignReport)},
		{method: "POST", path: "/board/reports/{id}/comments", access: staffPage, handler: formAction(s, "reports", reportActionForm, s.commentReport)},
		{method: "POST", path: "/board/checkins", access: staffPage, handler: formAction(s, "checkins", staffCheckInForm, s.staffCheckIn)},
		{method: "POST", path: "/board/services", access: staffPage, handler: formAction(s, "services", serviceForm, s.setService)},
		{method: "POST", path: "/board/roster", access: staffPage, handler: formAction(s, "roster", rosterForm, s.setRoster)},
		{method: "POST", path: "/board/journal", access: staffPage, handler: formAction(s, "journal", journalForm, s.addJournal)},
		{method: "POST", path: "/board/clock", access: staffPage, handler: formAction(s, "clock", clockForm, s.setClock)},
		{method: "GET", path: "/api/staff/state", access: staffAPI, handler: s.staffState},
		{method: "GET", path: "/api/nodes", access: staffAPI, handler: s.nodes},
		// Central: directives to the nodes (docs/API.md, "Central").
		{method: "POST", path: "/api/announcements", access: staffAPI, handler: directive(s, s.centralAnnouncement)},
		{method: "GET", path: "/api/announcements/{id}", access: staffAPI, handler: s.directiveStatus},
		{method: "POST", path: "/api/announcements/{id}/withdraw", access: staffAPI, handler: s.withdrawAnnouncement},
		{method: "POST", path: "/api/activation", access: staffAPI, role: accounts.RoleAdmin, handler: directive(s, s.centralActivation)},
		{method: "POST", path: "/api/contacts", access: staffAPI, handler: directive(s, s.centralContacts)},
		{method: "POST", path: "/api/reports/{id}/status", access: staffAPI, handler: directive(s, s.centralReportStatus)},
		{method: "POST", path: "/api/reports/{id}/comments", access: staffAPI, handler: directive(s, s.centralReportComment)},
		{method: "GET", path: "/api/directives/{id}", access: staffAPI, handler: s.directiveStatus},
		// Central's staff page, forms without JavaScript (ui/central_page.go).
		{method: "GET", path: "/central", access: staffPage, handler: s.centralPage},
		{method: "POST", path: "/central/announcements", access: staffPage, handler: s.centralAnnounceForm},
		{method: "POST", path: "/central/activation", access: staffPage, role: accounts.RoleAdmin, handler: s.centralActivationForm},
		{method: "GET", path: "/central/directives/{id}", access: staffPage, handler: s.centralDirectivePage},
		{method: "GET", path: "/api/staff/power/history", access: staffAPI, handler: s.powerHistory},
		{method: "POST", path: "/api/staff/reports/{id}/status", access: staffAPI, handler: jsonAction(s, s.setReportStatus)},
		{method: "POST", path: "/api/staff/reports/{id}/assign", access: staffAPI, handler: jsonAction(s, s.assignReport)},
		{method: "POST", path: "/api/staff/reports/{id}/comments", access: staffAPI, handler: jsonAction(s, s.commentReport)},
		{method: "POST", path: "/api/staff/checkins", access: staffAPI, handler: jsonAction(s, s.staffCheckIn)},
		{method: "GET", path: "/api/staff/checkins/{id}/personal", access: staffAPI, role: accounts.RoleStaff, handler: s.checkinPersonal},
		{method: "POST", path: "/api/staff/services", access: staffAPI, handler: jsonAction(s, s.setService)},
		{method: "POST", path: "/api/staff/roster", access: staffAPI, handler: jsonAction(s, s.setRoster)},
		{method: "GET", path: "/api/staff/roster/contacts", access: staffAPI, role: accounts.RoleStaff, handler: s.rosterContacts},
		{method: "POST", path: "/api/staff/journal", access: staffAPI, handler: jsonAction(s, s.addJournal)},
		{method: "POST", path: "/api/staff/clock", access: staffAPI, handler: jsonAction(s, s.setClock)},
		{method: "POST", path: "/api/staff/announcements", access: staffAPI, handler: s.announceAPI},
		{method: "POST", path: "/api/staff/inventory", access: staffAPI, handler: s.inventoryAPI},
		{method: "POST", path: "/board/inventory", access: staffPage, handler: s.inventoryForm},
		{method: "GET", path: "/api/staff/accounts", access: staffAPI, role: accounts.RoleAdmin, handler: s.listAccounts},
		{method: "POST", path: "/api/staff/accounts", access: staffAPI, role: accounts.RoleAdmin, handler: s.addAccount},
		{method: "POST", path: "/api/staff/accounts/{name}/disable", access: staffAPI, role: accounts.RoleAdmin, handler: s.disableAccount},
	}
}

// New builds a server around the node's log.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Log, accounts: opts.Accounts, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	perMinute, burst := opts.PostPerMinute, opts.PostBurst
	if perMinute == 0 {
		perMinute = 12
	}
	if burst <= 0 {
		burst = 10
	}
	s.public = newLimiter(perMinute/60, burst, 10*time.Minute)
	if perMinute < 0 {
		s.public = newLimiter(float64(rate.Inf), 1, 10*time.Minute)
	}
	s.logins = newLoginGuard()
	s.pages = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	s.portal = template.Must(template.New("").ParseFS(templateFS, "templates/portal/*.html"))
	s.cat = opts.Catalog
	if s.cat == nil {
		cat, err := LoadCatalog("")
		if err != nil {
			panic("ui: built-in languages: " + err.Error()) // a broken build, caught by every test
		}
		s.cat = cat
	}
	s.streams, s.done = make(chan struct{}, maxStreams), make(chan struct{})
	s.hub = &hub{s: s, clients: map[*boardClient]struct{}{}}

	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		var h http.Handler = rt.handler
		switch {
		case rt.access != public:
			h = s.staffOnly(rt, h)
		case strings.HasPrefix(rt.path, "/login") || rt.path == "/api/login":
			h = s.requireTLS(h)
		}
		mux.Handle(rt.method+" "+rt.path, h)
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-site request refused")
	}))
	s.handler = s.logRequests(secureHeaders(s.captive(cop.Handler(mux))))
	return s
}

// Close ends the live-update streams, which would otherwise hold a
// graceful shutdown open. Register it with http.Server.RegisterOnShutdown.
func (s *Server) Close() { s.closeMu.Do(func() { close(s.done) }) }

// ServeHTTP makes a Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(staticFS, "static")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.StripPrefix("/static/", http.FileServerFS(sub)).ServeHTTP(w, r)
}

// requireTLS sends a request that came over plain HTTP to the HTTPS
// listener when staff routes are kept on HTTPS.
func (s *Server) requireTLS(next http.Handler) http.Handler {
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

// logRequests logs method, route, status and duration: never a body, a
// query string, a path's wildcard values, a cookie or a client address,
// which could identify a resident or a staff member or open a session.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r) // nothing to log: no recorder, no clock, no arguments
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// The route that matched, not the path asked for: a wildcard may
		// hold an account name ("/api/staff/accounts/{name}/disable").
		// A request that matched no route logs no path at all.
		path := "(no route)"
		if _, route, ok := strings.Cut(r.Pattern, " "); ok {
			path = route
		}
		s.logger.Debug("Request", "method", r.Method, "path", path,
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
	})
}

type ctxKey struct{}

// sessionFrom returns the session the staff middleware attached.
func sessionFrom(ctx context.Context) accounts.Session {
	s, _ := ctx.Value(ctxKey{}).(accounts.Session)
	return s
}
