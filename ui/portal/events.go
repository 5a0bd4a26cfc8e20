package portal

import (
	"fmt"
	"net/http"
	"time"
)

// maxStreams bounds the live-update connections held open at once.
const maxStreams = 256

// events streams "something changed" to pages that refresh themselves
// (server-sent events): one line with the newest HLC per change, and a
// comment every 25 s that keeps the connection and its NAT entry alive.
func (s *Portal) events(w http.ResponseWriter, r *http.Request) {
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
