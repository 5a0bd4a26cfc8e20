package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/office"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// pictureCentral is central as `safepoint central` composes it, in the
// test's process and without a broker: its log folds every point's
// events into the situation picture (the timeline read from the log), a
// receiver that is never run holds the registered nodes and the
// directives, and the office serves the staff pages over TLS. The points'
// events are ingested straight into the log, as the receiver would.
type pictureCentral struct {
	log  *eventlog.Log
	pic  *picture.Picture
	recv *central.Receiver
	url  string

	mu  sync.Mutex
	seq map[string]uint64
}

func startPictureCentral(t *testing.T) *pictureCentral {
	t.Helper()
	ctx := context.Background()
	var l *eventlog.Log
	pic := picture.New(picture.Options{Self: wire.Central, Logger: synctest.Logger(t, "picture"),
		Recent: func(ctx context.Context, origin string, n int) ([]node.Event, error) { return l.Recent(ctx, origin, n) }})
	l, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), eventlog.FileName), eventlog.Options{Origin: wire.Central, Folder: pic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pic.Close(); l.Close() })
	recv, err := central.New(central.Opts{Broker: "tcp://127.0.0.1:1", Log: l, Store: synctest.OpenStore(t, l), Picture: pic,
		Logger: synctest.Logger(t, "central")})
	if err != nil {
		t.Fatal(err)
	}
	if err := webtest.Accounts(t, l).Add(ctx, adminName, accounts.RoleAdmin, adminPass); err != nil {
		t.Fatal(err)
	}
	logger := synctest.Logger(t, "central ui")
	site := web.New(web.Options{Accounts: webtest.Accounts(t, l), Logger: logger, StaffTLS: true})
	handler := site.Handler(office.New(site, office.Options{Clock: l.Clock(), Logger: logger, Downlink: recv, Nodes: recv.Nodes,
		Picture: pic, Append: l.Append}))
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's first look at the test certificate
	srv.StartTLS()
	t.Cleanup(site.Close)
	t.Cleanup(srv.Close)
	return &pictureCentral{log: l, pic: pic, recv: recv, url: srv.URL, seq: map[string]uint64{}}
}

// pointEvent is one of a point's events: how long ago the point recorded
// it, and what.
type pointEvent struct {
	ago     time.Duration
	typ     string
	payload any
}

// feed ingests a point's events into central's log as its receiver does:
// origin the point, seq counting on from the point's last, each dated
// its time ago before now.
func (c *pictureCentral) feed(t *testing.T, origin string, evs ...pointEvent) {
	t.Helper()
	now := time.Now()
	var batch []node.Event
	c.mu.Lock()
	for _, x := range evs {
		b, err := json.Marshal(x.payload)
		if err != nil {
			c.mu.Unlock()
			t.Fatal(err)
		}
		c.seq[origin]++
		batch = append(batch, node.Event{Origin: origin, Seq: c.seq[origin], HLC: node.MakeHLC(now.Add(-x.ago).UnixMilli(), 0),
			Type: x.typ, Payload: b})
	}
	c.mu.Unlock()
	if _, _, err := c.log.Ingest(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

// fixturePoint is one of the fixture's points as the page should show it.
type fixturePoint struct {
	id, name, municipality string
	status, mark, words    string // the status's key (a class), letter and Swedish words
	located                bool
}

// pictureFixture is the fixture's points in the order the table lists
// them: most serious first, then by municipality and name.
var pictureFixture = []fixturePoint{
	{"byhuset-a", "Byhuset", "2161", "critical", "K", "Kritiskt", true},
	{"kyrkan-d", "Kyrkan", "2161", "silent", "T", "Tyst", true},
	{"macken-b", "Macken", "2161", "warning", "V", "Varning", true},
	{"skolan-c", "Skolan i Ås", "0180", "ok", "N", "Normalt", true},
	{"hamnen-e", "Hamnen", "2161", "ok", "N", "Normalt", false},
}

// Texts of the fixture's needs.
const (
	needLife    = "Andningssvårigheter, behöver syrgas"
	needMacken  = "Träd över vägen"
	needSkolan  = "Filtar till gympasalen"
	needBlanket = "Filtar, tack"
	needLive    = "Gasläcka i köket, utrymmer"
)

// fixture gives central five points in two municipalities, four with a
// location, as their nodes would report them:
//
//   - byhuset-a (2161): activated; on battery for 20 min with 1 h 35 min
//     left (critical: a power alert); a life-threatening need open 45 min
//     (a need alert), a normal one and a resolved one; a check-in of
//     three needing help; fuel under its low level; one on duty.
//   - kyrkan-d (2161): activated, silent for 40 min (an alert).
//   - macken-b (2161): on mains; a high need 5 min old (a warning, no
//     alert yet).
//   - skolan-c (0180): on mains, a normal need, two on duty, check-ins.
//   - hamnen-e (2161, no location): on mains, nothing else.
func (c *pictureCentral) fixture(t *testing.T) {
	t.Helper()
	for _, p := range pictureFixture {
		if err := c.recv.Register(context.Background(), p.id, p.municipality); err != nil {
			t.Fatal(err)
		}
	}
	configured := func(id string) pointEvent {
		i := slices.IndexFunc(pictureFixture, func(p fixturePoint) bool { return p.id == id })
		p := pictureFixture[i]
		pt := node.Point{ID: p.id, Name: p.name, Municipality: p.municipality}
		if p.located {
			pt.Location = &node.Location{Lat: map[string]float64{"byhuset-a": 61.83, "kyrkan-d": 61.88, "macken-b": 61.80, "skolan-c": 59.33}[id],
				Lon: map[string]float64{"byhuset-a": 16.09, "kyrkan-d": 15.95, "macken-b": 16.20, "skolan-c": 18.07}[id]}
		}
		return pointEvent{3 * time.Hour, node.TypePointConfigured, pt}
	}
	resolved := node.NewID()
	powerSince := time.Now().Add(-20 * time.Minute)
	c.feed(t, "byhuset-a",
		configured("byhuset-a"),
		pointEvent{2 * time.Hour, node.TypePointActivation, node.PointActivation{State: node.ActivationActivated, Note: "Stormen Agnes"}},
		pointEvent{90 * time.Minute, node.TypeRosterChanged, node.RosterChanged{Person: "Eva", Role: "stabschef", OnDuty: true}},
		pointEvent{80 * time.Minute, node.TypeReportCreated, report(resolved, "high", "water", "Vatten behövs", "")},
		pointEvent{70 * time.Minute, node.TypeReportStatusChanged, node.ReportStatusChanged{ID: resolved, Status: node.ReportResolved}},
		pointEvent{45 * time.Minute, node.TypeReportCreated, report(node.NewID(), "life-threatening", "medical", needLife, "Storgatan 1, trappa 2")},
		pointEvent{20 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OB", Previous: "OL", Percent: ptr(41.0), Runtime: ptr(95.0), Since: &powerSince}},
		pointEvent{15 * time.Minute, node.TypeInventoryChanged, node.InventoryChanged{Item: "bränsle", Quantity: 5, Unit: "l", Low: 15}},
		pointEvent{10 * time.Minute, node.TypeReportCreated, report(node.NewID(), "normal", "supplies", needBlanket, "")},
		pointEvent{5 * time.Minute, node.TypeCheckInCreated, checkIn(3, "needs_help", "medical")},
	)
	c.feed(t, "kyrkan-d",
		configured("kyrkan-d"),
		pointEvent{2 * time.Hour, node.TypePointActivation, node.PointActivation{State: node.ActivationActivated}},
		pointEvent{40 * time.Minute, node.TypeServiceChanged, node.ServiceChanged{Service: "warmth", Status: "open"}},
	)
	c.feed(t, "macken-b",
		configured("macken-b"),
		pointEvent{30 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OL"}},
		pointEvent{5 * time.Minute, node.TypeReportCreated, report(node.NewID(), "high", "road", needMacken, "Väg 84")},
	)
	c.feed(t, "skolan-c",
		configured("skolan-c"),
		pointEvent{50 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OL"}},
		pointEvent{40 * time.Minute, node.TypeRosterChanged, node.RosterChanged{Person: "Ali", Role: "värd", OnDuty: true}},
		pointEvent{35 * time.Minute, node.TypeRosterChanged, node.RosterChanged{Person: "Bo", Role: "sjukvård", OnDuty: true}},
		pointEvent{25 * time.Minute, node.TypeReportCreated, report(node.NewID(), "normal", "supplies", needSkolan, "Gympasalen")},
		pointEvent{12 * time.Minute, node.TypeCheckInCreated, checkIn(2, "safe", "none")},
		pointEvent{8 * time.Minute, node.TypeCheckInCreated, checkIn(4, "safe", "none")},
	)
	c.feed(t, "hamnen-e",
		configured("hamnen-e"),
		pointEvent{10 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OL"}},
	)
}

func report(id, urgency, category, text, place string) node.ReportCreated {
	return node.ReportCreated{ID: id, Receipt: node.NewCode(node.ReceiptLen), Category: category, Text: text, Place: place, Urgency: urgency}
}

func checkIn(size int, status, need string) node.CheckInCreated {
	return node.CheckInCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen), Household: node.NewCode(6),
		Size: size, Status: status, Need: need}
}

func ptr[T any](v T) *T { return &v }

// TestCentralPicture drives central's situation picture in Chromium, on a
// central of five points in two municipalities (pictureFixture):
//
//   - without JavaScript every part is there (the "action needed" strip,
//     the map with a label per located point, a row per point with each
//     figure's age, the needs queue) and an alert is acknowledged with
//     its form (303 back, shown acknowledged by whom);
//   - the printout says when it was made, has no form and prints on one
//     A4 page;
//   - the map's points are links to their rows, reached with Tab and
//     named, their status in a letter, a shape and words as well as a
//     colour;
//   - with JavaScript, an event ingested while the page is open shows
//     within 2 s without a reload, and a half-typed form stays;
//   - axe-core finds no serious or critical violation on /central, a
//     point's page and the printout, with JavaScript and without.
func TestCentralPicture(t *testing.T) {
	needPeer(t, "axe-core", axePath)
	c := startPictureCentral(t)
	c.fixture(t)
	browser := newBrowser(t)

	t.Run("no script", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{noScript: true, ignoreCert: true, timeout: 60 * time.Second})
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		loginCentral(t, tb, c.url)
		if eval[bool](t, tb, `document.documentElement.classList.contains("js")`) {
			t.Fatal("central.js ran in a tab with JavaScript off")
		}
		checkSections(t, tb)
		checkAck(t, tb, c)

		axeScriptOn(t, tb, "/central without JavaScript", nil)
		tb.open(t, c.url+"/central/points/byhuset-a", 200)
		checkPointPage(t, tb)
		axeScriptOn(t, tb, "a point's page without JavaScript", nil)
		tb.open(t, c.url+"/central/print", 200)
		axeScriptOn(t, tb, "/central/print without JavaScript", nil)
	})

	t.Run("print", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{noScript: true, ignoreCert: true})
		loginCentral(t, tb, c.url)
		before := time.Now().Truncate(time.Second)
		tb.open(t, c.url+"/central/print", 200)
		after := time.Now()
		checkPrint(t, tb, c, before, after)
	})

	t.Run("map", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{noScript: true, ignoreCert: true, timeout: 90 * time.Second})
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		loginCentral(t, tb, c.url)
		checkMap(t, tb)
	})

	// Last: it changes the picture.
	t.Run("live", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{ignoreCert: true, timeout: 60 * time.Second})
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		errs := scriptErrors(t, tb)
		loginCentral(t, tb, c.url)
		checkLive(t, tb, c)
		runAxe(t, tb, "/central with JavaScript", nil)
		// axe judges the map's links too: its link-name rule looked at each.
		if n := eval[int](t, tb, `axe.run(document.getElementById("map"), {runOnly: ["link-name"]})
			.then(r => r.passes.concat(r.violations).reduce((n, x) => n + x.nodes.length, 0))`, chromedp.EvalAwaitPromise); n != 4 {
			t.Errorf("axe's link-name rule looked at %d of the map's 4 links", n)
		}

		tb.open(t, c.url+"/central/points/byhuset-a", 200)
		waitFor(t, tb, "the point's page live", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
		checkPointPage(t, tb)
		runAxe(t, tb, "a point's page with JavaScript", nil)
		tb.open(t, c.url+"/central/print", 200)
		runAxe(t, tb, "/central/print with JavaScript", nil)
		if e := errs(); len(e) > 0 {
			t.Errorf("script errors: %q", e)
		}
	})
}

// loginCentral logs the admin in from /central, which sends to the login
// and back.
func loginCentral(t *testing.T, tb *tab, base string) {
	t.Helper()
	tb.open(t, base+"/central", 200)
	if u := tb.location(t); u.Path != "/login" || u.Query().Get("next") != "/central" {
		t.Fatalf("/central without a session shows %s, want the login with next=/central", u)
	}
	if err := chromedp.Do(tb.ctx,
		chromedp.SendKeys(chromedp.ID("name"), adminName),
		chromedp.SendKeys(chromedp.ID("password"), adminPass),
	); err != nil {
		t.Fatal(err)
	}
	if resp := tb.submit(t, "form"); resp.Status != 200 || tb.location(t).Path != "/central" {
		t.Fatalf("after logging in: status %d at %s, want /central", resp.Status, tb.location(t))
	}
}

// shownAlert is an alert of the strip as the page shows it.
type shownAlert struct {
	Kind  string `json:"kind"`
	Point string `json:"point"`
	Acked bool   `json:"acked"`
	Form  bool   `json:"form"`
	Text  string `json:"text"`
}

const alertsJS = `Array.from(document.querySelectorAll("#alerts li.al"), li => ({
	kind: Array.from(li.classList).find(c => c.startsWith("al-")).slice(3),
	point: (li.querySelector(".al-where a") || {}).innerText || "",
	acked: li.classList.contains("acked"), form: !!li.querySelector("form"), text: li.innerText}))`

// shownRow is a point's row in the table.
type shownRow struct {
	ID     string   `json:"id"`
	Class  string   `json:"class"`
	Name   string   `json:"name"`
	Link   string   `json:"link"`
	Mark   string   `json:"mark"`
	Status string   `json:"status"`
	Cells  []string `json:"cells"`
	Ages   []int    `json:"ages"` // the time.ago elements in each td
}

const rowsJS = `Array.from(document.querySelectorAll("#nodes tbody tr"), tr => ({
	id: tr.id, class: tr.className, name: tr.querySelector("th a").innerText, link: tr.querySelector("th a").getAttribute("href"),
	mark: tr.querySelector(".badge.st .mark").textContent, status: tr.querySelector(".badge.st").innerText,
	cells: Array.from(tr.querySelectorAll("td"), c => c.innerText), ages: Array.from(tr.querySelectorAll("td"), td => td.querySelectorAll("time.ago").length)}))`

// shownNeed is a row of the needs queue.
type shownNeed struct {
	Urgency string `json:"urgency"`
	Point   string `json:"point"`
	Text    string `json:"text"`
}

const needsJS = `Array.from(document.querySelectorAll("#needs tbody tr"), tr => ({
	urgency: Array.from(tr.classList).find(c => c.startsWith("urg-")).slice(4),
	point: tr.cells[1].innerText, text: tr.querySelector("td.n-text").innerText}))`

// checkSections checks /central without JavaScript: every part, with
// what the fixture put in it.
func checkSections(t *testing.T, tb *tab) {
	t.Helper()
	// The strip: the need at Byhuset open 45 min, Kyrkan silent, Byhuset
	// on battery; none acknowledged, each with its form.
	alerts := eval[[]shownAlert](t, tb, alertsJS)
	if len(alerts) != 3 {
		t.Fatalf("the strip has %d alerts, want 3: %+v", len(alerts), alerts)
	}
	for i, want := range [][2]string{{"need", "Byhuset"}, {"silent", "Kyrkan"}, {"power", "Byhuset"}} {
		a := alerts[i]
		if a.Kind != want[0] || a.Point != want[1] || a.Acked || !a.Form {
			t.Errorf("alert %d: %s at %q (acked %v, form %v), want %s at %s, open, with its form (oldest first)", i, a.Kind, a.Point, a.Acked, a.Form, want[0], want[1])
		}
	}
	if !strings.Contains(alerts[0].Text, needLife) || !strings.Contains(alerts[2].Text, "1 h 35 min") {
		t.Errorf("the alerts do not say what: %q / %q", alerts[0].Text, alerts[2].Text)
	}
	if got := tb.text(t, "#alerts .h-count"); !strings.HasPrefix(got, "3 att kvittera") {
		t.Errorf("the strip counts %q, want 3 att kvittera", got)
	}

	// The map: an SVG with one link and one text label per located point.
	labels := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#map svg.map-svg a.mk text.mk-name"), e => e.textContent)`)
	var located []string
	for _, p := range pictureFixture {
		if p.located {
			located = append(located, p.name)
		}
	}
	if slices.Sort(labels); !slices.Equal(labels, slices.Sorted(slices.Values(located))) {
		t.Errorf("the map's labels are %q, want %q", labels, located)
	}
	if got := tb.text(t, "#map .map-missing"); !strings.Contains(got, "Hamnen") || strings.Contains(got, "Byhuset") {
		t.Errorf("the map's list of points without a location says %q, want Hamnen alone", got)
	}

	// The table: a row per point, most serious first, each with its
	// status in words and a letter, each figure with its age.
	rows := eval[[]shownRow](t, tb, rowsJS)
	if len(rows) != len(pictureFixture) {
		t.Fatalf("the table has %d rows, want %d: %+v", len(rows), len(pictureFixture), rows)
	}
	for i, p := range pictureFixture {
		r := rows[i]
		if r.ID != "p-"+p.id || r.Name != p.name || r.Link != "/central/points/"+p.id || !strings.Contains(r.Class, "st-"+p.status) ||
			r.Mark != p.mark || !strings.Contains(r.Status, p.words) {
			t.Errorf("row %d: %+v, want %s (%s) %s %s %q", i, r, p.id, p.name, p.status, p.mark, p.words)
		}
	}
	// Byhuset: activation, power, people, needs, stock and staff, each
	// with its age; the link's last heard too.
	by := rows[0]
	if len(by.Ages) != 7 {
		t.Fatalf("Byhuset's row has %d cells, want 7: %q", len(by.Ages), by.Cells)
	}
	for i, what := range []string{"activation", "power", "people", "needs", "stock", "staff", "link"} {
		if by.Ages[i] < 1 {
			t.Errorf("Byhuset's %s (%q) shows no age", what, by.Cells[i])
		}
	}
	for i, want := range []string{"Stormen Agnes", "Batteri", "3 personer", "2 öppna", "bränsle 5 l", "1 i tjänst"} {
		if !strings.Contains(by.Cells[i], want) {
			t.Errorf("Byhuset's cell %d says %q, want %q in it", i, by.Cells[i], want)
		}
	}
	if !strings.Contains(by.Cells[1], "1 h 35 min") || !strings.Contains(by.Cells[1], "41 %") {
		t.Errorf("Byhuset's power says %q, want 41 %% and ≈ 1 h 35 min left", by.Cells[1])
	}
	// Kyrkan, silent for 40 min: its figures are old, and say so in words.
	if !strings.Contains(rows[1].Cells[6], "för 40 min sedan") && !strings.Contains(rows[1].Cells[6], "för 41 min sedan") {
		t.Errorf("Kyrkan's last heard says %q, want 40 min ago", rows[1].Cells[6])
	}
	if got := tb.text(t, "#nodes .h-count"); !strings.HasPrefix(got, "0 av 5") {
		t.Errorf("the table's count says %q, want 0 av 5 (no link is up)", got)
	}

	// The needs queue: open needs across points, most urgent first, then
	// oldest; the resolved one is not there.
	needs := eval[[]shownNeed](t, tb, needsJS)
	want := []shownNeed{{"life-threatening", "Byhuset", needLife}, {"high", "Macken", needMacken},
		{"normal", "Skolan i Ås", needSkolan}, {"normal", "Byhuset", needBlanket}}
	if len(needs) != len(want) {
		t.Fatalf("the needs queue has %d rows, want %d: %+v", len(needs), len(want), needs)
	}
	for i, w := range want {
		if n := needs[i]; n.Urgency != w.Urgency || n.Point != w.Point || !strings.HasPrefix(n.Text, w.Text) {
			t.Errorf("need %d: %+v, want %+v", i, n, w)
		}
	}
	if got := tb.text(t, "#needs .h-count"); !strings.HasPrefix(got, "4 öppna") {
		t.Errorf("the queue counts %q, want 4 öppna", got)
	}
}

// redirect is a redirect the tab followed.
type redirect struct {
	Status   int64
	From, To string
}

// watchRedirects records the redirects the tab follows from now on.
func watchRedirects(t *testing.T, tb *tab) func() []redirect {
	t.Helper()
	var mu sync.Mutex
	var seen []redirect
	if err := chromedp.Listen(tb.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && ev.RedirectResponse != nil {
			mu.Lock()
			seen = append(seen, redirect{Status: ev.RedirectResponse.Status, From: ev.RedirectResponse.URL, To: ev.Request.URL})
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return func() []redirect {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// checkAck acknowledges the need alert with its form, as a person
// without JavaScript does.
func checkAck(t *testing.T, tb *tab, c *pictureCentral) {
	t.Helper()
	action := eval[string](t, tb, `document.querySelector("#alerts li.al-need form").getAttribute("action")`)
	redirects := watchRedirects(t, tb)
	resp := tb.submit(t, "#alerts li.al-need form")
	if resp.Status != 200 {
		t.Fatalf("after acknowledging: status %d at %s", resp.Status, resp.URL)
	}
	rs := redirects()
	if len(rs) != 1 {
		t.Fatalf("acknowledging followed %d redirects, want 1: %+v", len(rs), rs)
	}
	if from, _ := url.Parse(rs[0].From); rs[0].Status != http.StatusSeeOther || from.Path != action {
		t.Errorf("the form answered %d from %s, want 303 from %s", rs[0].Status, rs[0].From, action)
	}
	if to, _ := url.Parse(rs[0].To); to.Path != "/central" || to.Query().Get("acked") == "" {
		t.Errorf("the form sent to %s, want /central?acked=1", rs[0].To)
	}
	if u := tb.location(t); u.Path != "/central" || u.Fragment != "alerts" {
		t.Errorf("after acknowledging the tab is at %s, want /central…#alerts", u)
	}
	if got := tb.text(t, "p.notice[role=status]"); !strings.Contains(got, "Larmet är kvitterat") {
		t.Errorf("the notice says %q, want Larmet är kvitterat", got)
	}

	alerts := eval[[]shownAlert](t, tb, alertsJS)
	if len(alerts) != 3 {
		t.Fatalf("after acknowledging, the strip has %d alerts, want 3: %+v", len(alerts), alerts)
	}
	// The acknowledged one last, muted, without its form, by whom.
	last := alerts[2]
	if last.Kind != "need" || !last.Acked || last.Form {
		t.Errorf("the last alert is %s (acked %v, form %v), want the need, acknowledged, without a form", last.Kind, last.Acked, last.Form)
	}
	if ack := tb.text(t, "#alerts li.al-need.acked .al-ack"); !strings.HasPrefix(ack, "av ") || !strings.Contains(ack, adminName) {
		t.Errorf("the acknowledged alert says %q, want av … %s", ack, adminName)
	}
	if !strings.Contains(last.Text, "Kvitterat") {
		t.Errorf("the acknowledged alert does not say so: %q", last.Text)
	}
	for _, a := range alerts[:2] {
		if a.Acked || !a.Form {
			t.Errorf("alert %s at %s: acked %v, form %v; want it open with its form", a.Kind, a.Point, a.Acked, a.Form)
		}
	}
	if got := tb.text(t, "#alerts .h-count"); !strings.HasPrefix(got, "2 att kvittera") {
		t.Errorf("the strip counts %q, want 2 att kvittera", got)
	}
	if title := eval[string](t, tb, `document.title`); !strings.HasPrefix(title, "(2) ") {
		t.Errorf("the page's title is %q, want it to start with (2)", title)
	}
	acks := webtest.EventsOfType(t, c.log, node.TypeAlertAcknowledged)
	if len(acks) != 1 {
		t.Fatalf("%d alert.acknowledged events in central's log, want 1", len(acks))
	}
	var p node.AlertAcknowledged
	if err := json.Unmarshal(acks[0], &p); err != nil || p.By != adminName || p.Point != "byhuset-a" || !strings.HasPrefix(p.Alert, "need:byhuset-a:") {
		t.Errorf("the acknowledgement: %s (%v)", acks[0], err)
	}
}

// checkPointPage checks Byhuset's page: its card, its alerts, its open
// needs and its timeline.
func checkPointPage(t *testing.T, tb *tab) {
	t.Helper()
	if got := tb.text(t, "#point-h"); !strings.HasPrefix(got, "Byhuset") || !strings.Contains(got, "Kritiskt") {
		t.Errorf("the point's heading says %q, want Byhuset, Kritiskt", got)
	}
	if n := eval[int](t, tb, `document.querySelectorAll("#point-alerts li.al").length`); n != 2 {
		t.Errorf("the point's page has %d alerts, want 2 (power, need)", n)
	}
	if n := eval[int](t, tb, `document.querySelectorAll("#point-needs tbody tr").length`); n != 2 {
		t.Errorf("the point's page has %d open needs, want 2", n)
	}
	// Its ten events, newest first.
	types := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#timeline tbody tr"), tr => tr.cells[1].innerText)`)
	if len(types) != 10 || !strings.HasPrefix(types[0], "Incheckning") || !strings.HasPrefix(types[9], "Punkten inställd") {
		t.Errorf("the timeline: %q, want 10 events from the check-in back to the configuration", types)
	}
}

// checkPrint checks the printout: when it was made, no forms, one A4
// page.
func checkPrint(t *testing.T, tb *tab, c *pictureCentral, before, after time.Time) {
	t.Helper()
	made := eval[[]string](t, tb, `(t => t ? [t.getAttribute("datetime"), t.innerText] : [])(document.querySelector(".p-made time"))`)
	if len(made) != 2 {
		t.Fatalf("the printout does not say when it was made: %q", tb.text(t, ".p-made"))
	}
	at, err := time.Parse(time.RFC3339, made[0])
	if err != nil || at.Before(before) || at.After(after) {
		t.Errorf("the printout was made at %q (%v), want between %s and %s", made[0], err, before.Format(time.RFC3339), after.Format(time.RFC3339))
	}
	if want := at.In(web.Stockholm).Format("2006-01-02 15:04"); made[1] != want {
		t.Errorf("the printout says it was made %q, want %q", made[1], want)
	}
	if n := eval[int](t, tb, `document.querySelectorAll("form, input, button, select, textarea, script").length`); n != 0 {
		t.Errorf("the printout has %d forms, controls or scripts, want none", n)
	}
	// The picture is all there, acknowledged alert and all, without the
	// acknowledging forms.
	counts := eval[map[string]int](t, tb, `({alerts: document.querySelectorAll("#alerts li.al").length,
		acked: document.querySelectorAll("#alerts li.al.acked").length,
		markers: document.querySelectorAll("#map a.mk").length,
		rows: document.querySelectorAll("#nodes tbody tr").length,
		needs: document.querySelectorAll("#needs tbody tr").length})`)
	acked := 0 // one when the "no script" subtest has run
	for _, a := range c.pic.Alerts(nil) {
		if a.Acknowledged != nil {
			acked++
		}
	}
	if want := map[string]int{"alerts": 3, "acked": acked, "markers": 4, "rows": 5, "needs": 4}; !maps.Equal(counts, want) {
		t.Errorf("the printout holds %v, want %v", counts, want)
	}
	pages := printPages(t, tb)
	// As printed: the back link's bar gone, and each part's height on
	// A4's 186 × 273 mm inside the page's margins (703 × 1032 CSS px),
	// for whoever makes it fit.
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(703, 1032)); err != nil {
		t.Fatal(err)
	}
	if d := eval[string](t, tb, `getComputedStyle(document.querySelector("header.noprint")).display`); d != "none" {
		t.Errorf("printed, the back link's bar shows (display %s)", d)
	}
	if pages != 1 {
		parts := eval[[]string](t, tb, `Array.from(document.querySelectorAll("main.print > *"),
			e => (e.id || e.className) + " " + Math.round(e.getBoundingClientRect().height) + " px")
			.concat(["in all " + document.querySelector("main.print").getBoundingClientRect().height + " px"])`)
		t.Errorf("the printout of %d points prints on %d A4 pages, want 1; its parts, as printed: %s", len(pictureFixture), pages, strings.Join(parts, ", "))
	}
}

// shownMarker is a point on the map.
type shownMarker struct {
	Href   string `json:"href"`
	Name   string `json:"name"`
	Letter string `json:"letter"`
	Title  string `json:"title"`
	Shape  string `json:"shape"` // the path's commands: its kind of shape
	Dashed bool   `json:"dashed"`
	Target string `json:"target"` // what the link leads to: tagName#id in its section
}

const markersJS = `Array.from(document.querySelectorAll("#map a.mk"), a => {
	const href = a.getAttribute("href"), to = href.startsWith("#") && document.getElementById(href.slice(1));
	const shape = a.querySelector(".mk-shape");
	return {href, name: a.querySelector(".mk-name").textContent, letter: a.querySelector(".mk-letter").textContent,
		title: a.querySelector("title").textContent, shape: shape.getAttribute("d").replace(/[^A-Za-z]/g, ""),
		dashed: getComputedStyle(shape).strokeDasharray !== "none",
		target: to ? to.tagName + "#" + to.id + " in " + to.closest("section").id : ""};
})`

// checkMap checks the map's points: links to their rows, the status in a
// letter, a shape and words, each reached with Tab and named.
func checkMap(t *testing.T, tb *tab) {
	t.Helper()
	markers := eval[[]shownMarker](t, tb, markersJS)
	byName := map[string]shownMarker{}
	for _, m := range markers {
		byName[m.Name] = m
	}
	shapes := map[string]string{} // status → shape
	located := 0
	for _, p := range pictureFixture {
		m, ok := byName[p.name]
		if !p.located {
			if ok {
				t.Errorf("%s has no location but is on the map: %+v", p.name, m)
			}
			continue
		}
		located++
		if !ok {
			t.Errorf("%s is not on the map", p.name)
			continue
		}
		if m.Href != "#p-"+p.id || m.Target != "TR#p-"+p.id+" in nodes" {
			t.Errorf("%s's marker links to %q (%s), want its row #p-%s", p.name, m.Href, m.Target, p.id)
		}
		if m.Letter != p.mark || !strings.Contains(m.Title, p.name) || !strings.Contains(m.Title, p.words) {
			t.Errorf("%s's marker: letter %q, title %q; want %s and %q", p.name, m.Letter, m.Title, p.mark, p.words)
		}
		shapes[p.status] = m.Shape
		if (p.status == "silent") != m.Dashed {
			t.Errorf("%s's marker is dashed: %v; want only the silent one dashed", p.name, m.Dashed)
		}
	}
	if len(markers) != located {
		t.Errorf("the map has %d markers, want %d", len(markers), located)
	}
	// Critical, warning and normal differ in shape, not only in colour
	// (silent is a dashed ring).
	if s := shapes; s["critical"] == s["warning"] || s["critical"] == s["ok"] || s["warning"] == s["ok"] {
		t.Errorf("the markers' shapes by status: %q, want critical, warning and normal distinct", s)
	}
	// The key names every status with its letter.
	legend := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#map ul.legend li"), li => li.innerText)`)
	if len(legend) != 5 {
		t.Errorf("the map's key has %d entries, want 5: %q", len(legend), legend)
	}
	for _, p := range pictureFixture {
		if !slices.ContainsFunc(legend, func(s string) bool { return strings.Contains(s, p.mark+" "+p.words) }) {
			t.Errorf("the map's key lacks %s %s: %q", p.mark, p.words, legend)
		}
	}

	// With the keyboard: every marker is a Tab stop, named with its point
	// and status.
	stops := keyboardNames(t, tb, "/central")
	var reached []string
	for _, s := range stops {
		href, ok := strings.CutPrefix(s.Key, "a #p-")
		if !ok {
			continue
		}
		i := slices.IndexFunc(pictureFixture, func(p fixturePoint) bool { return p.id == href })
		if i < 0 {
			t.Errorf("a Tab stop links to #p-%s, no point of the fixture", href)
			continue
		}
		p := pictureFixture[i]
		reached = append(reached, p.name)
		if !strings.Contains(s.Name, p.name) || !strings.Contains(s.Name, p.words) {
			t.Errorf("%s's marker is named %q, want its name and %q", p.name, s.Name, p.words)
		}
	}
	if len(reached) != located {
		t.Errorf("Tab reached the map's markers of %q, want all %d located points", reached, located)
	}

	// Focused, the marker shows it (a thick outline, not a colour alone);
	// Enter follows it to its row.
	// A tab in the background matches no :focus: have it act focused.
	if _, err := chromedp.Call(tb.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	sel := `#map a.mk[href="#p-kyrkan-d"]`
	width := eval[[]string](t, tb, fmt.Sprintf(`(a => { const s = a.querySelector(".mk-shape"), before = getComputedStyle(s).strokeWidth;
		a.focus(); return [before, getComputedStyle(s).strokeWidth, String(document.activeElement === a)] })(document.querySelector(%s))`, jsString(sel)))
	if width[2] != "true" || width[0] == width[1] {
		t.Errorf("Kyrkan's marker focused: %v, stroke %s before, %s focused; want a wider outline", width[2], width[0], width[1])
	}
	if err := chromedp.Do(tb.ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tb, "Enter on Kyrkan's marker", `location.hash === "#p-kyrkan-d" && document.querySelector(":target") === document.getElementById("p-kyrkan-d")`, 5*time.Second)
}

// checkLive has the page open with JavaScript and ingests two points'
// news: Skolan's life-threatening need and Macken going on battery. Both
// show within 2 s, without a reload, and a half-typed announcement stays.
func checkLive(t *testing.T, tb *tab, c *pictureCentral) {
	t.Helper()
	// Live: central.js has its websocket's first message.
	waitFor(t, tb, "the page live", `document.documentElement.classList.contains("js") && document.getElementById("live").dataset.state === "live"`, 10*time.Second)
	half := "Halvskrivet meddelande"
	if err := chromedp.Do(tb.ctx, chromedp.SendKeys(chromedp.ID("title_sv"), half)); err != nil {
		t.Fatal(err)
	}
	origin := eval[string](t, tb, `(window.__marker = "kept", String(performance.timeOrigin))`)
	// Before: neither is shown. (The conditions below can fail.)
	shown := fmt.Sprintf(`(() => {
		const need = Array.from(document.querySelectorAll("#needs tbody tr"), tr => tr.innerText).some(s => s.includes(%s));
		const skolan = document.getElementById("p-skolan-c").classList.contains("st-warning");
		const power = Array.from(document.querySelectorAll("#alerts li.al-power:not(.acked)"), li => li.innerText).some(s => s.includes("Macken"));
		const marker = document.querySelector('#map a.mk[href="#p-macken-b"] .mk-letter').textContent === "K";
		const row = document.getElementById("p-macken-b").classList.contains("st-critical");
		return [need, skolan, power, marker, row];
	})()`, jsString(needLive))
	if got := eval[[]bool](t, tb, shown); slices.Contains(got, true) {
		t.Fatalf("before the events the page already shows some of them: %v", got)
	}

	open := openAlerts(t, tb)
	start := time.Now()
	c.feed(t, "skolan-c", pointEvent{0, node.TypeReportCreated, report(node.NewID(), "life-threatening", "medical", needLive, "Köket")})
	since := time.Now()
	c.feed(t, "macken-b", pointEvent{0, node.TypePowerChanged, node.PowerChanged{State: "OB", Previous: "OL", Percent: ptr(30.0), Runtime: ptr(50.0), Since: &since}})
	waitFor(t, tb, "the new need and Macken on battery", `(`+shown+`).every(Boolean)`, 2*time.Second)
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("the page showed the events after %v, want within 2 s", took)
	}
	t.Logf("the page showed both points' news %v after they were ingested", took.Round(time.Millisecond))

	// No navigation: the same document, its marker and the typed text.
	still := eval[[]string](t, tb, `[String(window.__marker), String(performance.timeOrigin),
		String(performance.getEntriesByType("navigation").length), document.getElementById("title_sv").value]`)
	if still[0] != "kept" || still[1] != origin || still[2] != "1" {
		t.Errorf("the page reloaded to show the events: marker %s, time origin %s (was %s), navigations %s", still[0], still[1], origin, still[2])
	}
	if still[3] != half {
		t.Errorf("the half-typed title is %q, want %q kept", still[3], half)
	}
	if !tb.requested("/central/live") {
		t.Error("the page never fetched /central/live")
	}
	// One more to acknowledge (the earlier subtest may have acknowledged
	// one of the fixture's three).
	if got, want := openAlerts(t, tb), open+1; got != want {
		t.Errorf("the strip counts %d to acknowledge, want %d (Macken's power alert added)", got, want)
	}
}

// openAlerts is the number the strip says are to be acknowledged.
func openAlerts(t *testing.T, tb *tab) int {
	t.Helper()
	var n int
	if got := tb.text(t, "#alerts .h-count"); !strings.Contains(got, " att kvittera") {
		t.Fatalf("the strip counts %q, want N att kvittera", got)
	} else if _, err := fmt.Sscanf(got, "%d", &n); err != nil {
		t.Fatalf("the strip counts %q: %v", got, err)
	}
	return n
}
