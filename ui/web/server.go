package web

import (
	"log/slog"
	"net/http"
	"time"
)

// NewServer is the http.Server every listener of a node and of central
// runs h on, with the production limits: a slow or idle client cannot hold
// a connection, a header or a body open for long. Benchmarks use it too,
// so that they measure what runs. net/http's own messages name client
// addresses: they go to logger at debug level only.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}
