package office

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// alertsOf is GET /api/central/alerts as sess.
func alertsOf(t *testing.T, sess *webtest.Session) []picture.Alert {
	t.Helper()
	var got struct{ Alerts []picture.Alert }
	getJSON(t, sess, "/api/central/alerts", &got)
	return got.Alerts
}

func findAlert(alerts []picture.Alert, kind, point string) (picture.Alert, bool) {
	for _, a := range alerts {
		if a.Kind == kind && a.Point == point {
			return a, true
		}
	}
	return picture.Alert{}, false
}

// TestAlertAck: the alerts the fixture raises, and an acknowledgement
// round trip: as JSON (staff, not a viewer) it is central's own
// alert.acknowledged event in its log, the alert then shows it, and again
// changes nothing; as the page's form it is Post/Redirect/Get back to
// /central, where the alert shows acknowledged, muted, by whom.
func TestAlertAck(t *testing.T) {
	e := newPicEnv(t, Options{})
	e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)
	stina := e.account(t, "stina", accounts.RoleStaff)

	alerts := alertsOf(t, vera)
	want := [][2]string{{picture.AlertPower, byhuset}, {picture.AlertNeed, byhuset}, {picture.AlertNeed, skolan},
		{picture.AlertSilent, kyrkan}, {picture.AlertPower, skolan}}
	if len(alerts) != len(want) {
		t.Fatalf("%d alerts, want %d: %+v", len(alerts), len(want), alerts)
	}
	for i, w := range want {
		if a := alerts[i]; a.Kind != w[0] || a.Point != w[1] || a.Acknowledged != nil {
			t.Errorf("alert %d: %s at %s (ack %v), want %s at %s, oldest first", i, a.Kind, a.Point, a.Acknowledged, w[0], w[1])
		}
	}
	power, _ := findAlert(alerts, picture.AlertPower, byhuset)
	path := "/api/central/alerts/" + url.PathEscape(power.ID) + "/ack"

	if r := vera.PostJSON(t, path, `{"note":"x"}`); r.Code != http.StatusForbidden {
		t.Errorf("a viewer acknowledged: %s", r)
	}
	if r := stina.PostJSON(t, "/api/central/alerts/power:byhuset-a:1/ack", `{}`); r.Code != http.StatusNotFound {
		t.Errorf("an alert that is not current: %s, want 404", r)
	}
	if r := stina.PostJSON(t, path, `{"note":"`+strings.Repeat("x", 501)+`"}`); r.Code != http.StatusBadRequest {
		t.Errorf("a 501-character note: %s, want 400", r)
	}
	if n := len(webtest.EventsOfType(t, e.log, node.TypeAlertAcknowledged)); n != 0 {
		t.Fatalf("%d acknowledgements after refused ones", n)
	}

	r := stina.PostJSON(t, path, `{"note":"Elbolaget ringt"}`)
	var acked picture.Alert
	if r.Code != http.StatusOK || json.Unmarshal(r.Body, &acked) != nil {
		t.Fatalf("ack: %s", r)
	}
	if acked.ID != power.ID || acked.Acknowledged == nil || acked.Acknowledged.By != "stina" || acked.Acknowledged.Note != "Elbolaget ringt" {
		t.Errorf("the answer: %+v (ack %+v)", acked, acked.Acknowledged)
	}
	// Journaled: central's own event, in its own log.
	events := webtest.EventsOfType(t, e.log, node.TypeAlertAcknowledged)
	var p node.AlertAcknowledged
	if len(events) != 1 || json.Unmarshal(events[0], &p) != nil {
		t.Fatalf("acknowledgements in central's log: %s", events)
	}
	if p != (node.AlertAcknowledged{Alert: power.ID, Point: byhuset, Note: "Elbolaget ringt", By: "stina"}) {
		t.Errorf("the event's payload: %+v", p)
	}
	latest, err := e.log.Recent(t.Context(), e.log.Origin(), 1)
	if err != nil || len(latest) != 1 || latest[0].Type != node.TypeAlertAcknowledged {
		t.Errorf("central's latest own event: %+v (%v)", latest, err)
	}
	alerts = alertsOf(t, vera)
	if a, _ := findAlert(alerts, picture.AlertPower, byhuset); a.Acknowledged == nil || a.Acknowledged.By != "stina" {
		t.Errorf("after the ack, GET alerts: %+v", a)
	}
	if last := alerts[len(alerts)-1]; last.ID != power.ID {
		t.Errorf("the acknowledged alert is not listed last: %s", last.ID)
	}
	// Again: 200 as it stands; the first acknowledgement stands, no event.
	r = webtest.Do(t, stina.C, "POST", stina.Base+path, "", "", "X-CSRF-Token", stina.CSRF)
	if r.Code != http.StatusOK || json.Unmarshal(r.Body, &acked) != nil || acked.Acknowledged == nil || acked.Acknowledged.Note != "Elbolaget ringt" {
		t.Errorf("ack again, without a body: %s", r)
	}
	if n := len(webtest.EventsOfType(t, e.log, node.TypeAlertAcknowledged)); n != 1 {
		t.Errorf("%d acknowledgements after acknowledging twice, want 1", n)
	}

	// The page's form, as a browser without JavaScript posts it.
	page := stina.Get(t, "/central")
	need, _ := findAlert(alerts, picture.AlertNeed, skolan)
	action := "/central/alerts/" + url.PathEscape(need.ID) + "/ack"
	if !strings.Contains(string(page.Body), `action="`+action+`"`) {
		t.Fatalf("the page has no form for %s", action)
	}
	if r := stina.PostForm(t, action, url.Values{"back": {"/central"}}); r.Code != http.StatusForbidden {
		t.Errorf("the form without its csrf field: %s, want 403", r)
	}
	r = stina.PostForm(t, action, url.Values{"csrf": {pageCSRF(t, page)}, "back": {"https://evil.example/"}})
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/central?acked=1#alerts" {
		t.Fatalf("the form: %d to %q, want 303 to /central?acked=1#alerts", r.Code, r.Header.Get("Location"))
	}
	page = stina.Get(t, "/central?acked=1")
	body := string(page.Body)
	li := regexp.MustCompile(`(?s)<li class="al al-need acked">.*?</li>`).FindString(body)
	for _, want := range []string{"✓ Kvitterat", "Skolan i Ås", "av <span class=\"en\">by</span> stina", "nyss"} {
		if !strings.Contains(li, want) {
			t.Errorf("the acknowledged alert lacks %q: %s", want, li)
		}
	}
	if strings.Contains(li, "<form") {
		t.Error("an acknowledged alert still has its form")
	}
	if !strings.Contains(body, "Larmet är kvitterat") {
		t.Error("the page does not say the alert is acknowledged")
	}
	if got := regexp.MustCompile(`<span class="h-count">(\d+) att kvittera`).FindStringSubmatch(body); got == nil || got[1] != "3" {
		t.Errorf("the strip counts %v to acknowledge, want 3", got)
	}
	// From a point's page, back to it.
	silent, _ := findAlert(alerts, picture.AlertSilent, kyrkan)
	r = stina.PostForm(t, "/central/alerts/"+url.PathEscape(silent.ID)+"/ack", url.Values{"csrf": {stina.CSRF}, "back": {"/central/points/" + kyrkan}})
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/central/points/kyrkan-d?acked=1#point-alerts" {
		t.Errorf("the form from a point's page: %d to %q", r.Code, r.Header.Get("Location"))
	}
	if r := stina.PostForm(t, "/central/alerts/gone/ack", url.Values{"csrf": {stina.CSRF}}); r.Code != http.StatusNotFound ||
		!strings.Contains(string(r.Body), "larmet gäller inte längre") {
		t.Errorf("the form for an alert that is not current: %d", r.Code)
	}
}

// TestSituationPage: /central shows the whole picture without
// JavaScript: the action-needed strip, the map (a shape, a letter and a
// name per located point, each a link to its row), a row per point with
// every figure's age and the old ones marked in words, the needs queue in
// order, the forms as before, a reload link and a hint for a browser
// without script. Its live fragment, a point's page (with its timeline)
// and the printout (with the time it was made, and no forms) too.
func TestSituationPage(t *testing.T) {
	e := newPicEnv(t, Options{})
	e.fixture(t)
	e.register(t, "ladan-e", "2161") // known to the receiver, never reported
	stina := e.account(t, "stina", accounts.RoleStaff)
	page := stina.Get(t, "/central")
	if page.Code != http.StatusOK {
		t.Fatalf("GET /central: %s", page)
	}
	body := string(page.Body)
	section := func(id string) string {
		t.Helper()
		s := regexp.MustCompile(`(?s)<section id="` + id + `"[^>]*>.*?</section>`).FindString(body)
		if s == "" {
			t.Fatalf("the page has no section %s", id)
		}
		return s
	}
	contains := func(where, s string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q", where, w)
			}
		}
	}
	contains("the page", body, `<html lang="sv">`, `<a href="/central" class="button secondary">Uppdatera`, "<noscript>",
		`<a href="/central/print"`, `data-live="/central/live"`, `action="/central/announcements"`, `id="sent"`)
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("the page reloads itself")
	}
	order := regexp.MustCompile(`<section id="(\w+)"`).FindAllStringSubmatch(body, -1)
	var sections []string
	for _, m := range order {
		sections = append(sections, m[1])
	}
	if got := strings.Join(sections, " "); got != "alerts map nodes needs announce activation sent" {
		t.Errorf("sections %s, want the alerts first and the forms after the picture", got)
	}

	alerts := section("alerts")
	contains("the strip", alerts, "Åtgärd krävs", "5 att kvittera", "Tyst: aktiverad men inte hörd av", "Ström: på batteri och snart slut",
		"Brådskande behov öppet över 30 min", `<a href="/central/points/kyrkan-d">Kyrkan</a>`, "(50 min)", "18 %", `name="csrf" value="`+pageCSRF(t, page)+`"`,
		"Kvittera <span class=\"en\">Acknowledge</span>")
	if n := strings.Count(alerts, "<form"); n != 5 {
		t.Errorf("the strip has %d forms, want one an alert", n)
	}

	m := section("map")
	for _, p := range []struct{ anchor, shape, letter, name string }{
		{"p-byhuset-a", "st-critical", "K", "Byhuset"}, {"p-macken-b", "st-warning", "V", "Macken"}, {"p-skolan-c", "st-critical", "K", "Skolan i Ås"},
	} {
		re := regexp.MustCompile(`<a href="#` + p.anchor + `" class="mk ` + p.shape + `"><title>` + regexp.QuoteMeta(p.name) +
			`: [^<]+</title><path class="mk-shape" d="[^"]+"/><text class="mk-letter" x="[\d.]+" y="[\d.]+">` + p.letter +
			`</text><text class="mk-name[^"]*" x="[\d.]+" y="[\d.]+">` + regexp.QuoteMeta(p.name) + `</text></a>`)
		if !re.MatchString(m) {
			t.Errorf("the map has no marker for %s (%s, %s)", p.name, p.shape, p.letter)
		}
		if !strings.Contains(body, `<tr id="`+p.anchor+`"`) {
			t.Errorf("the map links to #%s, which is no row", p.anchor)
		}
	}
	contains("the map", m, "Utan position<span class=\"en\"> without a location</span>: Kyrkan, ladan-e", "km</text>", "Teckenförklaring")

	rows := section("nodes")
	row := func(id string) string {
		t.Helper()
		return regexp.MustCompile(`(?s)<tr id="p-` + id + `".*?</tr>`).FindString(rows)
	}
	contains("byhuset-a's row", row(byhuset), `class="st-critical n-offline"`, `<th scope="row"><a href="/central/points/byhuset-a">Byhuset</a>`,
		"Kritiskt", "aktiverad", "Stormen Agnes", "Batteri", "batteriet lågt", "18 %", "45 min</strong> kvar",
		"<strong>1</strong> hushåll", "<strong>3</strong> personer", "<strong>1</strong> behöver hjälp", "1 Livsfara", "bränsle</strong> 5 l",
		"<strong>1</strong> i tjänst", "stabschef", "frånkopplad", "i kö <span class=\"en\">backlog</span> <strong>0</strong>",
		// Ages: the power figures 40 min old (on battery: old), the
		// check-in 5 min, the roster 1 h 30 min (heard since: not old).
		`för 40 min sedan <span class="en">40 min ago</span></time> <strong class="oldmark">gammal uppgift`,
		"för 5 min sedan", "för 1 h 30 min sedan")
	if n := strings.Count(row(byhuset), "oldmark"); n != 1 {
		t.Errorf("byhuset-a's row marks %d figures old, want the power alone", n)
	}
	contains("macken-b's row", row(macken), "Nät <span class=\"en\">mains</span>", "Varning", "1 Hög")
	contains("kyrkan-d's row", row(kyrkan), "Tyst", "okänd")
	// The activation is central's own decision: 2 h old, never "old".
	if k := row(kyrkan); strings.Contains(k, "har inte rapporterat") || strings.Contains(k, "oldmark") {
		t.Errorf("kyrkan-d's row says it has not reported, or marks its activation old:\n%s", k)
	}
	contains("ladan-e's row", row("ladan-e"), "Okänt", "har inte rapporterat", "aldrig")
	if n := strings.Count(rows, "<th scope=\"col\">"); n != 8 {
		t.Errorf("the points table has %d column headers, want 8", n)
	}
	if strings.Index(rows, `id="p-skolan-c"`) > strings.Index(rows, `id="p-macken-b"`) || strings.Index(rows, `id="p-kyrkan-d"`) > strings.Index(rows, `id="p-macken-b"`) {
		t.Error("the points are not listed most serious first")
	}

	needs := section("needs")
	var seen []int
	for _, text := range []string{"=HYPERLINK", "Kallt i gympasalen", "Träd över vägen", "Filtar, tack"} {
		seen = append(seen, strings.Index(needs, text))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] < 0 || seen[i] < seen[i-1] {
			t.Errorf("the needs queue is not most urgent first, then oldest: at %v", seen)
			break
		}
	}
	contains("the needs queue", needs, "4 öppna", "Livsfara", `href="/api/central/needs.csv"`, "Storgatan 1, trappa 2", "för 45 min sedan")
	if strings.Contains(needs, "Vatten behövs") {
		t.Error("the queue lists a resolved need")
	}

	// The live fragment: the same parts, the forms' token, nothing else.
	live := stina.Get(t, "/central/live")
	if live.Code != http.StatusOK {
		t.Fatalf("GET /central/live: %s", live)
	}
	for _, id := range []string{"alerts", "map", "nodes", "needs"} {
		if !strings.Contains(string(live.Body), `<section id="`+id+`"`) {
			t.Errorf("the live fragment lacks %s", id)
		}
	}
	if strings.Contains(string(live.Body), `id="announce"`) || strings.Contains(string(live.Body), "<script") {
		t.Error("the live fragment carries more than the picture")
	}

	// A point's page: its card, alerts, needs and timeline.
	pp := stina.Get(t, "/central/points/"+byhuset)
	if pp.Code != http.StatusOK {
		t.Fatalf("the point's page: %s", pp)
	}
	contains("the point's page", string(pp.Body), `<h2 id="point-h">Byhuset`, "61.88, 15.65", `id="point-alerts"`, "2 att kvittera",
		`name="back" value="/central/points/byhuset-a"`, "1 klara", `id="timeline"`, "senaste 10", "Incheckning", "Ström ändrad",
		"state: OB LB", `data-live="/central/points/byhuset-a"`, `<script src="/static/central.js" defer></script>`)
	if strings.Contains(string(pp.Body), "household:") {
		t.Error("the timeline shows a household code")
	}
	if r := stina.Get(t, "/central/points/nowhere"); r.Code != http.StatusNotFound || !strings.Contains(string(r.Body), "Finns inte") {
		t.Errorf("an unknown point's page: %d", r.Code)
	}

	// The printout.
	pr := stina.Get(t, "/central/print")
	prb := string(pr.Body)
	made := regexp.MustCompile(`Gjord <span class="en">made</span> <time datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d)</time>`).FindStringSubmatch(prb)
	if pr.Code != http.StatusOK || made == nil {
		t.Fatalf("the printout: %d, without the time it was made:\n%s", pr.Code, prb)
	}
	if at, err := time.Parse(time.RFC3339, made[1]); err != nil || time.Since(at) > time.Minute || time.Since(at) < -time.Second {
		t.Errorf("the printout says it was made at %s", made[1])
	}
	if !strings.HasPrefix(strings.TrimSpace(prb[strings.Index(prb, "<main"):]), `<main class="print">`) || strings.Index(prb, "Gjord") > strings.Index(prb, `id="alerts"`) {
		t.Error("the time it was made is not at the top")
	}
	contains("the printout", prb, "Lägesbild", `id="alerts"`, `id="nodes"`, `id="needs"`, "Byhuset", "Kallt i gympasalen")
	for _, not := range []string{"<form", "<nav", "<script", "needs.csv"} {
		if strings.Contains(prb, not) {
			t.Errorf("the printout has %s", not)
		}
	}
}

// TestAges: a figure's age in words, and when it is old.
func TestAges(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago       time.Duration
		confirmed bool
		sv, en    string
		old       bool
	}{
		{20 * time.Second, false, "nyss", "just now", false},
		{-3 * time.Minute, false, "nyss", "just now", false}, // a node's clock ahead of central's
		{12 * time.Minute, false, "för 12 min sedan", "12 min ago", false},
		{30 * time.Minute, false, "för 30 min sedan", "30 min ago", false},
		{31 * time.Minute, false, "för 31 min sedan", "31 min ago", true},
		{31 * time.Minute, true, "för 31 min sedan", "31 min ago", false},
		{3*time.Hour + 5*time.Minute, false, "för 3 h 5 min sedan", "3 h 5 min ago", true},
		{3 * time.Hour, false, "för 3 h sedan", "3 h ago", true},
		{50 * time.Hour, false, "för 2 dygn sedan", "2 days ago", true},
	} {
		at := now.Add(-c.ago)
		a := ageOf(&at, now, c.confirmed)
		if !a.Known || a.Sv != c.sv || a.En != c.en || a.Old != c.old || a.ISO != at.Format(time.RFC3339) {
			t.Errorf("%v ago (confirmed %v): %+v, want %q/%q old=%v", c.ago, c.confirmed, a, c.sv, c.en, c.old)
		}
	}
	if a := ageOf(nil, now, false); a.Known {
		t.Errorf("no time: %+v", a)
	}
	old := time.Date(1970, 1, 1, 0, 5, 0, 0, time.UTC)
	if a := ageOf(&old, now, false); a.Known {
		t.Errorf("a 1970 time (a box without a clock): %+v", a)
	}
	at := now.Add(-2 * time.Hour)
	if a := ageOf(&at, time.Time{}, false); a.Sv != a.Clock || a.En != "" || a.Old {
		t.Errorf("central's clock not trusted: %+v, want the time alone", a)
	}
}

// TestMap: the projection: north up, east right, the x scale shrunk by
// the cosine of the latitude so that distances agree both ways, the
// points fitted inside the margins, one point centred.
func TestMap(t *testing.T) {
	row := func(id string, lat, lon float64) pointRow {
		return pointRow{ID: id, Name: id, Anchor: "p-" + id, Status: statusOf(picture.StatusOK), Location: &node.Location{Lat: lat, Lon: lon}}
	}
	// 0.2° of latitude and 0.2/cos(62°) of longitude: the same distance.
	dLon := 0.2 / math.Cos(62*math.Pi/180)
	m := mapOf([]pointRow{row("sw", 61.9, 15.0), row("ne", 62.1, 15.0+dLon), row("nw", 62.1, 15.0), {ID: "x", Name: "x"}})
	if len(m.Points) != 3 || len(m.Missing) != 1 || m.Missing[0] != "x" {
		t.Fatalf("%d markers, missing %v", len(m.Points), m.Missing)
	}
	at := map[string][2]float64{}
	for _, p := range m.Points {
		x, _ := strconv.ParseFloat(p.X, 64)
		y, _ := strconv.ParseFloat(p.Y, 64)
		at[p.Anchor] = [2]float64{x, y - 4.5}
		if x < mapPadX-1 || x > mapW-mapPadX+1 || y < mapPadY-1 || y > mapH-mapPadY+6 {
			t.Errorf("%s at %.1f,%.1f: outside the margins", p.Anchor, x, y)
		}
	}
	sw, ne, nw := at["p-sw"], at["p-ne"], at["p-nw"]
	if !(ne[0] > sw[0]) || !(ne[1] < sw[1]) {
		t.Errorf("ne %v is not right of and above sw %v", ne, sw)
	}
	if w, h := ne[0]-nw[0], sw[1]-nw[1]; math.Abs(w-h) > 1 {
		t.Errorf("equal distances east and south drawn %.1f and %.1f px", w, h)
	}
	one := mapOf([]pointRow{row("only", 61.9, 15.0)})
	if p := one.Points[0]; p.X != num(mapW/2) || p.Y != num(mapH/2+4.5) {
		t.Errorf("one point at %s,%s, want the centre", p.X, p.Y)
	}
	if none := mapOf(nil); len(none.Points) != 0 {
		t.Errorf("no points: %+v", none)
	}
}
