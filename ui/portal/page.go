package portal

import (
	"bytes"
	"net/http"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/web"
)

// page is what every resident page template gets.
type page struct {
	cat      *web.Catalog
	Lang     *web.Lang
	Langs    []*web.Lang
	Path     string // this page's path, for the language switch
	Nav      string // which page this is
	Title    string
	Point    node.Point
	Updated  string // "14:02", or "" when the clock is not trustworthy
	Live     bool   // the status block refreshes itself (with JS)
	Services []node.Service
	Counts   node.Counts
	Anns     []node.Announcement
	Guide    []web.Guide
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
	return h.Time().In(web.Stockholm).Format("15:04")
}

// When formats a time for residents: "24/11 18:00".
func (p *page) When(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(web.Stockholm).Format("2/1 15:04")
}

// Title of an announcement in the page's language, falling back to
// Swedish, then to any language it has.
func (p *page) Pick(m map[string]string) string {
	for _, code := range []string{p.Lang.Code, p.Lang.HTMLLang, p.Lang.FallbackCode(), web.DefaultLang, "en"} {
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
func (s *Portal) language(w http.ResponseWriter, r *http.Request) string {
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

func (s *Portal) newPage(w http.ResponseWriter, r *http.Request, nav, title string) *page {
	return s.pageIn(s.language(w, r), s.shownTime(), r, nav, title)
}

// shownTime is the wall time resident pages show: zero when the clock is
// not trustworthy.
func (s *Portal) shownTime() time.Time {
	if clock := s.log.Clock(); clock.Plausible() {
		return clock.Wall()
	}
	return time.Time{}
}

// pageIn builds a resident page in the language code at wall time now
// (from shownTime).
func (s *Portal) pageIn(code string, now time.Time, r *http.Request, nav, title string) *page {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	p := &page{cat: s.cat, Lang: s.cat.Lang(code), Langs: s.cat.Langs(), Path: r.URL.Path, Nav: nav,
		Point: v.Point, Services: v.Services, Counts: v.Counts, Nearby: s.opts.Nearby, Power: s.powerStatus()}
	p.Title = p.T(title)
	if !now.IsZero() {
		p.Updated = now.In(web.Stockholm).Format("15:04")
	}
	p.Anns = v.ActiveAnnouncements(now)
	p.Activation = v.Activation
	return p
}

// renderPortal renders a resident page. Pages that are the same for every
// resident in one language are cached until the state or the minute changes.
func (s *Portal) renderPortal(w http.ResponseWriter, r *http.Request, code int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, p); err != nil {
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

// portalError shows residents a plain page in their language.
func (s *Portal) portalError(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	p := s.newPage(w, r, "", title)
	p.Status, p.Message = code, msg
	s.renderPortal(w, r, code, "message.html", p)
}
