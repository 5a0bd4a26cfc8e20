package office

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// scopeProbe is one request of the scope sweep and what it answers for
// the account limited to 2161 and for the one that sees every
// municipality.
type scopeProbe struct {
	method, path string
	body         string // JSON for /api, a form for the pages
	scoped, all  int
	// has is what the answer must hold for either account: the probe is
	// not vacuous (an empty list would leak nothing).
	scopedHas, allHas string
}

// TestScopeSweep sweeps every route of the office's table as an admin
// limited to municipality 2161 and as one who sees all: 200, 403 or 404
// as the scope says, and nothing of skolan-c (0180) in any answer to the
// limited account, whatever the route. A route added to the table without
// a case here fails the test.
func TestScopeSweep(t *testing.T) {
	e := newPicEnv(t, Options{})
	needs := e.fixture(t)
	sara := e.account(t, "sara", accounts.RoleAdmin, "2161")
	ulf := e.account(t, "ulf", accounts.RoleAdmin)
	if sara.Role != accounts.RoleAdmin {
		t.Fatalf("sara's role %s", sara.Role)
	}

	// Directives to each kind of target, sent by the admin who sees all.
	send := func(target string) string {
		t.Helper()
		r := ulf.PostJSON(t, "/api/announcements", `{"target":"`+target+`","title":{"sv":"Till `+target+`"}}`)
		var out struct{ ID string }
		if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &out) != nil {
			t.Fatalf("sending to %s: %s", target, r)
		}
		return out.ID
	}
	in, out, all, node := send("municipality:2161"), send("municipality:0180"), send("all"), send("node:"+skolan)
	alert := func(kind, point string) string {
		t.Helper()
		var got struct{ Alerts []picture.Alert }
		getJSON(t, ulf, "/api/central/alerts", &got)
		a, ok := findAlert(got.Alerts, kind, point)
		if !ok {
			t.Fatalf("no %s alert at %s", kind, point)
		}
		return url.PathEscape(a.ID)
	}
	inPower, inNeed := alert(picture.AlertPower, byhuset), alert(picture.AlertNeed, byhuset)
	outPower, outNeed := alert(picture.AlertPower, skolan), alert(picture.AlertNeed, skolan)

	const ok, created, see, forbidden, notFound = http.StatusOK, http.StatusCreated, http.StatusSeeOther, http.StatusForbidden, http.StatusNotFound
	ann := func(target string) string { return `{"target":"` + target + `","title":{"sv":"Hej"}}` }
	cases := map[string][]scopeProbe{
		"GET /api/nodes": {{"GET", "/api/nodes", "", ok, ok, byhuset, skolan}},
		"POST /api/announcements": {
			{"POST", "/api/announcements", ann("municipality:2161"), created, created, "", ""},
			{"POST", "/api/announcements", ann("municipality:0180"), forbidden, created, "", ""},
			{"POST", "/api/announcements", ann("all"), forbidden, created, "", ""},
			{"POST", "/api/announcements", ann("node:" + skolan), forbidden, created, "", ""},
			{"POST", "/api/announcements", ann("node:" + byhuset), created, created, "", ""},
		},
		"GET /api/announcements/{id}": {
			{"GET", "/api/announcements/" + in, "", ok, ok, byhuset, byhuset},
			{"GET", "/api/announcements/" + out, "", notFound, ok, "", skolan},
			{"GET", "/api/announcements/" + all, "", notFound, ok, "", skolan},
			{"GET", "/api/announcements/" + node, "", notFound, ok, "", skolan},
		},
		"POST /api/announcements/{id}/withdraw": {
			{"POST", "/api/announcements/" + out + "/withdraw", "{}", notFound, created, "", ""},
			{"POST", "/api/announcements/" + in + "/withdraw", "{}", created, created, "", ""},
		},
		"POST /api/activation": {
			{"POST", "/api/activation", `{"target":"municipality:0180","state":"exercise"}`, forbidden, created, "", ""},
			{"POST", "/api/activation", `{"target":"all","state":"exercise"}`, forbidden, created, "", ""},
			{"POST", "/api/activation", `{"target":"municipality:2161","state":"exercise"}`, created, created, "", ""},
		},
		"POST /api/contacts": {
			{"POST", "/api/contacts", `{"target":"node:` + skolan + `","contacts":[{"label":"Växel","phone":"08-1"}]}`, forbidden, created, "", ""},
			{"POST", "/api/contacts", `{"target":"node:` + byhuset + `","contacts":[{"label":"Växel","phone":"0651-1"}]}`, created, created, "", ""},
		},
		"POST /api/reports/{id}/status": {
			{"POST", "/api/reports/" + needs["skolan"] + "/status", `{"node":"` + skolan + `","status":"acknowledged"}`, forbidden, created, "", ""},
			{"POST", "/api/reports/" + needs["life"] + "/status", `{"node":"` + byhuset + `","status":"acknowledged"}`, created, created, "", ""},
		},
		"POST /api/reports/{id}/comments": {
			{"POST", "/api/reports/" + needs["skolan"] + "/comments", `{"node":"` + skolan + `","text":"Vi kommer"}`, forbidden, created, "", ""},
			{"POST", "/api/reports/" + needs["life"] + "/comments", `{"node":"` + byhuset + `","text":"Vi kommer"}`, created, created, "", ""},
		},
		"GET /api/directives/{id}": {
			{"GET", "/api/directives/" + in, "", ok, ok, byhuset, byhuset},
			{"GET", "/api/directives/" + out, "", notFound, ok, "", skolan},
			{"GET", "/api/directives/" + all, "", notFound, ok, "", skolan},
		},
		"GET /central": {{"GET", "/central", "", ok, ok, "Byhuset", skolanName}},
		"POST /central/announcements": {
			{"POST", "/central/announcements", "target=municipality%3A0180&title_sv=Hej", forbidden, see, "utanför dina kommuner", ""},
			{"POST", "/central/announcements", "target=all&title_sv=Hej", forbidden, see, "", ""},
			{"POST", "/central/announcements", "target=municipality%3A2161&title_sv=Hej", see, see, "", ""},
		},
		"POST /central/activation": {
			{"POST", "/central/activation", "target=node%3A" + skolan + "&state=activated", forbidden, see, "", ""},
			{"POST", "/central/activation", "target=node%3A" + byhuset + "&state=activated", see, see, "", ""},
		},
		"GET /central/directives/{id}": {
			{"GET", "/central/directives/" + in, "", ok, ok, byhuset, byhuset},
			{"GET", "/central/directives/" + node, "", notFound, ok, "", skolan},
			{"GET", "/central/directives/" + all, "", notFound, ok, "", skolan},
		},
		"GET /board":              {{"GET", "/board", "", see, see, "", ""}},
		"GET /api/central/points": {{"GET", "/api/central/points", "", ok, ok, byhuset, skolan}},
		"GET /api/central/points/{id}": {
			{"GET", "/api/central/points/" + byhuset, "", ok, ok, byhuset, byhuset},
			{"GET", "/api/central/points/" + skolan, "", notFound, ok, "", skolan},
		},
		"GET /api/central/points.geojson": {{"GET", "/api/central/points.geojson", "", ok, ok, byhuset, skolan}},
		"GET /api/central/needs": {
			{"GET", "/api/central/needs?status=all", "", ok, ok, byhuset, skolan},
			{"GET", "/api/central/needs?municipality=0180", "", ok, ok, "", skolan},
			{"GET", "/api/central/needs?point=" + skolan, "", ok, ok, "", skolan},
		},
		"GET /api/central/needs.csv": {
			{"GET", "/api/central/needs.csv?status=all", "", ok, ok, byhuset, skolan},
			{"GET", "/api/central/needs.csv?point=" + skolan, "", ok, ok, "", skolan},
		},
		"GET /api/central/alerts": {{"GET", "/api/central/alerts", "", ok, ok, byhuset, skolan}},
		"POST /api/central/alerts/{id}/ack": {
			{"POST", "/api/central/alerts/" + outPower + "/ack", `{}`, notFound, ok, "", skolan},
			{"POST", "/api/central/alerts/" + inPower + "/ack", `{}`, ok, ok, byhuset, byhuset},
		},
		"POST /central/alerts/{id}/ack": {
			{"POST", "/central/alerts/" + outNeed + "/ack", "back=%2Fcentral", notFound, see, "", ""},
			{"POST", "/central/alerts/" + inNeed + "/ack", "back=%2Fcentral", see, see, "", ""},
		},
		"GET /central/points/{id}": {
			{"GET", "/central/points/" + byhuset, "", ok, ok, "Byhuset", "Byhuset"},
			{"GET", "/central/points/" + skolan, "", notFound, ok, "", skolanName},
		},
		"GET /central/print": {{"GET", "/central/print", "", ok, ok, "Byhuset", skolanName}},
		"GET /central/live":  {{"GET", "/central/live", "", ok, ok, "Byhuset", skolanName}},
		// Without an upgrade asked for; the live test dials it.
		"GET /central/ws": {{"GET", "/central/ws", "", http.StatusBadRequest, http.StatusBadRequest, "", ""}},
	}

	do := func(t *testing.T, s *webtest.Session, p scopeProbe) webtest.Reply {
		t.Helper()
		ctype := "application/json"
		if !strings.HasPrefix(p.path, "/api/") {
			ctype = "application/x-www-form-urlencoded"
		}
		if p.method == "GET" {
			ctype = ""
		}
		return webtest.Do(t, s.C, p.method, s.Base+p.path, ctype, p.body, "X-CSRF-Token", s.CSRF)
	}
	leaks := []string{skolan, skolanName, "Kallt i gympasalen"}
	swept := map[string]bool{}
	for _, rt := range e.office.Routes() {
		name := rt.Method + " " + rt.Path
		probes, ok := cases[name]
		if !ok {
			t.Errorf("%s: no case in the scope sweep; add one", name)
			continue
		}
		swept[name] = true
		t.Run(name, func(t *testing.T) {
			for _, p := range probes {
				r := do(t, sara, p)
				if r.Code != p.scoped {
					t.Errorf("scoped %s %s: %s, want %d", p.method, p.path, r, p.scoped)
				}
				for _, leak := range leaks {
					if strings.Contains(string(r.Body), leak) || strings.Contains(r.Header.Get("Location"), leak) {
						t.Errorf("scoped %s %s: the answer names %q:\n%s", p.method, p.path, leak, r.Body)
					}
				}
				if p.scopedHas != "" && !strings.Contains(string(r.Body), p.scopedHas) {
					t.Errorf("scoped %s %s: the answer lacks %q", p.method, p.path, p.scopedHas)
				}
				if r.Code == forbidden && strings.HasPrefix(p.path, "/api/") && !strings.Contains(r.ErrorText(), "outside the municipalities your account may reach (2161)") {
					t.Errorf("scoped %s %s: 403 %q, not the scope's", p.method, p.path, r.ErrorText())
				}
				r = do(t, ulf, p)
				if r.Code != p.all {
					t.Errorf("unscoped %s %s: %s, want %d", p.method, p.path, r, p.all)
				}
				if p.allHas != "" && !strings.Contains(string(r.Body), p.allHas) {
					t.Errorf("unscoped %s %s: the answer lacks %q", p.method, p.path, p.allHas)
				}
			}
		})
	}
	for name := range cases {
		if !swept[name] {
			t.Errorf("the sweep has a case for %s, which is no route", name)
		}
	}

	// The page's forms offer the scoped account only its own targets.
	body := string(sara.Get(t, "/central").Body)
	if strings.Contains(body, `<option value="all"`) || strings.Contains(body, "municipality:0180") || !strings.Contains(body, `value="municipality:2161"`) {
		t.Error("the scoped account's target selects offer more than 2161")
	}
}
