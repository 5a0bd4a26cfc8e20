package ui

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// Options configure a Server. Zero fields mean defaults.
type Options struct {
	Log    *node.Log    // required
	Logger *slog.Logger // slog.Default() when nil
	// PublicPerMinute is how many public submissions (reports,
	// check-ins) one client may make per minute on average; 12 by default.
	PublicPerMinute float64
	// PublicBurst is how many it may make at once; 10 by default.
	PublicBurst int
}

// Server serves the node's HTTP routes.
type Server struct {
	log     *node.Log
	logger  *slog.Logger
	public  *limiter
	handler http.Handler
}

// New builds a server around the node's log.
func New(opts Options) *Server {
	s := &Server{log: opts.Log, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	perMinute, burst := opts.PublicPerMinute, opts.PublicBurst
	if perMinute <= 0 {
		perMinute = 12
	}
	if burst <= 0 {
		burst = 10
	}
	s.public = newLimiter(perMinute/60, burst, 10*time.Minute)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/status", s.status)
	mux.Handle("POST /api/reports", s.public.wrap(http.HandlerFunc(s.createReport)))
	mux.Handle("POST /api/checkins", s.public.wrap(http.HandlerFunc(s.createCheckIn)))
	s.handler = s.logRequests(secureHeaders(mux))
	return s
}

// ServeHTTP makes a Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// secureHeaders sets the headers every answer carries.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs method, path, status and duration: never a body, a
// query string or a client address, which could identify a resident.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.logger.Debug("Request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
	})
}
