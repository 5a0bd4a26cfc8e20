package portal

import (
	"embed"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// Options configure a Portal. Zero fields mean defaults.
type Options struct {
	Log    *eventlog.Log // required
	Logger *slog.Logger  // slog.Default() when nil
	// PostPerMinute is how many public submissions (reports, check-ins,
	// forms or API) one client may make per minute on average; 12 by
	// default, and a negative number turns the limit off (for tests).
	PostPerMinute float64
	// PostBurst is how many it may make at once; 10 by default.
	PostBurst int
	// Catalog holds the resident pages' languages; the built-in ones when nil.
	Catalog *web.Catalog
	// PortalHost is the host name (or address) residents' phones reach the
	// portal at. When set, plain-HTTP requests for any other host, and the
	// phones' captive-portal checks, are redirected to it.
	PortalHost string
	// Nearby lists other safety points for the contact page.
	Nearby []Nearby
	// Power reads the power monitor; nil when the node watches no source.
	Power func() powermon.Status
	// Sync reads the link to central; nil when none is configured.
	Sync func() api.SyncStatus
}

// Nearby is another safety point residents can go to, from the config.
type Nearby struct {
	Name  string `toml:"name" json:"name"`
	Where string `toml:"where" json:"where"` // directions in words
	Phone string `toml:"phone" json:"phone,omitempty"`
}

// Portal serves the residents: their pages, the captive-portal checks and
// the public JSON API.
type Portal struct {
	opts    Options
	log     *eventlog.Log
	logger  *slog.Logger
	public  *web.Limiter
	pages   *template.Template
	cat     *web.Catalog
	cache   pageCache
	streams chan struct{} // live-update connections, bounded
	// clientStreams bounds each address's share of them.
	clientStreams perClient
	done          <-chan struct{} // closed when the site closes: live streams end
}

//go:embed templates
var templateFS embed.FS

// New builds the portal around the node's log, on site.
func New(site *web.Site, opts Options) *Portal {
	s := &Portal{opts: opts, log: opts.Log, logger: opts.Logger, done: site.Done()}
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
	s.public = web.NewLimiter(perMinute/60, burst, 10*time.Minute)
	if perMinute < 0 {
		s.public = web.NewLimiter(float64(rate.Inf), 1, 10*time.Minute)
	}
	s.pages = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))
	s.cat = opts.Catalog
	if s.cat == nil {
		cat, err := web.LoadCatalog("")
		if err != nil {
			panic("portal: built-in languages: " + err.Error()) // a broken build, caught by every test
		}
		s.cat = cat
	}
	s.streams = make(chan struct{}, maxStreams)
	return s
}

// Routes are the residents' pages, the captive-portal checks and the
// public JSON API.
func (s *Portal) Routes() []web.Route {
	limited := func(h http.HandlerFunc) http.HandlerFunc { return s.public.Wrap(h).ServeHTTP }
	return []web.Route{
		{Method: "GET", Path: "/{$}", Access: web.Public, Handler: s.statusPage()},
		{Method: "GET", Path: "/announcements", Access: web.Public, Handler: s.announcementsPage()},
		{Method: "GET", Path: "/guidance", Access: web.Public, Handler: s.guidancePage()},
		{Method: "GET", Path: "/contact", Access: web.Public, Handler: s.contactPage()},
		{Method: "GET", Path: "/checkin", Access: web.Public, Handler: s.checkinPage},
		{Method: "POST", Path: "/checkin", Access: web.Public, Handler: s.limitedForm(s.checkinPost)},
		{Method: "GET", Path: "/report", Access: web.Public, Handler: s.reportPage},
		{Method: "POST", Path: "/report", Access: web.Public, Handler: s.limitedForm(s.reportPost)},
		{Method: "GET", Path: "/r/{code}", Access: web.Public, Handler: s.receiptPage},
		{Method: "GET", Path: "/events", Access: web.Public, Handler: s.events},
		{Method: "GET", Path: "/", Access: web.Public, Handler: s.notFound},
		// Captive-portal checks: Android, Apple, Windows, Firefox.
		{Method: "GET", Path: "/generate_204", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/gen_204", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/hotspot-detect.html", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/library/test/success.html", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/connecttest.txt", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/ncsi.txt", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/success.txt", Access: web.Public, Handler: s.probe},
		{Method: "GET", Path: "/canonical.html", Access: web.Public, Handler: s.probe},

		{Method: "GET", Path: "/api/status", Access: web.Public, Handler: s.status},
		{Method: "POST", Path: "/api/reports", Access: web.Public, Handler: limited(s.createReport)},
		{Method: "POST", Path: "/api/checkins", Access: web.Public, Handler: limited(s.createCheckIn)},
	}
}

// Wrap sends every plain-HTTP request for another host to the portal (see
// captive).
func (s *Portal) Wrap(next http.Handler) http.Handler { return s.captive(next) }

func (s *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		web.WriteError(w, http.StatusNotFound, "no such route")
		return
	}
	s.portalError(w, r, http.StatusNotFound, "notfound.title", "notfound.text")
}

// limitedForm rate-limits a resident form post, with a page that says so.
func (s *Portal) limitedForm(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.public.Allow(web.ClientKey(r), time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			s.portalError(w, r, http.StatusTooManyRequests, "ratelimit.title", "ratelimit.text")
			return
		}
		next(w, r)
	}
}

// probe answers the operating systems' captive-portal checks so that a
// phone joining the point's Wi-Fi opens the portal by itself: anything but
// the expected answer ("204", "Success", …) makes it show a login window,
// and the redirect puts our start page in it.
func (s *Portal) probe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.portalURL(r), http.StatusFound)
}

// portalURL is the start page on the portal's own host name.
func (s *Portal) portalURL(r *http.Request) string {
	if s.opts.PortalHost == "" {
		return "/"
	}
	return "http://" + s.opts.PortalHost + "/"
}

// captive sends a plain-HTTP request for any other host to the portal:
// with the point's DNS answering every name with the node, a phone asking
// for its news site lands here instead. Staff HTTPS is left alone.
func (s *Portal) captive(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.PortalHost == "" || r.TLS != nil || r.URL.Path == "/healthz" || sameHost(r.Host, s.opts.PortalHost) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "http://"+s.opts.PortalHost+"/", http.StatusFound)
	})
}

func sameHost(a, b string) bool {
	strip := func(h string) string {
		if host, _, err := net.SplitHostPort(h); err == nil {
			return host
		}
		return h
	}
	return strings.EqualFold(strip(a), strip(b))
}
