package wire

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Refusals counts refused messages and logs each sender's reason once, so
// a hostile or broken sender cannot flood the log. The zero value is ready.
type Refusals struct {
	n    atomic.Int64
	mu   sync.Mutex
	seen map[string]bool
}

// Refuse counts a refusal and logs it if it is the first from who for
// reason. who is a node id or a topic level, never personal data.
func (r *Refusals) Refuse(logger *slog.Logger, who, reason string, err error) {
	r.n.Add(1)
	key := who + "|" + reason
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	first := !r.seen[key]
	if first {
		if len(r.seen) >= 10000 {
			first = false // bounded: past this many senders and reasons, only count
		} else {
			r.seen[key] = true
		}
	}
	r.mu.Unlock()
	if first && logger != nil {
		logger.Warn("Sync message refused", "from", who, "reason", reason, "err", err)
	}
}

// Count is how many messages were refused.
func (r *Refusals) Count() int64 { return r.n.Load() }
