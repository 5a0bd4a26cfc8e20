package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/safepoint-se/safepoint/ui/web"
)

// listenStaff opens the staff HTTPS listener with the certificate kept in
// the data directory (made on first start), and tells the site about it;
// nil when staff TLS is off.
func listenStaff(mode, data, addr string, opts *web.Options, logger *slog.Logger) (net.Listener, error) {
	if mode != "on" {
		logger.Warn("Staff TLS is off: staff passwords and sessions travel in clear text")
		return nil, nil
	}
	host, _ := os.Hostname()
	cert, fingerprint, err := web.LoadOrCreateCert(data, host)
	if err != nil {
		return nil, err
	}
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("https: %w", err)
	}
	_, port, _ := net.SplitHostPort(raw.Addr().String())
	opts.StaffTLS, opts.HTTPSPort, opts.Fingerprint = true, port, fingerprint
	logger.Info("Serving staff over HTTPS", "addr", raw.Addr().String(), "fingerprint", "SHA256:"+fingerprint)
	return tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// closeAll closes the listeners opened so far, when a start fails after
// them.
func closeAll(listeners ...net.Listener) {
	for _, l := range listeners {
		if l != nil {
			l.Close()
		}
	}
}

// serveHTTP serves handler (site's) on each listener under g, and shuts
// them down gracefully when ctx ends.
func serveHTTP(ctx context.Context, g *errgroup.Group, site *web.Site, handler http.Handler, logger *slog.Logger, listeners ...net.Listener) {
	for _, l := range listeners {
		if l == nil {
			continue
		}
		srv := web.NewServer(handler, logger)
		srv.RegisterOnShutdown(site.Close)
		serveUntilDone(ctx, g, srv, l, "serve")
	}
}

// serveUntilDone serves srv on ln in g until ctx ends, then shuts it down
// within shutdownGrace (closing what is left after that).
func serveUntilDone(ctx context.Context, g *errgroup.Group, srv *http.Server, ln net.Listener, what string) {
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s %s: %w", what, ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		return nil
	})
}
