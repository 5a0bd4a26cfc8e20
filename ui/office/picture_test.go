package office

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// getJSON gets path as sess into v: 200 with JSON, or the test fails.
func getJSON(t *testing.T, sess *webtest.Session, path string, v any) webtest.Reply {
	t.Helper()
	r := sess.Get(t, path)
	if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %s (%s)", path, r, r.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.Body)
	}
	return r
}

// TestPicturePointsAPI: GET /api/central/points is {"points": […]}, one a
// point by id, each with its figures and their times; GET
// /api/central/points/{id} adds the timeline, newest first, and is 404
// for a point central does not know.
func TestPicturePointsAPI(t *testing.T) {
	e := newPicEnv(t, Options{})
	e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)

	var list struct{ Points []picture.Point }
	r := getJSON(t, vera, "/api/central/points", &list)
	if !bytes.HasPrefix(r.Body, []byte(`{"points":[{"id":"byhuset-a",`)) {
		t.Errorf("the body starts %.60s, want {\"points\":[{\"id\":\"byhuset-a\",…", r.Body)
	}
	var ids []string
	for _, p := range list.Points {
		ids = append(ids, p.ID)
	}
	if want := []string{byhuset, kyrkan, macken, skolan}; !slices.Equal(ids, want) {
		t.Fatalf("points %v, want %v", ids, want)
	}
	b := list.Points[0]
	switch {
	case b.Name != "Byhuset" || b.Municipality != "2161" || b.Location == nil || b.Location.Lat != 61.88:
		t.Errorf("byhuset-a: %+v", b)
	case b.Status != picture.StatusCritical || !b.Power.OnBattery || !b.Power.Low || b.Power.At == nil:
		t.Errorf("byhuset-a's status %s, power %+v: want critical, on battery and low, with its time", b.Status, b.Power)
	case b.Needs.Open != 2 || b.Needs.Urgent != 1 || b.Needs.ByUrgency["life-threatening"] != 1:
		t.Errorf("byhuset-a's needs: %+v", b.Needs)
	case b.People.Households != 1 || b.People.NeedsHelp != 3 && b.People.NeedsHelp != 1 || b.People.At == nil:
		t.Errorf("byhuset-a's people: %+v", b.People)
	case len(b.StockLow) != 1 || b.StockLow[0].Item != "bränsle" || b.Staff.OnDuty != 1:
		t.Errorf("byhuset-a's stock %+v, staff %+v", b.StockLow, b.Staff)
	}
	if k := list.Points[1]; k.Status != picture.StatusSilent || k.Location != nil {
		t.Errorf("kyrkan-d: status %s, location %v; want silent without a location", k.Status, k.Location)
	}

	var one PointDetail
	getJSON(t, vera, "/api/central/points/"+byhuset, &one)
	if one.ID != byhuset || one.Name != "Byhuset" {
		t.Errorf("the point: %+v", one.Point)
	}
	if len(one.Timeline) != 10 {
		t.Fatalf("the timeline has %d entries, want byhuset-a's 10 events", len(one.Timeline))
	}
	if first, last := one.Timeline[0], one.Timeline[9]; first.Type != node.TypeCheckInCreated || first.Seq != 10 ||
		last.Type != node.TypePointConfigured || last.Seq != 1 || !first.At.After(last.At) {
		t.Errorf("the timeline runs %s#%d … %s#%d, want newest (check-in #10) first", first.Type, first.Seq, last.Type, last.Seq)
	}
	if d := one.Timeline[0].Detail; d["status"] != "needs_help" || d["household"] != nil {
		t.Errorf("the check-in's detail %v: want its status, never its household", d)
	}
	for _, path := range []string{"/api/central/points/no-such-point", "/api/central/points/" + strings.ToUpper(byhuset)} {
		if r := vera.Get(t, path); r.Code != http.StatusNotFound || r.ErrorText() == "" {
			t.Errorf("GET %s: %s, want 404", path, r)
		}
	}
}

// TestPictureNeedsAPI: the needs across points, open by default, most
// urgent first and then oldest; ?status=all adds the resolved, ?point and
// ?municipality narrow it, and a bad query is 400.
func TestPictureNeedsAPI(t *testing.T) {
	e := newPicEnv(t, Options{})
	ids := e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)
	order := func(path string) []string {
		t.Helper()
		var got struct{ Needs []picture.Need }
		getJSON(t, vera, path, &got)
		var out []string
		for _, n := range got.Needs {
			out = append(out, n.ID)
		}
		return out
	}
	// life-threatening; then the two high ones, the older (skolan, 40 min)
	// first; then normal.
	if got, want := order("/api/central/needs"), []string{ids["life"], ids["skolan"], ids["macken"], ids["normal"]}; !slices.Equal(got, want) {
		t.Errorf("open needs %v, want %v", got, want)
	}
	if got, want := order("/api/central/needs?status=all"), []string{ids["life"], ids["resolved"], ids["skolan"], ids["macken"], ids["normal"]}; !slices.Equal(got, want) {
		t.Errorf("all needs %v, want %v (the resolved high one 80 min old before the other high ones)", got, want)
	}
	if got, want := order("/api/central/needs?point="+byhuset), []string{ids["life"], ids["normal"]}; !slices.Equal(got, want) {
		t.Errorf("byhuset-a's needs %v, want %v", got, want)
	}
	if got, want := order("/api/central/needs?municipality=0180"), []string{ids["skolan"]}; !slices.Equal(got, want) {
		t.Errorf("0180's needs %v, want %v", got, want)
	}
	var one struct{ Needs []picture.Need }
	getJSON(t, vera, "/api/central/needs?point="+macken, &one)
	if n := one.Needs; len(n) != 1 || n[0].Point != macken || n[0].PointName != "Macken" || n[0].Municipality != "2161" ||
		n[0].Urgency != "high" || n[0].Category != "road" || n[0].Text != "Träd över vägen" || n[0].Place != "Väg 84" || n[0].Status != "new" {
		t.Errorf("macken-b's need: %+v", one.Needs)
	}
	for _, q := range []string{"municipality=21", "municipality=abcd", "municipality=21610", "status=closed", "point=Not%20an%20id"} {
		if r := vera.Get(t, "/api/central/needs?"+q); r.Code != http.StatusBadRequest || r.ErrorText() == "" {
			t.Errorf("?%s: %s, want 400", q, r)
		}
		if r := vera.Get(t, "/api/central/needs.csv?"+q); r.Code != http.StatusBadRequest {
			t.Errorf("needs.csv?%s: %s, want 400", q, r)
		}
	}
}

// TestNeedsCSV: the needs as CSV for a spreadsheet: UTF-8 with a byte
// order mark, a header, one row a need in the queue's order, times in
// RFC 3339, and a resident's text that starts like a formula made text.
func TestNeedsCSV(t *testing.T) {
	e := newPicEnv(t, Options{})
	ids := e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)
	r := vera.Get(t, "/api/central/needs.csv?status=all")
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), `attachment; filename="behov-`) {
		t.Fatalf("needs.csv: %d %q %q", r.Code, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}
	body, ok := bytes.CutPrefix(r.Body, []byte{0xEF, 0xBB, 0xBF})
	if !ok {
		t.Fatalf("no UTF-8 byte order mark first: % x", r.Body[:min(8, len(r.Body))])
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], []string{"point", "point_name", "municipality", "id", "category", "urgency", "status", "text", "place", "created", "updated"}) {
		t.Errorf("header %q", rows[0])
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows, want the header and 5 needs", len(rows))
	}
	life := rows[1]
	if life[0] != byhuset || life[1] != "Byhuset" || life[2] != "2161" || life[3] != ids["life"] || life[4] != "medical" ||
		life[5] != "life-threatening" || life[6] != "new" || life[8] != "Storgatan 1, trappa 2" {
		t.Errorf("the first row %q", life)
	}
	if life[7] != "'"+formula {
		t.Errorf("the formula's cell is %q, want it quoted as text: %q", life[7], "'"+formula)
	}
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("a cell starts with %q: %q", cell[:1], cell)
			}
		}
		for _, col := range []int{9, 10} {
			if _, err := time.Parse(time.RFC3339, row[col]); err != nil {
				t.Errorf("%s %q: %v", rows[0][col], row[col], err)
			}
		}
	}
	if rows[2][3] != ids["resolved"] || rows[2][6] != "resolved" {
		t.Errorf("the second row %q, want the resolved need", rows[2])
	}
	open := vera.Get(t, "/api/central/needs.csv")
	if n := bytes.Count(open.Body, []byte("\n")); n != 5 {
		t.Errorf("open needs CSV has %d lines, want the header and 4", n)
	}
	if got := csvCell("-1+1"); got != "'-1+1" {
		t.Errorf("csvCell(-1+1) = %q", got)
	}
	for _, s := range []string{"@SUM(A1)", "+46 70", "\t=1", "\r=1"} {
		if got := csvCell(s); got != "'"+s {
			t.Errorf("csvCell(%q) = %q, want it quoted", s, got)
		}
	}
	if got := csvCell("Vatten = liv"); got != "Vatten = liv" {
		t.Errorf("csvCell changed a harmless cell: %q", got)
	}
}

// TestPointsGeoJSON: a FeatureCollection per RFC 7946: each point a
// Feature at [longitude, latitude], a point without a location with a
// null geometry, the figures as properties.
func TestPointsGeoJSON(t *testing.T) {
	e := newPicEnv(t, Options{})
	e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)
	r := vera.Get(t, "/api/central/points.geojson")
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "application/geo+json" {
		t.Fatalf("points.geojson: %d %q", r.Code, r.Header.Get("Content-Type"))
	}
	var fc struct {
		Type     string
		Features []struct {
			Type     string
			ID       string
			Geometry *struct {
				Type        string
				Coordinates []float64
			}
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(r.Body, &fc); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 4 {
		t.Fatalf("%s with %d features, want a FeatureCollection of 4", fc.Type, len(fc.Features))
	}
	by := map[string]int{}
	for i, f := range fc.Features {
		by[f.ID] = i
		if f.Type != "Feature" {
			t.Errorf("%s: type %q", f.ID, f.Type)
		}
	}
	b := fc.Features[by[byhuset]]
	if b.Geometry == nil || b.Geometry.Type != "Point" || !slices.Equal(b.Geometry.Coordinates, []float64{15.65, 61.88}) {
		t.Errorf("byhuset-a's geometry %+v, want a Point at [15.65, 61.88]: longitude first", b.Geometry)
	}
	for k, want := range map[string]any{"id": byhuset, "name": "Byhuset", "municipality": "2161", "status": "critical",
		"power": "battery", "power_state": "OB LB", "battery_percent": 18.0, "households": 1.0, "open_needs": 2.0, "urgent_needs": 1.0} {
		if got := b.Properties[k]; got != want {
			t.Errorf("byhuset-a's %s: %v, want %v", k, got, want)
		}
	}
	if k := fc.Features[by[kyrkan]]; k.Geometry != nil {
		t.Errorf("kyrkan-d, without a location, has a geometry: %+v", k.Geometry)
	}
	if !bytes.Contains(r.Body, []byte(`"id":"kyrkan-d","geometry":null`)) {
		t.Errorf("kyrkan-d's geometry is not null in %s", r.Body)
	}
}
