package office

import (
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
}

// maxAnswers bounds the cache: more scopes and queries than this at once
// and it starts again.
const maxAnswers = 256

// slotOf is now's half minute.
func slotOf(now time.Time) int64 { return now.Unix() / 30 }

// get returns the body for key at the picture's version and now, building
// it (once, however many ask) when it is missing or stale.
func (a *answers) get(key string, version uint64, now time.Time, build func() []byte) []byte {
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
		return e.body
	}
	a.mu.Unlock()
	<-e.ready
	return e.body
}

// answerKey names a route's answer for an account's scope and the query.
func answerKey(route string, municipalities []string, query string) string {
	return route + "\x00" + strings.Join(municipalities, ",") + "\x00" + query
}
