package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/sync/link"

	"github.com/safepoint-se/safepoint/node"
)

// Nearby is another safety point residents can go to, from the config.
type Nearby struct {
	Name  string `toml:"name" json:"name"`
	Where string `toml:"where" json:"where"` // directions in words
	Phone string `toml:"phone" json:"phone,omitempty"`
}

// page is what every resident page template gets.
type page struct {
	cat      *Catalog
	Lang     *Lang
	Langs    []*Lang
	Path     string // this page's path, for the language switch
	Nav      string // which page this is
	Title    string
	Point    node.Point
	Updated  string // "14:02", or "" when the clock is not trustworthy
	Live     bool   // the status block refreshes itself (with JS)
	Services []node.Service
	Counts   node.Counts
	Anns     []node.Announcement
	Guide    []Guide
	Nearby   []Nearby
	Power    *powermon.Status // nil: no power source watched
	Form     *form
	Receipt  *receiptView
	// Activation is the municipality's word on the point: activated,
	// deactivated, or an exercise (always labelled as one).
	Activation *node.Activation
	Status     int
	Message    string
}

// T translates key into the page's language.
func (p *page) T(key string, args ...any) string { return p.cat.T(p.Lang.Code, key, args...) }

// Clock formats an HLC's wall time for residents: HH:MM Swedish time, or
// nothing when the time is not trustworthy.
func (p *page) Clock(h node.HLC) string {
	if h.Time().Before(node.EarliestPlausible) {
		return ""
	}
	return h.Time().In(stockholm).Format("15:04")
}

// When formats a time for residents: "24/11 18:00".
func (p *page) When(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(stockholm).Format("2/1 15:04")
}

// Title of an announcement in the page's language, falling back to
// Swedish, then to any language it has.
func (p *page) Pick(m map[string]string) string {
	for _, code := range []string{p.Lang.Code, p.Lang.HTMLLang, p.Lang.fallback(), DefaultLang, "en"} {
		if s := m[code]; s != "" {
			return s
		}
	}
	for _, s := range m {
		return s
	}
	return ""
}

// KnownServices are the services staff have set, open ones first.
func (p *page) KnownServices() []node.Service {
	var open, rest []node.Service
	for _, s := range p.Services {
		switch s.Status {
		case node.ServiceOpen:
			open = append(open, s)
		case node.ServiceUnknown:
		default:
			rest = append(rest, s)
		}
	}
	return append(open, rest...)
}

// Needs, Categories and Urgencies are the choices the forms offer.
func (p *page) Needs() []string      { return node.Needs }
func (p *page) Categories() []string { return node.Categories }
func (p *page) Urgencies() []string  { return node.Urgencies }

// annCtx is an announcement with the page it is shown on.
type annCtx struct {
	*page
	A node.Announcement
}

// With pairs an announcement with the page, for the "ann" template.
func (p *page) With(a node.Announcement) annCtx { return annCtx{p, a} }

// form is a form's values and the fields at fault after a failed post.
type form struct {
	Token  string
	Values map[string]string
	Bad    map[string]string
}

// Val returns a submitted value, to refill the form.
func (f *form) Val(name string) string { return f.Values[name] }

// Err returns the fault of a field: "required", "invalid" or "".
func (f *form) Err(name string) string { return f.Bad[name] }

// Sizes offers household sizes in the check-in form.
func (f *form) Sizes() []int {
	out := make([]int, 0, 12)
	for i := 1; i <= 12; i++ {
		out = append(out, i)
	}
	return out
}

type receiptView struct {
	Code      string
	Kind      string
	Received  string // "14:02", or "" when the clock was not trustworthy
	Household string
	Status    string // a report's status: new, acknowledged, in_progress, resolved
	Fresh     bool   // just submitted: say thank you
	// Delivered is when central acknowledged the event ("14:05"); Pending
	// says it has not yet, on a node that syncs.
	Delivered string
	Pending   bool
}

// langCookie remembers a resident's language choice.
const langCookie = "lang"

// language picks a resident page's language: ?lang= (remembered in a
// cookie), the cookie, then Accept-Language. The answer varies with them.
func (s *Server) language(w http.ResponseWriter, r *http.Request) string {
	var explicit []string
	if r.URL.RawQuery != "" {
		if q := r.URL.Query().Get("lang"); q != "" && s.cat.Has(q) {
			explicit = append(explicit, q)
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
	}
	if c, err := r.Cookie(langCookie); err == nil {
		explicit = append(explicit, c.Value)
	}
	w.Header().Set("Vary", "Accept-Language, Cookie")
	return s.cat.Negotiate(explicit, r.Header.Get("Accept-Language"))
}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request, nav, title string) *page {
	return s.pageIn(s.language(w, r), s.shownTime(), r, nav, title)
}

// shownTime is the wall time resident pages show: zero when the clock is
// not trustworthy.
func (s *Server) shownTime() time.Time {
	if clock := s.log.Clock(); clock.Plausible() {
		return clock.Wall()
	}
	return time.Time{}
}

// pageIn builds a resident page in the language code at wall time now
// (from shownTime).
func (s *Server) pageIn(code string, now time.Time, r *http.Request, nav, title string) *page {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	p := &page{cat: s.cat, Lang: s.cat.Lang(code), Langs: s.cat.Langs(), Path: r.URL.Path, Nav: nav,
		Point: v.Point, Services: v.Services, Counts: v.Counts, Nearby: s.opts.Nearby, Power: s.powerStatus()}
	p.Title = p.T(title)
	if !now.IsZero() {
		p.Updated = now.In(stockholm).Format("15:04")
	}
	p.Anns = v.ActiveAnnouncements(now)
	p.Activation = v.Activation
	return p
}

// renderPortal renders a resident page. Pages that are the same for every
// resident in one language are cached until the state or the minute changes.
func (s *Server) renderPortal(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.portal.ExecuteTemplate(&buf, name, p); err != nil {
		s.logger.Error("Rendering failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// pageCache keeps rendered read-only pages per path and language while the
// log and the displayed minute stay the same: a crowd of phones refreshing
// the status page costs one render a minute. A hit takes no lock and does
// not look at the state.
type pageCache struct {
	mu  sync.Mutex // serialises put
	cur atomic.Pointer[pageGen]
}

// pageGen is one generation of the cache, never changed once stored.
type pageGen struct {
	// changed is the log's Changed channel taken before the pages' view
	// of the state: once it is closed, events have been folded in since.
	changed <-chan struct{}
	minute  int64 // the displayed minute, from pageMinute
	pages   map[pageKey]cachedBody
}

// pageKey names a cached page: its path, language and the power picture it
// shows (power changes without events, so it keys the page instead).
type pageKey struct{ path, lang, power string }

type cachedBody struct {
	b      []byte
	length string // Content-Length
}

// pageMinute is the minute a page rendered at now (from shownTime) shows,
// in Unix minutes: -1 when it shows no time. Stockholm's offset from UTC is
// whole hours, so the "15:04" on the page changes with it.
func pageMinute(now time.Time) int64 {
	if now.IsZero() {
		return -1
	}
	return now.Unix() / 60
}

// current reports whether the generation still shows what a page rendered
// now would.
func (g *pageGen) current(minute int64) bool {
	if g == nil || g.minute != minute {
		return false
	}
	select {
	case <-g.changed:
		return false
	default:
		return true
	}
}

func (c *pageCache) get(minute int64, key pageKey) (cachedBody, bool) {
	g := c.cur.Load()
	if !g.current(minute) {
		return cachedBody{}, false
	}
	b, ok := g.pages[key]
	return b, ok
}

// put stores a page rendered from a view taken after changed was current,
// unless a newer generation is already there.
func (c *pageCache) put(changed <-chan struct{}, minute int64, key pageKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := &pageGen{changed: changed, minute: minute, pages: map[pageKey]cachedBody{}}
	if g := c.cur.Load(); g != nil && g.changed == changed {
		if g.minute > minute {
			return // rendered before the minute turned: already stale
		}
		if g.minute == minute {
			maps.Copy(next.pages, g.pages)
		}
	}
	if !next.current(minute) {
		return // the state moved on while the page was rendered
	}
	next.pages[key] = cachedBody{b: b, length: strconv.Itoa(len(b))}
	c.cur.Store(next)
}

// cachedPage serves a read-only resident page from the cache or renders it.
func (s *Server) cachedPage(nav, title, tmpl string, fill func(*page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ps := s.powerStatus()
		key := pageKey{path: r.URL.Path, lang: s.language(w, r), power: powerKey(ps)}
		now := s.shownTime()
		minute := pageMinute(now)
		body, ok := s.cache.get(minute, key)
		if !ok {
			changed := s.log.Changed() // before the view the page is made from
			p := s.pageIn(key.lang, now, r, nav, title)
			p.Power = ps // the picture the key names
			if fill != nil {
				fill(p)
			}
			var buf bytes.Buffer
			if err := s.portal.ExecuteTemplate(&buf, tmpl, p); err != nil {
				s.logger.Error("Rendering failed", "page", tmpl, "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			s.cache.put(changed, minute, key, buf.Bytes())
			body = cachedBody{b: buf.Bytes(), length: strconv.Itoa(buf.Len())}
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Length", body.length)
		if r.Method != http.MethodHead {
			w.Write(body.b)
		}
	}
}

func (s *Server) statusPage() http.HandlerFunc {
	return s.cachedPage("status", "status.title", "status.html", func(p *page) { p.Live = true })
}

func (s *Server) announcementsPage() http.HandlerFunc {
	return s.cachedPage("announcements", "ann.title", "announcements.html", nil)
}

func (s *Server) guidancePage() http.HandlerFunc {
	return s.cachedPage("guidance", "guide.title", "guidance.html", func(p *page) { p.Guide = s.cat.Guide(p.Lang.Code) })
}

func (s *Server) contactPage() http.HandlerFunc {
	return s.cachedPage("contact", "contact.title", "contact.html", nil)
}

func (s *Server) checkinPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "checkin", "checkin.title")
	p.Form = &form{Token: node.NewCode(16), Values: map[string]string{"size": "1"}}
	// no-cache, not no-store: Back must show the same form, with the same
	// one-time token, so that submitting it again finds the first receipt.
	s.renderPortal(w, r, http.StatusOK, "checkin.html", p)
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "report", "report.title")
	p.Form = &form{Token: node.NewCode(16), Values: map[string]string{"urgency": "normal"}}
	s.renderPortal(w, r, http.StatusOK, "report.html", p)
}

// readForm parses a resident form, bounded. On failure it has answered.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, nav, title string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		code, msg := http.StatusBadRequest, "form.again"
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		s.portalError(w, r, code, "error.title", msg)
		return false
	}
	return true
}

// formKey makes the log key of a form's one-time token, so that a double
// tap or a resubmission after "back" finds the first submission.
func formKey(token string) string {
	if node.ValidCode(token, 16) {
		return "form:" + token
	}
	return ""
}

func (s *Server) checkinPost(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r, "checkin", "checkin.title") {
		return
	}
	f := r.PostForm
	size, err := strconv.Atoi(strings.TrimSpace(f.Get("size")))
	if err != nil {
		size = 0
	}
	req := CheckInRequest{Household: f.Get("household"), Size: size, Status: f.Get("status"), Need: f.Get("need"),
		Name: f.Get("name"), Contact: f.Get("contact"), Details: f.Get("details")}
	p, personal, v := s.buildCheckIn(req)
	if v.err != nil {
		s.refill(w, r, "checkin", "checkin.title", "checkin.html", v)
		return
	}
	d := node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: personal, PersonalKey: p.ID, Key: formKey(f.Get("token"))}
	e, err := s.log.Append(r.Context(), d)
	if err != nil {
		s.logger.Error("Append failed", "err", err)
		s.portalError(w, r, http.StatusServiceUnavailable, "error.title", "error.text")
		return
	}
	var stored node.CheckInCreated
	json.Unmarshal(e.Payload, &stored)
	http.Redirect(w, r, "/r/"+stored.Receipt+"?new=1", http.StatusSeeOther)
}

func (s *Server) reportPost(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r, "report", "report.title") {
		return
	}
	f := r.PostForm
	req := ReportRequest{Category: f.Get("category"), Text: f.Get("text"), Place: f.Get("place"), Urgency: f.Get("urgency")}
	p, v := s.buildReport(req)
	if v.err != nil {
		s.refill(w, r, "report", "report.title", "report.html", v)
		return
	}
	e, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeReportCreated, Payload: p, Key: formKey(f.Get("token"))})
	if err != nil {
		s.logger.Error("Append failed", "err", err)
		s.portalError(w, r, http.StatusServiceUnavailable, "error.title", "error.text")
		return
	}
	var stored node.ReportCreated
	json.Unmarshal(e.Payload, &stored)
	http.Redirect(w, r, "/r/"+stored.Receipt+"?new=1", http.StatusSeeOther)
}

// refill shows a form again with what was typed and the fields at fault.
func (s *Server) refill(w http.ResponseWriter, r *http.Request, nav, title, tmpl string, v *validator) {
	p := s.newPage(w, r, nav, title)
	values := map[string]string{}
	for k := range r.PostForm {
		values[k] = r.PostForm.Get(k)
	}
	token := r.PostForm.Get("token")
	if !node.ValidCode(token, 16) {
		token = node.NewCode(16)
	}
	p.Form = &form{Token: token, Values: values, Bad: v.bad}
	w.Header().Set("Cache-Control", "no-store")
	s.renderPortal(w, r, http.StatusBadRequest, tmpl, p)
}

func (s *Server) receiptPage(w http.ResponseWriter, r *http.Request) {
	code := node.NormalizeCode(r.PathValue("code"))
	p := s.newPage(w, r, "", "receipt.title")
	rec, ok := s.log.State().LookupReceipt(code)
	if !ok || !node.ValidCode(code, node.ReceiptLen) {
		p.Message = "receipt.notfound"
		s.renderPortal(w, r, http.StatusNotFound, "receipt.html", p)
		return
	}
	rv := &receiptView{Code: code, Kind: rec.Kind, Fresh: r.URL.Query().Get("new") == "1"}
	v := s.log.State().View()
	var occurred *time.Time
	switch rec.Kind {
	case "report":
		for _, rep := range v.Reports {
			if rep.ID == rec.ID {
				occurred, rv.Status = rep.OccurredAt, rep.Status
			}
		}
	case "checkin":
		for _, c := range v.CheckIns {
			if c.ID == rec.ID {
				occurred, rv.Household = c.OccurredAt, c.Household
			}
		}
	}
	// occurred_at is only set when the clock was trustworthy at the time.
	if occurred != nil {
		rv.Received = occurred.In(stockholm).Format("15:04")
	}
	if rec.Origin == s.log.Origin() && s.opts.Sync != nil {
		at, acked, err := s.log.AckedAt(r.Context(), link.Peer, rec.Seq)
		switch {
		case err != nil:
			s.logger.Error("Reading the acknowledgement failed", "err", err)
		case acked:
			rv.Delivered = at.In(stockholm).Format("15:04")
		default:
			rv.Pending = true
		}
	}
	p.Receipt = rv
	w.Header().Set("Cache-Control", "no-store")
	s.renderPortal(w, r, http.StatusOK, "receipt.html", p)
}

// portalError shows residents a plain page in their language.
func (s *Server) portalError(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	p := s.newPage(w, r, "", title)
	p.Status, p.Message = code, msg
	s.renderPortal(w, r, code, "message.html", p)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, http.StatusNotFound, "no such route")
		return
	}
	s.portalError(w, r, http.StatusNotFound, "notfound.title", "notfound.text")
}

// limitedForm rate-limits a resident form post, with a page that says so.
func (s *Server) limitedForm(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.public.allow(clientKey(r), time.Now()); !ok {
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
func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.portalURL(r), http.StatusFound)
}

// portalURL is the start page on the portal's own host name.
func (s *Server) portalURL(r *http.Request) string {
	if s.opts.PortalHost == "" {
		return "/"
	}
	return "http://" + s.opts.PortalHost + "/"
}

// captive sends a plain-HTTP request for any other host to the portal:
// with the point's DNS answering every name with the node, a phone asking
// for its news site lands here instead. Staff HTTPS is left alone.
func (s *Server) captive(next http.Handler) http.Handler {
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

// maxStreams bounds the live-update connections held open at once.
const maxStreams = 256

// events streams "something changed" to pages that refresh themselves
// (server-sent events): one line with the newest HLC per change, and a
// comment every 25 s that keeps the connection and its NAT entry alive.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many live connections", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	send := func(msg string) bool {
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprint(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 5000\n\n") {
		return
	}
	heartbeat := time.NewTicker(25 * time.Second)
	defer heartbeat.Stop()
	for {
		changed := s.log.Changed()
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-heartbeat.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case <-changed:
			// Coalesce a burst of changes into one message.
			time.Sleep(200 * time.Millisecond)
			if !send(fmt.Sprintf("data: %s\n\n", s.log.State().View().Last)) {
				return
			}
		}
	}
}
