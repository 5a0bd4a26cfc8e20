package office

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// centralEnv is a real central: mosquitto, a central.Receiver on its own
// log, and the staff server in front of it, as `safepoint central` runs.
type centralEnv struct {
	mq   *synctest.Mosquitto
	recv *central.Receiver
	log  *eventlog.Log
	srv  *httptest.Server
}

func newCentralEnv(t *testing.T, ctx context.Context) *centralEnv {
	t.Helper()
	mq := synctest.StartMosquitto(t)
	clog := synctest.OpenLog(t, filepath.Join(t.TempDir(), "central"), "central", nil)
	recv := synctest.RunCentral(t, ctx, central.Opts{Broker: mq.URL(), Log: clog})
	site := web.New(web.Options{Accounts: webtest.Accounts(t, clog), Logger: webtest.Discard()})
	srv := httptest.NewServer(site.Handler(New(site, Options{Clock: clog.Clock(), Logger: webtest.Discard(), Downlink: recv,
		Nodes: recv.Nodes, Picture: synctest.PictureOf(clog), Append: clog.Append})))
	t.Cleanup(srv.Close)
	t.Cleanup(site.Close)
	return &centralEnv{mq: mq, recv: recv, log: clog, srv: srv}
}

// startNodeLink runs a node's link to the env's broker until the test ends.
func (e *centralEnv) startNodeLink(t *testing.T, ctx context.Context, id, municipality string) *eventlog.Log {
	t.Helper()
	l := synctest.OpenLog(t, filepath.Join(t.TempDir(), id), id, nil)
	synctest.RunLink(t, ctx, link.Opts{Broker: e.mq.URL(), Municipality: municipality, Log: l,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	return l
}

func (e *centralEnv) directives(t *testing.T) []central.Summary {
	t.Helper()
	list, err := e.recv.Directives(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// pageCSRF is the csrf field of a page's forms, as a browser posts it.
func pageCSRF(t *testing.T, page webtest.Reply) string {
	t.Helper()
	m := csrfField.FindSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page.Body)
	}
	return string(m[1])
}

// deliveryState is a node's state on a directive's page: queued,
// delivered or shown, from the row's class; "" without a row.
func deliveryState(body []byte, nodeID string) string {
	m := regexp.MustCompile(`<tr class="ds-(\w+)"><td><strong>` + regexp.QuoteMeta(nodeID) + `</strong>`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// TestCentralPage: central's staff page against a real central: login
// first, the registered nodes listed, an announcement sent with the form
// (CSRF checked) and followed per node from köad to visad once a node's
// link takes it, activation for admins only, a refused form kept and
// nothing sent, titles escaped, and no JavaScript anywhere.
func TestCentralPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e := newCentralEnv(t, ctx)
	for _, n := range [][2]string{{"byhuset-a", "2161"}, {"macken-b", "2161"}, {"skolan-c", "0180"}} {
		if err := e.recv.Register(ctx, n[0], n[1]); err != nil {
			t.Fatal(err)
		}
	}
	staff := webtest.Accounts(t, e.log)
	for _, a := range []struct {
		name string
		role accounts.Role
	}{{"vera", accounts.RoleViewer}, {"stina", accounts.RoleStaff}, {"adam", accounts.RoleAdmin}} {
		if err := staff.Add(ctx, a.name, a.role, a.name+"-password-1"); err != nil {
			t.Fatal(err)
		}
	}

	// Without a session: to the login, and back here after it.
	anon := webtest.NewClient(t, e.srv)
	for _, path := range []string{"/central", "/central/directives/x"} {
		r := webtest.Do(t, anon, "GET", e.srv.URL+path, "", "")
		if want := "/login?next=" + url.QueryEscape(path); r.Code != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("GET %s without a session: %d to %q, want 303 to %q", path, r.Code, r.Header.Get("Location"), want)
		}
	}
	if r := webtest.Do(t, anon, "POST", e.srv.URL+"/central/announcements", "application/x-www-form-urlencoded",
		"target=all&title_sv=x"); r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("POST without a session: %s, want 303 to /login", r)
	}

	stina := webtest.Login(t, e.srv, "stina", "stina-password-1")
	page := stina.Get(t, "/central")
	if page.Code != http.StatusOK {
		t.Fatalf("GET /central: %s", page)
	}
	body := string(page.Body)
	for _, want := range []string{"Trygghetspunkter", `id="p-byhuset-a"`, `id="p-macken-b"`, `id="p-skolan-c"`,
		"frånkopplad", "aldrig", `value="all"`, `value="municipality:2161"`, `value="municipality:0180"`, `value="node:macken-b"`,
		`action="/central/announcements"`, "Nytt meddelande", "Skickat", "Inget skickat än",
		`<a href="/central" class="button secondary">Uppdatera`, "/static/staff.css"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("the page reloads itself: a half-typed announcement would be lost")
	}
	if strings.Contains(body, `action="/central/activation"`) {
		t.Error("the activation form is shown to staff (admins only)")
	}
	// Its one script makes it live; the page is whole without it.
	if n := strings.Count(strings.ToLower(body), "<script"); n != 1 || !strings.Contains(body, `<script src="/static/central.js" defer></script>`) {
		t.Errorf("the central page carries %d scripts, want central.js alone", n)
	}
	csrf := pageCSRF(t, page)

	// The announcement form: without the token refused, nothing sent.
	ann := url.Values{"target": {"municipality:2161"}, "title_sv": {"Vatten delas ut vid skolan"},
		"title_en": {"Water at the school"}, "body_sv": {"Kl. 14–16."}, "severity": {"warning"},
		"valid_until": {"2099-01-01T12:00"}}
	if r := stina.PostForm(t, "/central/announcements", ann); r.Code != http.StatusForbidden {
		t.Fatalf("announcement without csrf: %s, want 403", r)
	}
	if n := len(e.directives(t)); n != 0 {
		t.Fatalf("%d directives after a refused post", n)
	}
	ann.Set("csrf", csrf)
	r := stina.PostForm(t, "/central/announcements", ann)
	loc := r.Header.Get("Location")
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/central?sent=") {
		t.Fatalf("announcement: %d to %q, want 303 to /central?sent=ID", r.Code, loc)
	}
	list := e.directives(t)
	if len(list) != 1 || list[0].Kind != central.KindAnnouncement || list[0].Target != "municipality:2161" ||
		list[0].By != "stina" || list[0].Nodes != 2 {
		t.Fatalf("directives after the form: %+v", list)
	}
	id := list[0].ID
	if loc != "/central?sent="+url.QueryEscape(id) {
		t.Errorf("redirect to %q, want the directive %s", loc, id)
	}
	// The same draft as the JSON route: central's announcement, the typed
	// until in Swedish time.
	d, _, err := e.recv.Directive(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source":"kommunen"`, `"sv":"Vatten delas ut vid skolan"`, `"en":"Water at the school"`,
		`"severity":"warning"`, `"valid_until":"2099-01-01T11:00:00Z"`} {
		if !strings.Contains(string(d.Payload), want) {
			t.Errorf("payload %s lacks %s", d.Payload, want)
		}
	}

	page = stina.Get(t, loc)
	body = string(page.Body)
	detail := "/central/directives/" + id
	for _, want := range []string{"Skickat till 2 trygghetspunkt", `href="` + detail + `"`, "Vatten delas ut vid skolan",
		"Kommun 2161", "stina", "<strong>0/2</strong>"} {
		if !strings.Contains(body, want) {
			t.Errorf("after sending, the page lacks %q", want)
		}
	}
	page = stina.Get(t, detail)
	if page.Code != http.StatusOK {
		t.Fatalf("GET %s: %s", detail, page)
	}
	for n, want := range map[string]string{"byhuset-a": "queued", "macken-b": "queued", "skolan-c": ""} {
		if got := deliveryState(page.Body, n); got != want {
			t.Errorf("%s on the directive's page: %q, want %q", n, got, want)
		}
	}
	for _, want := range []string{"köad", "Vatten delas ut vid skolan", "Water at the school", "Kl. 14–16.", "2099-01-01 12:00", "Varning"} {
		if !strings.Contains(string(page.Body), want) {
			t.Errorf("the directive's page lacks %q", want)
		}
	}

	// A node's link takes it and shows it: visad, at central and here.
	e.startNodeLink(t, ctx, "byhuset-a", "2161")
	if !synctest.Eventually(30*time.Second, func() bool {
		return deliveryState(stina.Get(t, detail).Body, "byhuset-a") == "shown"
	}) {
		t.Fatalf("byhuset-a never shown on the directive's page:\n%s", stina.Get(t, detail).Body)
	}
	page = stina.Get(t, detail)
	if got := deliveryState(page.Body, "macken-b"); got != "queued" {
		t.Errorf("macken-b, no link: %q, want queued", got)
	}
	if !strings.Contains(string(page.Body), "visad") {
		t.Error("the directive's page does not say visad")
	}
	body = string(stina.Get(t, "/central").Body)
	if !strings.Contains(body, "levererat <span class=\"en\">delivered</span> <strong>1/2</strong> · visat <span class=\"en\">shown</span> <strong>1/2</strong>") {
		t.Errorf("Skickat does not count 1/2 delivered and shown:\n%s", body)
	}
	if !regexp.MustCompile(`<tr id="p-byhuset-a" class="st-\w+ n-online">`).MatchString(body) {
		t.Errorf("byhuset-a is not listed online:\n%s", body)
	}

	// A refused form: 400 with the message, the typed values kept, nothing sent.
	r = stina.PostForm(t, "/central/announcements", url.Values{"csrf": {csrf}, "target": {"all"},
		"title_en": {"Only English"}, "body_sv": {"Ingen rubrik"}})
	if r.Code != http.StatusBadRequest {
		t.Fatalf("no title_sv: %s, want 400", r)
	}
	for _, want := range []string{"rubrik på svenska krävs", "title.sv: required", `value="Only English"`, ">Ingen rubrik</textarea>",
		`<option value="all" selected>`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("the refused form's page lacks %q", want)
		}
	}
	r = stina.PostForm(t, "/central/announcements", url.Values{"csrf": {csrf}, "target": {"all"},
		"title_sv": {"Tid"}, "valid_until": {"imorgon"}})
	if r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "ogiltig tid") || !strings.Contains(string(r.Body), `value="imorgon"`) {
		t.Errorf("a bad valid_until: %d, want 400 with the message and the value kept", r.Code)
	}
	r = stina.PostForm(t, "/central/announcements", url.Values{"csrf": {csrf}, "target": {"node:okand"}, "title_sv": {"Till ingen"}})
	if r.Code != http.StatusNotFound || !strings.Contains(string(r.Body), "inte hört av") {
		t.Errorf("an unknown node: %d, want 404 with the message", r.Code)
	}
	r = stina.PostForm(t, "/central/announcements", url.Values{"csrf": {csrf}, "target": {""}, "title_sv": {"Till vem?"}})
	if r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "välj mottagare") {
		t.Errorf("no target: %d, want 400 with the message", r.Code)
	}
	if n := len(e.directives(t)); n != 1 {
		t.Fatalf("%d directives after refused forms, want 1", n)
	}

	// Escaping: a title with a script is text wherever it shows.
	evil := `<script>alert("x")</script>`
	r = stina.PostForm(t, "/central/announcements", url.Values{"csrf": {csrf}, "target": {"node:skolan-c"}, "title_sv": {evil}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("announcement with markup: %s", r)
	}
	evilID := e.directives(t)[0].ID
	for _, path := range []string{"/central", "/central/directives/" + evilID} {
		b := string(stina.Get(t, path).Body)
		if strings.Contains(b, evil) || strings.Contains(strings.ToLower(b), "<script>") || !strings.Contains(b, "&lt;script&gt;") {
			t.Errorf("%s does not escape the title:\n%s", path, b)
		}
	}

	// Activation: staff may not (403, nothing sent), an admin may.
	act := url.Values{"csrf": {csrf}, "target": {"all"}, "state": {"exercise"}, "note": {"Övning hela dagen"}}
	before := len(e.directives(t))
	if r := stina.PostForm(t, "/central/activation", act); r.Code != http.StatusForbidden || !strings.Contains(r.ErrorText(), "needs admin") {
		t.Errorf("activation as staff: %s, want 403 from the role check", r)
	}
	if n := len(e.directives(t)); n != before {
		t.Fatalf("staff's refused activation sent a directive")
	}
	adam := webtest.Login(t, e.srv, "adam", "adam-password-1")
	page = adam.Get(t, "/central")
	if !strings.Contains(string(page.Body), `action="/central/activation"`) || !strings.Contains(string(page.Body), "övning") {
		t.Error("the admin's page lacks the activation form")
	}
	act.Set("csrf", pageCSRF(t, page))
	act.Set("state", "")
	if r := adam.PostForm(t, "/central/activation", act); r.Code != http.StatusBadRequest || !strings.Contains(string(r.Body), "välj läge") ||
		!strings.Contains(string(r.Body), `value="Övning hela dagen"`) {
		t.Errorf("activation without a state: %d, want 400 with the message and the note kept", r.Code)
	}
	act.Set("state", "exercise")
	r = adam.PostForm(t, "/central/activation", act)
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/central?sent=") {
		t.Fatalf("activation as admin: %s", r)
	}
	list = e.directives(t)
	if len(list) != before+1 || list[0].Kind != central.KindActivation || list[0].Nodes != 3 || list[0].By != "adam" {
		t.Fatalf("after the activation: %+v", list)
	}
	body = string(adam.Get(t, "/central").Body)
	for _, want := range []string{"Aktivering", "övning / exercise · Övning hela dagen", "Alla"} {
		if !strings.Contains(body, want) {
			t.Errorf("Skickat lacks %q after the activation", want)
		}
	}
	if !synctest.Eventually(30*time.Second, func() bool {
		return deliveryState(adam.Get(t, "/central/directives/"+list[0].ID).Body, "byhuset-a") == "shown"
	}) {
		t.Error("the activation never shown at byhuset-a")
	}

	// A viewer reads, without forms.
	vera := webtest.Login(t, e.srv, "vera", "vera-password-1")
	page = vera.Get(t, "/central")
	if page.Code != http.StatusOK || strings.Contains(string(page.Body), `action="/central/announcements"`) ||
		!strings.Contains(string(page.Body), "byhuset-a") {
		t.Errorf("viewer's page: %d, want 200 with the nodes and no form", page.Code)
	}
	if r := vera.Get(t, "/central/directives/no-such-id"); r.Code != http.StatusNotFound || !strings.Contains(string(r.Body), "Finns inte") {
		t.Errorf("an unknown directive: %d, want 404", r.Code)
	}
}

// TestCentralPageRoutes: the page's routes and their least roles.
func TestCentralPageRoutes(t *testing.T) {
	want := map[string]accounts.Role{
		"GET /central":                 accounts.RoleViewer,
		"POST /central/announcements":  accounts.RoleStaff,
		"POST /central/activation":     accounts.RoleAdmin,
		"GET /central/directives/{id}": accounts.RoleViewer,
	}
	routeName := func(rt web.Route) string { return rt.Method + " " + rt.Path }
	for _, rt := range New(web.New(web.Options{}), Options{}).Routes() {
		role, ok := want[routeName(rt)]
		if !ok {
			continue
		}
		delete(want, routeName(rt))
		if rt.Access != web.StaffPage || rt.MinRole() != role {
			t.Errorf("%s: access %d, role %s; want a staff page for %s", routeName(rt), rt.Access, rt.MinRole(), role)
		}
	}
	for name := range want {
		t.Errorf("%s is not in the route table", name)
	}
}

// TestWithdrawRoute: POST /api/announcements/{id}/withdraw sends the
// withdrawal to the announcement's own targets; only announcements can be
// withdrawn; a viewer cannot.
func TestWithdrawRoute(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := newCentralEnv(t, ctx)
	for _, n := range [][2]string{{"byhuset-a", "2161"}, {"macken-b", "2161"}, {"skolan-c", "0180"}} {
		if err := e.recv.Register(ctx, n[0], n[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct {
		name string
		role accounts.Role
	}{{"vera", accounts.RoleViewer}, {"stina", accounts.RoleStaff}} {
		if err := webtest.Accounts(t, e.log).Add(ctx, a.name, a.role, a.name+"-password-1"); err != nil {
			t.Fatal(err)
		}
	}
	stina := webtest.Login(t, e.srv, "stina", "stina-password-1")
	post := func(s *webtest.Session, path, body string) webtest.Reply {
		return webtest.Do(t, s.C, "POST", s.Base+path, "application/json", body, "X-CSRF-Token", s.CSRF)
	}
	r := post(stina, "/api/announcements", `{"target":"municipality:2161","title":{"sv":"Storm"},"severity":"warning"}`)
	var created struct{ ID string }
	if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &created) != nil {
		t.Fatalf("announcement: %s", r)
	}
	if r := post(webtest.Login(t, e.srv, "vera", "vera-password-1"), "/api/announcements/"+created.ID+"/withdraw", `{}`); r.Code != http.StatusForbidden {
		t.Errorf("a viewer withdrew: %s", r)
	}
	if r := post(stina, "/api/announcements/nope/withdraw", `{}`); r.Code != http.StatusNotFound {
		t.Errorf("withdrawing an unknown id: %s", r)
	}
	r = post(stina, "/api/announcements/"+created.ID+"/withdraw", `{}`)
	var w struct {
		ID    string
		Nodes int
	}
	if r.Code != http.StatusCreated || json.Unmarshal(r.Body, &w) != nil || w.Nodes != 2 {
		t.Fatalf("withdraw: %s, want 201 to the announcement's 2 nodes", r)
	}
	d, ok, err := e.recv.Directive(ctx, w.ID)
	if err != nil || !ok || d.Kind != central.KindWithdrawal || d.Target != "municipality:2161" || !strings.Contains(string(d.Payload), created.ID) {
		t.Fatalf("the withdrawal directive %+v %v %v", d, ok, err)
	}
	if r := post(stina, "/api/announcements/"+w.ID+"/withdraw", `{}`); r.Code != http.StatusNotFound {
		t.Errorf("withdrawing a withdrawal: %s, want 404", r)
	}
}
