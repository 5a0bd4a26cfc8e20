package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/office"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// The base under the compositions it serves in: a node's (the portal and
// the board) and central's (central's pages).

const (
	wrongLogin       = `{"error":"wrong name or password"}`
	announcementJSON = `{"title":{"sv":"Vattnet är tjänligt igen","en":"Tap water is safe again"},"severity":"info"}`
)

// env is a site on a real log, composed as a node or central composes it.
type env struct {
	*webtest.Env
	opts   web.Options
	routes []web.Route // the composition's route table
}

// composed builds a site's handler and route table on a log.
type composed func(l *eventlog.Log, staff *accounts.Accounts, opts web.Options) (http.Handler, []web.Route)

// newEnv serves compose on a new log (on clock, when not nil), over TLS
// when useTLS.
func newEnv(t *testing.T, compose composed, opts web.Options, useTLS bool, clock *node.Clock) *env {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = webtest.Discard()
	}
	e := &env{opts: opts}
	e.Env = webtest.Start(t, clock, useTLS, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		h, routes := compose(l, staff, opts)
		e.routes = routes
		return h
	})
	return e
}

// newNodeEnv is newEnv for a node.
func newNodeEnv(t *testing.T, opts web.Options, useTLS bool, clock *node.Clock) *env {
	return newEnv(t, nodeSite, opts, useTLS, clock)
}

// nodeSite is a node's site as `safepoint node` composes it.
func nodeSite(l *eventlog.Log, staff *accounts.Accounts, opts web.Options) (http.Handler, []web.Route) {
	opts.Accounts = staff
	site := web.New(opts)
	p := portal.New(site, portal.Options{Log: l, Logger: opts.Logger})
	b := board.New(site, board.Options{Log: l, Logger: opts.Logger})
	return site.Handler(p, b), slices.Concat(site.Routes(), p.Routes(), b.Routes())
}

// centralSite is central's site as `safepoint central` composes it, with
// a central that has heard from no node.
func centralSite(l *eventlog.Log, staff *accounts.Accounts, opts web.Options) (http.Handler, []web.Route) {
	opts.Accounts = staff
	site := web.New(opts)
	o := office.New(site, office.Options{Clock: l.Clock(), Logger: opts.Logger, Downlink: noDownlink{},
		Nodes: func() []central.Node { return nil }, Picture: picture.New(picture.Options{Self: l.Origin()}), Append: l.Append})
	return site.Handler(o), slices.Concat(site.Routes(), o.Routes())
}

// noDownlink is a central that knows no node: nothing can be sent.
type noDownlink struct{}

func (noDownlink) Send(context.Context, central.Draft) (central.Directive, error) {
	return central.Directive{}, central.ErrUnknownNode
}

func (noDownlink) Directive(context.Context, string) (central.Directive, bool, error) {
	return central.Directive{}, false, nil
}

func (noDownlink) Directives(context.Context, int) ([]central.Summary, error) { return nil, nil }

func publicStatus(t *testing.T, srv *httptest.Server) (st portal.Status) {
	webtest.GetJSON(t, srv, "/api/status", &st)
	return st
}
