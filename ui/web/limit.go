package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps a token bucket per client address. Residents on the point's
// Wi-Fi each have their own address (no NAT in between), so per-address is
// per-phone. Idle buckets are forgotten, so memory stays bounded by the
// number of clients active within idle.
type Limiter struct {
	every rate.Limit
	burst int
	idle  time.Duration

	mu      sync.Mutex
	clients map[string]*client
	swept   time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter allows each client perSecond requests on average and burst at
// once, and forgets a client idle for idle.
func NewLimiter(perSecond float64, burst int, idle time.Duration) *Limiter {
	return &Limiter{every: rate.Limit(perSecond), burst: burst, idle: idle, clients: map[string]*client{}}
}

// Allow takes a token for key, or says how long until one is free.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.idle {
		for k, c := range l.clients {
			if now.Sub(c.seen) > l.idle {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	c := l.clients[key]
	if c == nil {
		c = &client{lim: rate.NewLimiter(l.every, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	r := c.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Wrap refuses a client over the limit with 429 and Retry-After.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.Allow(ClientKey(r), time.Now())
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			WriteError(w, http.StatusTooManyRequests, "too many submissions from this device; try again shortly")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientKey is the peer's address. Forwarded-for headers are ignored: the
// node faces the residents directly, and a header is whatever a client says.
func ClientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
