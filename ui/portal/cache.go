package portal

import (
	"bytes"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

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
func (s *Portal) cachedPage(nav, title, tmpl string, fill func(*page)) http.HandlerFunc {
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
			if err := s.pages.ExecuteTemplate(&buf, tmpl, p); err != nil {
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

func (s *Portal) statusPage() http.HandlerFunc {
	return s.cachedPage("status", "status.title", "status.html", func(p *page) { p.Live = true })
}

func (s *Portal) announcementsPage() http.HandlerFunc {
	return s.cachedPage("announcements", "ann.title", "announcements.html", nil)
}

func (s *Portal) guidancePage() http.HandlerFunc {
	return s.cachedPage("guidance", "guide.title", "guidance.html", func(p *page) { p.Guide = s.cat.Guide(p.Lang.Code) })
}

func (s *Portal) contactPage() http.HandlerFunc {
	return s.cachedPage("contact", "contact.title", "contact.html", nil)
}
