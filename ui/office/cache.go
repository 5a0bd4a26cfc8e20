package office

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// answers keeps the encoded answers of the picture's big JSON routes, one
// for each route, scope and query, for as long as the picture has not
// changed and the half minute (what alerts and silence are judged by) is
// the same: a thousand points are encoded once, not once a request, and
// the desks that ask together wait for one encoding.
type answers struct {
	mu      sync.Mutex
	entries map[string]*answer
}

type answer struct {
	version uint64
	slot    int64
	ready   chan struct{} // closed once body is set
	body    []byte
	gzOnce  sync.Once
	gz      []byte // body gzipped, made for the first client that takes it
}

// gzipped is the body compressed, once: a thousand points' JSON shrinks
// about tenfold, and a browser takes gzip.
func (e *answer) gzipped() []byte {
	e.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(e.body)
		zw.Close()
		e.gz = buf.Bytes()
	})
	return e.gz
}

// write sends the answer as JSON, gzipped for a client that takes it.
func (e *answer) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Add("Vary", "Accept-Encoding")
	body := e.body
	if acceptsGzip(r) {
		body = e.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (and does not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// maxAnswers bounds the cache: more scopes and queries than this at once
// and it starts again.
const maxAnswers = 256

// slotOf is now's half minute.
func slotOf(now time.Time) int64 { return now.Unix() / 30 }

// get returns the body for key at the picture's version and now, building
// it (once, however many ask) when it is missing or stale.
func (a *answers) get(key string, version uint64, now time.Time, build func() []byte) *answer {
	slot := slotOf(now)
	a.mu.Lock()
	if a.entries == nil || len(a.entries) >= maxAnswers {
		a.entries = map[string]*answer{}
	}
	e := a.entries[key]
	if e == nil || e.version != version || e.slot != slot {
		e = &answer{version: version, slot: slot, ready: make(chan struct{})}
		a.entries[key] = e
		a.mu.Unlock()
		e.body = build()
		close(e.ready)
		return e
	}
	a.mu.Unlock()
	<-e.ready
	return e
}

// answerKey names a route's answer for an account's scope and the query.
func answerKey(route string, municipalities []string, query string) string {
	return route + "\x00" + strings.Join(municipalities, ",") + "\x00" + query
}
