package bench

import (
	"log/slog"
	"net/http"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
)

// NodeServer is the node's site as `safepoint node` composes it (web
// base, residents' portal, staff board; staff TLS and rate limits off) on
// the production server settings: what the benchmarks measure.
func NodeServer(l *eventlog.Log, staff *accounts.Accounts, logger *slog.Logger) *http.Server {
	site := web.New(web.Options{Accounts: staff, Logger: logger})
	handler := site.Handler(portal.New(site, portal.Options{Log: l, Logger: logger, PostPerMinute: -1}),
		board.New(site, board.Options{Log: l, Logger: logger}))
	srv := web.NewServer(handler, logger)
	srv.RegisterOnShutdown(site.Close)
	return srv
}
