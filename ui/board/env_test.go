package board

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// env is a node as `safepoint node` composes it, on a real log: the site,
// the portal (residents' reports for staff to act on) and the board.
type env struct {
	*webtest.Env
	site *web.Site
	b    *Board
}

// newEnv starts a node on a new log (on clock, when not nil).
func newEnv(t *testing.T, opts Options, clock *node.Clock) *env {
	return startEnv(t, opts, clock, 0)
}

// startEnv starts a node whose portal takes postPerMinute submissions per
// client (0: the default, negative: no limit). Cleanup closes the site
// before the listener.
func startEnv(t *testing.T, opts Options, clock *node.Clock, postPerMinute float64) *env {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = webtest.Discard()
	}
	e := &env{}
	e.Env = webtest.Start(t, clock, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		opts.Log = l
		e.site = web.New(web.Options{Accounts: staff, Logger: opts.Logger})
		e.b = New(e.site, opts)
		p := portal.New(e.site, portal.Options{Log: l, Logger: opts.Logger, PostPerMinute: postPerMinute})
		return e.site.Handler(p, e.b)
	})
	t.Cleanup(e.site.Close)
	return e
}

func publicStatus(t *testing.T, srv *httptest.Server) (st portal.Status) {
	webtest.GetJSON(t, srv, "/api/status", &st)
	return st
}
