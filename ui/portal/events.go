package portal

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/ui/web"
)

// maxStreams bounds the live-update connections held open at once, and
// maxStreamsPerClient those of one address, so that one phone or one
// script cannot take every slot from the others.
const (
	maxStreams          = 256
	maxStreamsPerClient = 8
)

// perClient counts the live-update connections each address holds.
type perClient struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more for client, unless it holds max already.
func (p *perClient) take(client string, max int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[client] >= max {
		return false
	}
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[client]++
	return true
}

func (p *perClient) give(client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[client]--; p.n[client] <= 0 {
		delete(p.n, client)
	}
}

// events streams "something changed" to pages that refresh themselves
// (server-sent events): one line with the newest HLC per change, and a
// comment every 25 s that keeps the connection and its NAT entry alive.
func (s *Portal) events(w http.ResponseWriter, r *http.Request) {
	client := web.ClientKey(r)
	if !s.clientStreams.take(client, maxStreamsPerClient) {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many live connections from this device", http.StatusTooManyRequests)
		return
	}
	defer s.clientStreams.give(client)
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
