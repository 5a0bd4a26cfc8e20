package web_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// TestRequestsCounted: every answer is counted under the route that
// matched (the mux pattern, never the path asked for, so an account name
// in a path never becomes a count of its own), "/" for no such route and
// web.NoRoute for one answered before routing; with its status code.
func TestRequestsCounted(t *testing.T) {
	var site *web.Site
	var routes []web.Route
	e := webtest.Start(t, nil, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		site = web.New(web.Options{Accounts: staff, Logger: webtest.Discard()})
		p := portal.New(site, portal.Options{Log: l, Logger: webtest.Discard(), PortalHost: "portal.test"})
		b := board.New(site, board.Options{Log: l, Logger: webtest.Discard()})
		routes = slices.Concat(site.Routes(), p.Routes(), b.Routes())
		return site.Handler(p, b)
	})
	c := webtest.NewClient(t, e.Srv)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(method, path, host string) int {
		t.Helper()
		req, err := http.NewRequest(method, e.Srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path, host string) int { t.Helper(); return do("GET", path, host) }
	for range 2 {
		get("/api/status", "portal.test")
	}
	get("/healthz", "elsewhere.test")                       // the captive portal lets health through
	get("/no/such/page", "portal.test")                     // the portal's front page says 404
	get("/api/staff/accounts/greta/disable", "portal.test") // a GET on a POST route: that too
	if code := do("POST", "/api/staff/accounts/greta/enable", "portal.test"); code != http.StatusNotFound {
		t.Errorf("POST to no route: %d, want 404 from the site's catch-all", code)
	}
	if code := get("/api/status", "elsewhere.test"); code != http.StatusFound {
		t.Errorf("a request for another host: %d, want the captive portal's 302", code)
	}

	got := map[web.RequestCount]bool{}
	for _, rc := range site.Requests() {
		got[rc] = true
	}
	for _, want := range []web.RequestCount{
		{Route: "GET /api/status", Code: 200, N: 2},
		{Route: "GET /healthz", Code: 200, N: 1},
		{Route: "GET /", Code: 404, N: 2},
		{Route: "/", Code: 404, N: 1},
		{Route: web.NoRoute, Code: 302, N: 1},
	} {
		if !got[want] {
			t.Errorf("no count %+v in %+v", want, site.Requests())
		}
	}
	known := map[string]bool{"/": true, web.NoRoute: true}
	for _, rt := range routes {
		known[rt.Method+" "+rt.Path] = true
	}
	for _, rc := range site.Requests() {
		if !known[rc.Route] {
			t.Errorf("route %q counted: not a pattern of the route table", rc.Route)
		}
	}
}
