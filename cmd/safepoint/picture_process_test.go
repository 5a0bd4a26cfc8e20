package main

// Process-level test of central's situation picture (issue 16): two points
// in two municipalities report over a real broker to a real central, whose
// picture, API, exports and pages show them, scoped per account, and never
// a resident's name or number.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

func TestSituationPicture(t *testing.T) {
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	users := filepath.Join(cdir, "broker", "users")
	type point struct {
		id, municipality, name string
		lat, lon               float64
		p                      *proc
		staff                  *staffClient
	}
	points := []*point{
		{id: "byhuset-norrby", municipality: "2161", name: "Byhuset Norrby", lat: 61.83, lon: 16.05},
		{id: "macken-delsbo", municipality: "2184", name: "Macken Delsbo", lat: 61.80, lon: 16.56},
	}
	for _, pt := range points {
		pw := randHex(t, 16)
		if err := broker.WriteNodeEntry(users, pt.id, pt.municipality, pw); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, pt.id+".pw"), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	admin, scoped := randHex(t, 12), randHex(t, 12)
	addUser(t, cdir, "kommunen", "admin", admin)
	if r := userCmd(t, cdir, scoped+"\n"+scoped+"\n", "add", "--name", "ljusdal", "--role", "staff", "--municipalities", "2161"); r.Code != 0 {
		t.Fatalf("user add --municipalities: %s", r)
	}
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", synctest.FreePort(t))
	c := start(t, nil, "central", "--data", cdir, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", brokerAddr, "--log-format", "json", "--log-level", "debug")
	c.waitServing(t, "central", 20*time.Second)

	nodePw := randHex(t, 12)
	for _, pt := range points {
		dir := filepath.Join(tmp, pt.id)
		conf := filepath.Join(tmp, pt.id+".toml")
		if err := os.WriteFile(conf, fmt.Appendf(nil, "name = %q\n[location]\nlat = %v\nlon = %v\n", pt.name, pt.lat, pt.lon), 0o600); err != nil {
			t.Fatal(err)
		}
		addUser(t, dir, "eva", "staff", nodePw)
		pt.p = startNode(t, nil, nodeArgs(dir, "--config", conf, "--id", pt.id, "--municipality", pt.municipality,
			"--staff-tls", "off", "--mqtt", "tcp://"+brokerAddr, "--mqtt-user", pt.id,
			"--mqtt-password-file", filepath.Join(tmp, pt.id+".pw"))...)
		pt.staff = newStaffClient(t, dir, pt.p.base)
		pt.staff.mustLogin("eva", nodePw)
	}

	// A resident checks in at Norrby with a real name and number, and
	// reports a need; Delsbo has a need too.
	name, phone := "Märta Andersson", "070-123 45 67"
	resp, b := points[0].staff.do(http.MethodPost, "/api/checkins", fmt.Sprintf(`{"size": 3, "status": "needs_help", "need": "medical",
		"name": %q, "contact": %q, "details": "insulin"}`, name, phone), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("check-in: %d %s", resp.StatusCode, b)
	}
	var checkin struct{ ID string }
	if err := json.Unmarshal(b, &checkin); err != nil || checkin.ID == "" {
		t.Fatalf("check-in answer %s: %v", b, err)
	}
	report := func(pt *point, urgency, text string) string {
		resp, b := pt.staff.do(http.MethodPost, "/api/reports", fmt.Sprintf(`{"category": "medical", "urgency": %q, "text": %q}`, urgency, text),
			map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("report at %s: %d %s", pt.id, resp.StatusCode, b)
		}
		var r struct{ ID string }
		json.Unmarshal(b, &r)
		return r.ID
	}
	need := report(points[0], "life-threatening", "Insulin måste kylas")
	report(points[1], "normal", "Vatten till byn")

	office := newStaffClient(t, cdir, c.base)
	office.mustLogin("kommunen", admin)
	get := func(s *staffClient, path string) (int, string) {
		resp, b := s.do(http.MethodGet, path, "", nil)
		return resp.StatusCode, string(b)
	}
	type needJSON struct {
		Point, ID, Urgency, Status string
	}
	needs := func(s *staffClient, query string) []needJSON {
		code, body := get(s, "/api/central/needs"+query)
		if code != http.StatusOK {
			t.Fatalf("GET /api/central/needs%s: %d %s", query, code, body)
		}
		var out struct{ Needs []needJSON }
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out.Needs
	}
	if !synctest.Eventually(30*time.Second, func() bool { return len(needs(office, "")) == 2 }) {
		t.Fatalf("central's needs: %+v\ncentral:\n%s", needs(office, ""), tail(c.Stderr.String(), 3000))
	}
	if n := needs(office, ""); n[0].ID != need || n[0].Urgency != "life-threatening" {
		t.Fatalf("the most urgent need first: %+v", n)
	}

	// The points, with their locations and counts.
	var list struct {
		Points []struct {
			ID, Name, Municipality string
			Location               *struct{ Lat, Lon float64 }
			People                 struct {
				Households, People int
				NeedsHelp          int `json:"needs_help"`
			}
		}
	}
	if code, body := get(office, "/api/central/points"); code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Points) != 2 {
		t.Fatalf("GET /api/central/points: %d %s", code, body)
	}
	for i, p := range list.Points {
		want := points[i]
		if p.ID != want.id || p.Name != want.name || p.Municipality != want.municipality || p.Location == nil || p.Location.Lat != want.lat {
			t.Errorf("point %d: %+v, want %s %s in %s at %v", i, p, want.id, want.name, want.municipality, want.lat)
		}
	}
	if p := list.Points[0].People; p.Households != 1 || p.People != 3 || p.NeedsHelp != 1 {
		t.Errorf("Norrby's people: %+v, want 1 household of 3 needing help", p)
	}

	// Triage at the point shows at central within seconds.
	start := time.Now()
	if resp, b := points[0].staff.do(http.MethodPost, "/api/staff/reports/"+need+"/status", `{"status": "in_progress"}`,
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": points[0].staff.CSRF}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("triage: %d %s", resp.StatusCode, b)
	}
	if !synctest.Eventually(15*time.Second, func() bool {
		for _, n := range needs(office, "") {
			if n.ID == need {
				return n.Status == "in_progress"
			}
		}
		return false
	}) {
		t.Fatalf("the triage did not reach central's needs: %+v", needs(office, ""))
	}
	t.Logf("triage at the point shown at central after %v", time.Since(start).Round(time.Millisecond))

	// The scoped account sees Ljusdal's point only, on every route.
	ljusdal := newStaffClient(t, cdir, c.base)
	ljusdal.mustLogin("ljusdal", scoped)
	if n := needs(ljusdal, ""); len(n) != 1 || n[0].Point != "byhuset-norrby" {
		t.Errorf("scoped needs: %+v", n)
	}
	for _, path := range []string{"/api/central/points", "/api/central/needs?status=all", "/api/central/points.geojson",
		"/api/central/needs.csv", "/api/nodes", "/central", "/central/print"} {
		code, body := get(ljusdal, path)
		if code != http.StatusOK || !strings.Contains(body, "byhuset-norrby") || strings.Contains(body, "macken-delsbo") {
			t.Errorf("scoped %s: %d, Norrby there %v, Delsbo there %v", path, code,
				strings.Contains(body, "byhuset-norrby"), strings.Contains(body, "macken-delsbo"))
		}
	}
	if code, _ := get(ljusdal, "/api/central/points/macken-delsbo"); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("scoped GET of another municipality's point: %d", code)
	}
	if code, _ := get(ljusdal, "/api/central/points/byhuset-norrby"); code != http.StatusOK {
		t.Errorf("scoped GET of its own point: %d", code)
	}

	// Privacy: the resident's name and number are at the node, and in no
	// answer of central's, nor its log, nor its files.
	if resp, b := points[0].staff.do(http.MethodGet, "/api/staff/checkins/"+checkin.ID+"/personal", "", nil); resp.StatusCode != http.StatusOK ||
		!strings.Contains(string(b), name) || !strings.Contains(string(b), phone) {
		t.Fatalf("the node does not hold the resident's name and number: %d %s", resp.StatusCode, b)
	}
	if code, body := get(ljusdal, "/api/central/alerts"); code != http.StatusOK || strings.Contains(body, "macken-delsbo") {
		t.Errorf("scoped alerts: %d %s", code, body)
	}
	for _, path := range []string{"/api/central/points", "/api/central/points/byhuset-norrby", "/api/central/needs?status=all",
		"/api/central/points.geojson", "/api/central/needs.csv", "/api/central/alerts", "/api/nodes", "/central",
		"/central/print", "/central/points/byhuset-norrby"} {
		code, body := get(office, path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
		}
		for _, s := range []string{name, phone, "Andersson", "123 45 67"} {
			if strings.Contains(body, s) {
				t.Errorf("GET %s holds %q", path, s)
			}
		}
	}
	c.terminate()
	for _, s := range []string{name, phone, "Andersson"} {
		if strings.Contains(c.Stderr.String(), s) {
			t.Errorf("central's log holds %q", s)
		}
	}
	files, _ := filepath.Glob(filepath.Join(cdir, "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err == nil && (strings.Contains(string(raw), "Andersson") || strings.Contains(string(raw), "123 45 67")) {
			t.Errorf("central's file %s holds the resident's name or number", filepath.Base(f))
		}
	}
}
