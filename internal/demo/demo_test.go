package demo

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/safepoint-se/safepoint/hardware/sim"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// TestStormFile: the storm the demo carries is the shipped file.
func TestStormFile(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "..", "deploy", "scenarios", "storm-demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, []byte(Storm)) {
		t.Errorf("Storm in storm.go differs from deploy/scenarios/storm-demo.toml: keep them the same")
	}
	if _, err := sim.Parse([]byte(Storm)); err != nil {
		t.Errorf("Storm: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func(*Config)
		want []string // in the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"every point", func(c *Config) { c.Nodes = len(Points) }, nil},
		{"highest base port", func(c *Config) { c.BasePort = 65535 - 413 }, nil},
		{"no dir", func(c *Config) { c.Dir = "" }, []string{"--dir: required"}},
		{"no nodes", func(c *Config) { c.Nodes = 0 }, []string{"--nodes 0: 1 to 10"}},
		{"too many nodes", func(c *Config) { c.Nodes = 11 }, []string{"--nodes 11: 1 to 10"}},
		{"base port too high", func(c *Config) { c.BasePort = 65535 - 412 }, []string{"--base-port 65123: 1 to 65122"}},
		{"all wrong", func(c *Config) { c.Dir, c.Nodes, c.BasePort = "", -1, 0 },
			[]string{"--dir", "--nodes -1", "--base-port 0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			tt.cfg(&cfg)
			err := cfg.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate() = %v, want errors %q", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want %q in it", err, w)
				}
			}
		})
	}
}

// TestPorts: the default ports are the ones README and the banner name.
func TestPorts(t *testing.T) {
	c := Defaults()
	got := []int{c.NodeHTTP(0), c.NodeHTTP(2), c.CentralHTTP(), c.BrokerPort(), c.NodeHTTPS(0), c.NodeHTTPS(1), c.CentralHTTPS()}
	want := []int{8080, 8082, 8090, 8091, 8443, 8444, 8493}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("ports %v, want %v", got, want)
		}
	}
	if Addr(8080) != "127.0.0.1:8080" {
		t.Errorf("Addr(8080) = %q", Addr(8080))
	}
}

// TestPrefixWriter: a child's output becomes whole lines, each with its
// name, however it is cut; the watched line is seen once.
func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	out := &output{w: &b}
	seen := make(chan struct{})
	w := &prefixWriter{out: out, name: "node", width: 7, watch: &logWatch{text: "link up", seen: seen}}
	for _, chunk := range []string{"first li", "ne\nsecond\nthe link", " up\nlink up again\n", "no newline"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	select {
	case <-seen:
	default:
		t.Error("the watched line was not seen")
	}
	w.flush()
	w.flush() // nothing left: no second line
	want := "node    | first line\nnode    | second\nnode    | the link up\nnode    | link up again\nnode    | no newline\n"
	if b.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "SAFEPOINT_DATA=/x", "HOME=/root", "SAFEPOINT_MQTT=tcp://y"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/root" {
		t.Errorf("childEnv = %q", got)
	}
}

// TestPassword: made once, kept on the next run; a file too short for a
// password gets a new one.
func TestPassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo-password")
	first, err := demoPassword(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 19 || strings.Count(first, "-") != 3 {
		t.Errorf("password %q: want four groups of four", first)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v", path, err)
	}
	if again, err := demoPassword(path); err != nil || again != first {
		t.Errorf("second run: %q, %v; want %q", again, err, first)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if renewed, err := demoPassword(path); err != nil || renewed == first || len(renewed) != 19 {
		t.Errorf("after a short one: %q, %v", renewed, err)
	}
}

// TestPrepareNode prepares a node twice, as two runs of the demo do: its
// configuration, broker user and content are there once, and the demo
// account takes the password of the latest run.
func TestPrepareNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "central", "broker", "users")
	points := Points[:3]
	n := site{Point: points[0], data: filepath.Join(dir, points[0].ID)}
	fp, err := prepareNode(ctx, n, points, "first password", usersFile)
	if err != nil {
		t.Fatal(err)
	}
	// What the first run's story left: its need still open, a resident's
	// own need beside it, the water below its mark.
	oxygen := story[slices.IndexFunc(story, func(b beat) bool { return b.key == "oxygen" })].report
	l, err := eventlog.Open(ctx, filepath.Join(n.data, eventlog.FileName), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []node.Draft{
		{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: "told", Receipt: "AAAAAAAA", Category: oxygen.Category,
			Text: oxygen.Text, Urgency: oxygen.Urgency}},
		{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: "own", Receipt: "BBBBBBBB", Category: "road",
			Text: "Träd över vägen", Urgency: "high"}},
		{Type: node.TypeInventoryChanged, Payload: node.InventoryChanged{Item: "dricksvatten", Quantity: 40, Unit: "l", Low: 50}},
	} {
		if _, err := l.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fp2, err := prepareNode(ctx, n, points, "second password", usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if fp == "" || fp2 != fp {
		t.Errorf("fingerprints %q then %q: want the same certificate", fp, fp2)
	}

	conf, err := os.ReadFile(filepath.Join(n.data, "demo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// The other point of the same municipality is nearby; the one of
	// another municipality is not.
	if !strings.Contains(string(conf), points[1].Name) || strings.Contains(string(conf), points[2].Name) {
		t.Errorf("demo.toml:\n%s", conf)
	}
	// The node reads the file as its configuration: its municipality and
	// location are the point's.
	var file struct {
		Municipality string         `toml:"municipality"`
		Location     *node.Location `toml:"location"`
	}
	if _, err := toml.Decode(string(conf), &file); err != nil {
		t.Fatal(err)
	}
	if file.Municipality != n.Municipality || file.Location == nil ||
		file.Location.Lat != n.Lat || file.Location.Lon != n.Lon {
		t.Errorf("demo.toml: municipality %q, location %+v; want %q at %v, %v:\n%s",
			file.Municipality, file.Location, n.Municipality, n.Lat, n.Lon, conf)
	}
	// The broker knows the node in the same municipality, so that its
	// ACL lets it publish under sp/v1/{municipality}/{node}.
	users, err := broker.LoadUsers(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(users.Nodes(), broker.NodeUser{Name: n.ID, Municipality: n.Municipality}) {
		t.Errorf("%s: nodes %v, want %s in %s", usersFile, users.Nodes(), n.ID, n.Municipality)
	}

	l, err = eventlog.Open(ctx, filepath.Join(n.data, eventlog.FileName), eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	staff := synctest.OpenAccounts(t, l)
	v := l.State().View()
	if len(v.Announcements) != 1 {
		t.Errorf("%d announcements after two runs, want 1", len(v.Announcements))
	}
	// The roster, once: two on duty, one resting.
	events, err := l.EventsAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rosterEvents, onDuty := 0, 0
	for _, e := range events {
		if e.Type == node.TypeRosterChanged {
			rosterEvents++
		}
	}
	for _, r := range v.Roster {
		if r.OnDuty {
			onDuty++
		}
	}
	if rosterEvents != 3 || len(v.Roster) != 3 || onDuty != 2 {
		t.Errorf("%d roster events, %d people, %d on duty after two runs; want 3, 3, 2", rosterEvents, len(v.Roster), onDuty)
	}
	// The second run starts the story afresh: the story's need is
	// resolved, the resident's own is not, the water is counted full.
	status := map[string]string{}
	for _, r := range v.Reports {
		status[r.ID] = r.Status
	}
	if status["told"] != node.ReportResolved || status["own"] == node.ReportResolved {
		t.Errorf("after the second prepare: the story's need %q, a resident's own %q; want resolved and open", status["told"], status["own"])
	}
	if water, ok := l.State().Stock("dricksvatten"); !ok || water.IsLow || water.Quantity != 300 {
		t.Errorf("after the second prepare: water %+v, want 300 l again", water)
	}
	if _, err := staff.Authenticate(ctx, User, "second password"); err != nil {
		t.Errorf("the demo account with the second run's password: %v", err)
	}
	if _, err := staff.Authenticate(ctx, User, "first password"); err == nil {
		t.Error("the first run's password still works")
	}
}

func TestScenarioFile(t *testing.T) {
	dir := t.TempDir()
	got, err := scenarioFile(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != Storm || !filepath.IsAbs(got) {
		t.Errorf("%s: %v; want Storm, at an absolute path", got, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("speed = -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := scenarioFile(Config{Dir: dir, Scenario: bad}); err == nil || !strings.Contains(err.Error(), "demo: --power:") {
		t.Errorf("a bad scenario: %v", err)
	}
}

// TestWaitHealthy: every URL is polled until it answers 200.
func TestWaitHealthy(t *testing.T) {
	var calls atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer slow.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()
	if err := waitHealthy(context.Background(), []string{slow.URL, ok.URL}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3", calls.Load())
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer down.Close()
	if err := waitHealthy(context.Background(), []string{ok.URL, down.URL}, 300*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), down.URL+" did not answer") {
		t.Errorf("a server that never answers 200: %v", err)
	}
}

// TestNodeSummary: the story line for each kind of /api/status.
func TestNodeSummary(t *testing.T) {
	for _, tt := range []struct {
		name, status string
		code         int
		want         string
	}{
		{"mains", `{"power":{"state":"OL"},"sync":{"online":true}}`, 200, "power OL (mains), linked to central"},
		{"battery", `{"power":{"state":"OB DISCHRG","battery_percent":81.6,"runtime_minutes":150},"sync":{"online":false}}`, 200,
			"power OB DISCHRG (battery), battery 82 %, about 2.5 h left, not linked to central"},
		{"generator", `{"power":{"state":"GEN","battery_percent":90},"sync":{"online":true}}`, 200, "power GEN (generator), linked to central"},
		{"no power monitor", `{"sync":{"online":true}}`, 200, "linked to central"},
		{"not ready", `{}`, 503, ""},
		{"not JSON", `<html>`, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				w.Write([]byte(tt.status))
			}))
			defer srv.Close()
			if got := nodeSummary(context.Background(), srv.Client(), srv.URL); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBanner: the banner names every address, the account and where its
// password is kept.
func TestBanner(t *testing.T) {
	cfg := Defaults()
	nodes := []site{{Point: Points[0], http: cfg.NodeHTTP(0), https: cfg.NodeHTTPS(0), fingerprint: "AA:BB"}}
	b := banner(cfg, nodes, "abcd-efgh-ijkl-mnop", "CC:DD", "/tmp/storm.toml", 1500*time.Millisecond)
	for _, want := range []string{
		"and 1 nodes, up in 1.5 s",
		"storm in /tmp/storm.toml",
		"demo, password abcd-efgh-ijkl-mnop",
		filepath.Join(".run", "demo", "demo-password"),
		"Byhuset i Norrby  residents http://127.0.0.1:8080/   staff https://127.0.0.1:8443/board",
		"status    http://127.0.0.1:8080/api/status   (byhuset-norrby, kommun 2161)",
		"SHA256:AA:BB",
		"Central     https://127.0.0.1:8493/login?next=/api/nodes",
		"SHA256:CC:DD",
		"MQTT broker tcp://127.0.0.1:8091",
		"Ctrl-C stops everything",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
}

// TestPoints: every point sits in its municipality, whose switchboard it
// shares an area code with, and the default nodes span two
// municipalities, so that an account at central scoped to one has
// something to leave out.
func TestPoints(t *testing.T) {
	// Each municipality's extent, a little generous: enough to catch a
	// point in the wrong one, or latitude and longitude swapped.
	extent := map[string]struct{ latMin, latMax, lonMin, lonMax float64 }{
		"2161": {61.55, 62.35, 14.90, 16.45}, // Ljusdal
		"2184": {61.45, 62.10, 16.30, 17.60}, // Hudiksvall
	}
	ids := map[string]bool{}
	for _, p := range Points {
		e, ok := extent[p.Municipality]
		if !ok {
			t.Errorf("%s: municipality %s has no extent here", p.ID, p.Municipality)
			continue
		}
		if p.Lat < e.latMin || p.Lat > e.latMax || p.Lon < e.lonMin || p.Lon > e.lonMax {
			t.Errorf("%s at %v, %v: outside municipality %s", p.ID, p.Lat, p.Lon, p.Municipality)
		}
		area, _, _ := strings.Cut(switchboard[p.Municipality], "-")
		if area == "" || !strings.HasPrefix(p.Phone, area+"-") {
			t.Errorf("%s: phone %q, switchboard %q: want one area code", p.ID, p.Phone, switchboard[p.Municipality])
		}
		if ids[p.ID] || !node.ValidMunicipality(p.Municipality) {
			t.Errorf("%s: id twice, or municipality %q not a kommunkod", p.ID, p.Municipality)
		}
		ids[p.ID] = true
	}
	municipalities := map[string]bool{}
	for _, p := range Points[:Defaults().Nodes] {
		municipalities[p.Municipality] = true
	}
	if len(municipalities) < 2 {
		t.Errorf("the default %d points are all in %v", Defaults().Nodes, municipalities)
	}
}
