package main

// Process-level tests of the Prometheus metrics: the real binary's
// /metrics on its own address, parsed with Prometheus's own text parser,
// linted with promlint and, where it is installed, promtool.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// metricsURL waits for the "Serving metrics" line of the process's JSON
// log and returns the URL of its /metrics.
func (p *proc) metricsURL(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "Serving metrics" {
				return "http://" + rec.Addr + "/metrics"
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no \"Serving metrics\" in the log:\n%s", p.Stderr)
	return ""
}

// scrape GETs url as Prometheus does and parses the answer with the text
// parser; it returns the families by name and the raw text.
func scrape(t testing.TB, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the text parser refuses /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// value is a family's one unlabelled sample, or the sample with labels.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		var have []string
		for _, l := range m.Label {
			have = append(have, l.GetName(), l.GetValue())
		}
		if !slices.Equal(have, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// lint fails on anything promlint finds, and, in a subtest, on anything
// promtool check metrics finds (skipped loudly where promtool is not
// installed, failed under REQUIRE_PEERS=1).
func lint(t *testing.T, body []byte) {
	t.Helper()
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			synctest.NeedPeer(t, "promtool not installed (apt-get install prometheus)")
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

// TestNodeMetrics: a node with --metrics serves the metrics the issue
// names on that address alone; they move with what happens (an event
// appended, requests answered), routes are patterns and never a path
// asked for, and promlint and promtool find nothing.
func TestNodeMetrics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// A broker nobody answers at: the link is configured and down, its
	// backlog grows.
	p := startNode(t, nil, nodeArgs(dir, "--power", "sim", "--metrics", "127.0.0.1:0", "--staff-tls", "off",
		"--mqtt", fmt.Sprintf("tcp://127.0.0.1:%d", synctest.FreePort(t)))...)
	url := p.metricsURL(t)
	if strings.TrimSuffix(url, "/metrics") == p.base {
		t.Fatalf("metrics on the residents' address %s", p.base)
	}
	// The residents' port has no metrics, the metrics port nothing else.
	if resp, err := httpClient.Get(p.base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the residents' port: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := httpClient.Get(strings.TrimSuffix(url, "/metrics") + "/api/status"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/status on the metrics port: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}

	before, _ := scrape(t, url)
	appended0, _ := value(t, before, "safepoint_events_appended_total")
	for range 3 {
		p.getStatus(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, c, body, err := postReport(ctx, httpClient, p.base, "Träd över vägen", "Norrby")
	if err != nil || code != http.StatusCreated {
		t.Fatalf("report: %d %v %s", code, err, body)
	}
	p.getStatus(t)
	// A path with the receipt code in it counts under its pattern.
	if resp, err := httpClient.Get(p.base + "/r/" + c.Receipt); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /r/{code}: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	fams, raw := scrape(t, url)
	for _, name := range []string{
		"safepoint_events_appended_total", "safepoint_sync_backlog_events", "safepoint_sync_connected",
		"safepoint_power_battery_percent", "safepoint_power_on_battery", "safepoint_power_source_ok",
		"safepoint_http_requests_total", "go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes",
	} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if v, _ := value(t, fams, "safepoint_events_appended_total"); v < appended0+1 {
		t.Errorf("safepoint_events_appended_total %v after a report, was %v", v, appended0)
	}
	if v, _ := value(t, fams, "safepoint_sync_backlog_events"); v < 1 {
		t.Errorf("safepoint_sync_backlog_events %v with the broker away and events to send", v)
	}
	if v, ok := value(t, fams, "safepoint_sync_connected"); !ok || v != 0 {
		t.Errorf("safepoint_sync_connected %v %v with no broker", v, ok)
	}
	if v, _ := value(t, fams, "safepoint_power_battery_percent"); v <= 0 || v > 100 {
		t.Errorf("safepoint_power_battery_percent %v", v)
	}
	if v, _ := value(t, fams, "safepoint_http_requests_total", "code", "200", "route", "GET /api/status"); v < 4 {
		t.Errorf(`safepoint_http_requests_total{route="GET /api/status",code="200"} = %v, want at least 4`, v)
	}
	if v, _ := value(t, fams, "safepoint_http_requests_total", "code", "201", "route", "POST /api/reports"); v != 1 {
		t.Errorf(`safepoint_http_requests_total{route="POST /api/reports",code="201"} = %v, want 1`, v)
	}
	if v, _ := value(t, fams, "safepoint_http_requests_total", "code", "200", "route", "GET /r/{code}"); v != 1 {
		t.Errorf(`safepoint_http_requests_total{route="GET /r/{code}",code="200"} = %v, want 1`, v)
	}
	pattern := regexp.MustCompile(`^([A-Z]+ )?/[^ ]*$|^none$`)
	for _, m := range fams["safepoint_http_requests_total"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "route" && (!pattern.MatchString(l.GetValue()) || strings.Contains(l.GetValue(), c.Receipt)) {
				t.Errorf("route label %q is no mux pattern", l.GetValue())
			}
		}
	}
	lint(t, raw)
}

// TestMetricsNeverOnResidentsPort: --metrics on the port of --http (or of
// --https, with staff TLS on) is refused, from the flag, the file or the
// environment, by node and central; a port of its own is taken.
func TestMetricsNeverOnResidentsPort(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(conf, []byte("http = \"127.0.0.1:8080\"\nmetrics = \"0.0.0.0:8080\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		refused bool
	}{
		{"same address", []string{"--http", "127.0.0.1:8080", "--metrics", "127.0.0.1:8080"}, nil, true},
		{"metrics on every address", []string{"--http", "127.0.0.1:8080", "--metrics", ":8080"}, nil, true},
		{"residents on every address", []string{"--http", ":8080", "--metrics", "127.0.0.1:8080"}, nil, true},
		{"the staff port", []string{"--metrics", "[::]:8443"}, nil, true},
		{"from the environment", []string{"--metrics", "127.0.0.1:9464"}, map[string]string{"SAFEPOINT_HTTP": "127.0.0.1:9464"}, true},
		{"from the file", []string{"--config", conf}, nil, true},
		{"no staff port without staff TLS", []string{"--staff-tls", "off", "--metrics", "127.0.0.1:8443"}, nil, false},
		{"another address", []string{"--http", "127.0.0.1:8080", "--metrics", "127.0.0.2:8080"}, nil, false},
		{"its own port", []string{"--metrics", "127.0.0.1:9464"}, nil, false},
		{"off", nil, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultNodeConfig()
			var path string
			fs := nodeFlags(&cfg, &path, io.Discard)
			err := parseLayered(fs, c.args, func(k string) string { return c.env[k] }, &path,
				func() { cfg = defaultNodeConfig() }, func(p string) error { return decodeTOML(p, &cfg) })
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.validate()
			if refused := err != nil && strings.Contains(err.Error(), "--metrics"); refused != c.refused {
				t.Errorf("%v: %v; refused %v, want %v", c.args, err, refused, c.refused)
			}
		})
	}
	// Central refuses the same before it opens anything.
	err := run(context.Background(), []string{"central", "--data", filepath.Join(t.TempDir(), "c"),
		"--embedded-broker", "127.0.0.1:0", "--metrics", ":8090"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--metrics") || !strings.Contains(err.Error(), "--http") {
		t.Errorf("central with --metrics on its --http port (:8090): %v", err)
	}
}

// TestCentralMetrics: central's metrics follow a point that links and
// reports (events ingested, points known and online, the point's
// backlog), promlint and promtool find nothing, and every query of the
// Grafana dashboard in deploy/grafana names a metric central exports.
func TestCentralMetrics(t *testing.T) {
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", synctest.FreePort(t))
	c := start(t, nil, "central", "--data", cdir, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", brokerAddr, "--metrics", "127.0.0.1:0", "--log-format", "json")
	c.waitServing(t, "central", 20*time.Second)
	c.waitHealthy(t) // a request answered: safepoint_http_requests_total has a count
	url := c.metricsURL(t)
	n := linkedNode(t, tmp, "byhuset", "2161", brokerAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, _, body, err := postReport(ctx, httpClient, n.base, "Vatten behövs", "Byn"); err != nil || code != http.StatusCreated {
		t.Fatalf("report: %d %v %s", code, err, body)
	}
	var fams map[string]*dto.MetricFamily
	var raw []byte
	if !synctest.Eventually(30*time.Second, func() bool {
		fams, raw = scrape(t, url)
		ingested, _ := value(t, fams, "safepoint_central_events_ingested_total")
		online, _ := value(t, fams, "safepoint_central_points_online")
		backlog, ok := value(t, fams, "safepoint_central_point_backlog_events", "point", "byhuset")
		return ingested >= 2 && online == 1 && ok && backlog == 0
	}) {
		t.Fatalf("central never showed the point linked and its events stored:\n%s\nnode:\n%s", raw, tail(n.Stderr.String(), 2000))
	}
	if v, _ := value(t, fams, "safepoint_central_points_known"); v != 1 {
		t.Errorf("safepoint_central_points_known = %v, want 1", v)
	}
	if v, _ := value(t, fams, "safepoint_central_broker_connected"); v != 1 {
		t.Errorf("safepoint_central_broker_connected = %v, want 1", v)
	}
	for _, kind := range []string{"silent", "power", "need"} {
		if _, ok := value(t, fams, "safepoint_central_alerts_open", "kind", kind); !ok {
			t.Errorf("no safepoint_central_alerts_open{kind=%q}", kind)
		}
	}
	for _, name := range []string{"safepoint_events_appended_total", "safepoint_http_requests_total",
		"safepoint_central_messages_refused_total", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s in central's /metrics", name)
		}
	}
	lint(t, raw)
	checkDashboard(t, filepath.Join("..", "..", "deploy", "grafana", "central.json"), fams)
}

// checkDashboard reads a Grafana dashboard and checks that it has panels,
// each with a query, and that every metric a query names is one of fams
// (a histogram's or summary's _bucket, _sum and _count count as its own).
func checkDashboard(t *testing.T, file string, fams map[string]*dto.MetricFamily) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s is no JSON dashboard: %v", file, err)
	}
	if dash.Title == "" || len(dash.Panels) < 4 {
		t.Fatalf("%s: title %q, %d panels", file, dash.Title, len(dash.Panels))
	}
	metricName := regexp.MustCompile(`\b(safepoint|go|process)_[a-z0-9_]+`)
	exported := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if fams[strings.TrimSuffix(name, suffix)] != nil && (suffix == "" || strings.HasSuffix(name, suffix)) {
				return true
			}
		}
		return false
	}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			names := metricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, q.Expr)
			}
			for _, name := range names {
				if !exported(name) {
					t.Errorf("panel %q: query %q names %s, which central does not export", p.Title, q.Expr, name)
				}
			}
		}
	}
}

// linkedNode starts a node with an account on the embedded broker of the
// central whose data is tmp/central, linked to it.
func linkedNode(t *testing.T, tmp, id, municipality, brokerAddr string) *proc {
	t.Helper()
	pw := randHex(t, 16)
	if err := broker.WriteNodeEntry(filepath.Join(tmp, "central", "broker", "users"), id, municipality, pw); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(tmp, id+".pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startNode(t, nil, nodeArgs(filepath.Join(tmp, id), "--id", id, "--municipality", municipality,
		"--staff-tls", "off", "--mqtt", "tcp://"+brokerAddr, "--mqtt-user", id, "--mqtt-password-file", pwFile)...)
}
