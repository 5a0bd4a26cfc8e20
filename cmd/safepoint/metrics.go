package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The metrics are counted in the parts that know (the event log, the
// site's request counts, the power monitor, the link, central's receiver
// and picture) and exposed here, where the parts are composed, on an
// address of their own (--metrics): never on the residents' port.

// checkMetricsAddr refuses a metrics address that would share a port with
// a listener of the site: metrics are for the operator's Prometheus, not
// for residents on the open Wi-Fi.
func checkMetricsAddr(metrics string, site map[string]string) error {
	if metrics == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(metrics); err != nil {
		return fmt.Errorf("--metrics %q: %v", metrics, err)
	}
	for flag, addr := range site {
		if samePort(metrics, addr) {
			return fmt.Errorf("--metrics %q: the same port as --%s %q; metrics need an address of their own", metrics, flag, addr)
		}
	}
	return nil
}

// samePort reports whether two listen addresses take the same port: the
// same port number (not 0, which picks a free one) on the same host, or
// with either on every address.
func samePort(a, b string) bool {
	ha, pa, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	hb, pb, err := net.SplitHostPort(b)
	if err != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || anyHost(ha) || anyHost(hb)
}

func anyHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || (ip != nil && ip.IsUnspecified())
}

// newRegistry is a registry of the process's own: the Go runtime's and the
// process's collectors, the event log's own appends and its health; the parts add
// theirs as they are composed. Nothing goes in Prometheus's global
// registry.
func newRegistry(log *eventlog.Log) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "safepoint_events_appended_total",
			Help: "Events of its own the log has stored since the daemon started (at central: alert acknowledgements).",
		}, func() float64 { return float64(log.Appended()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safepoint_store_healthy",
			Help: "1 while the event log stores what it is sent; 0 while its last commit failed and none has succeeded since (a full disk, a broken card), when /healthz says 503.",
		}, func() float64 { return bool01(log.Healthy() == nil) }),
	)
	return reg
}

var requestsDesc = prometheus.NewDesc("safepoint_http_requests_total",
	"HTTP requests answered, by status code and route: the route's pattern (\"GET /api/status\"), \"/\" for no such route, \""+
		web.NoRoute+"\" for one answered before routing.",
	[]string{"code", "route"}, nil)

// requestsCollector exposes the site's request counts.
type requestsCollector struct{ site *web.Site }

func (c requestsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- requestsDesc }

func (c requestsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, rc := range c.site.Requests() {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(rc.N), strconv.Itoa(rc.Code), rc.Route)
	}
}

var (
	batteryPercentDesc = prometheus.NewDesc("safepoint_power_battery_percent",
		"Battery state of charge, 0 to 100; absent while unknown.", nil, nil)
	onBatteryDesc = prometheus.NewDesc("safepoint_power_on_battery",
		"1 while the point runs on its battery (OB), 0 on mains or a generator; absent before the first reading.", nil, nil)
	runtimeDesc = prometheus.NewDesc("safepoint_power_runtime_seconds",
		"Estimated time left on battery at the present load; absent while unknown.", nil, nil)
	sourceOKDesc = prometheus.NewDesc("safepoint_power_source_ok",
		"1 while the power source answers, 0 while it is lost.", nil, nil)
)

// powerCollector exposes the power monitor's status; a figure the monitor
// does not know is left out, not given as 0.
type powerCollector struct{ status func() powermon.Status }

func (c powerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- batteryPercentDesc
	ch <- onBatteryDesc
	ch <- runtimeDesc
	ch <- sourceOKDesc
}

func (c powerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	if st.BatteryPercent != nil {
		ch <- prometheus.MustNewConstMetric(batteryPercentDesc, prometheus.GaugeValue, *st.BatteryPercent)
	}
	if st.State != "" {
		ch <- prometheus.MustNewConstMetric(onBatteryDesc, prometheus.GaugeValue,
			bool01(powermon.ParseState(st.State).Supply == powermon.TokenOnBattery))
	}
	if st.Runtime != nil {
		ch <- prometheus.MustNewConstMetric(runtimeDesc, prometheus.GaugeValue, *st.Runtime*60)
	}
	ch <- prometheus.MustNewConstMetric(sourceOKDesc, prometheus.GaugeValue, bool01(st.SourceOK))
}

// linkMetrics are the node's link to central.
func linkMetrics(status func() link.Status) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safepoint_sync_backlog_events",
			Help: "The node's own events central has not acknowledged yet.",
		}, func() float64 { return float64(status().Backlog) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safepoint_sync_connected",
			Help: "1 while the node has a session with the broker, 0 while not.",
		}, func() float64 { return bool01(status().Online) }),
	}
}

var (
	pointsKnownDesc = prometheus.NewDesc("safepoint_central_points_known",
		"Points central knows: heard from, or with a broker account.", nil, nil)
	pointsOnlineDesc = prometheus.NewDesc("safepoint_central_points_online",
		"Points whose link is up: their last status said online.", nil, nil)
	pointBacklogDesc = prometheus.NewDesc("safepoint_central_point_backlog_events",
		"Events a point has said it holds that central has not stored yet.", []string{"point"}, nil)
	brokerDesc = prometheus.NewDesc("safepoint_central_broker_connected",
		"1 while central has a session with the broker, 0 while not.", nil, nil)
	alertsDesc = prometheus.NewDesc("safepoint_central_alerts_open",
		"Alerts no one has acknowledged, by kind: silent, power, need.", []string{"kind"}, nil)
)

// centralCollector exposes what central's receiver and picture know of the
// points, read once a scrape.
type centralCollector struct {
	recv *central.Receiver
	pic  *picture.Picture
}

func (c centralCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pointsKnownDesc
	ch <- pointsOnlineDesc
	ch <- pointBacklogDesc
	ch <- brokerDesc
	ch <- alertsDesc
}

func (c centralCollector) Collect(ch chan<- prometheus.Metric) {
	nodes := c.recv.Nodes()
	online := 0
	for _, n := range nodes {
		if n.Online {
			online++
		}
		ch <- prometheus.MustNewConstMetric(pointBacklogDesc, prometheus.GaugeValue, float64(n.Backlog), n.ID)
	}
	ch <- prometheus.MustNewConstMetric(pointsKnownDesc, prometheus.GaugeValue, float64(len(nodes)))
	ch <- prometheus.MustNewConstMetric(pointsOnlineDesc, prometheus.GaugeValue, float64(online))
	ch <- prometheus.MustNewConstMetric(brokerDesc, prometheus.GaugeValue, bool01(c.recv.Connected()))
	open := map[string]int{picture.AlertSilent: 0, picture.AlertPower: 0, picture.AlertNeed: 0}
	for _, a := range c.pic.Alerts(nil) {
		if a.Acknowledged == nil {
			open[a.Kind]++
		}
	}
	for kind, n := range open {
		ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, float64(n), kind)
	}
}

// centralMetrics are central's own: what it stores and refuses, and the
// points.
func centralMetrics(log *eventlog.Log, recv *central.Receiver, pic *picture.Picture) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "safepoint_central_events_ingested_total",
			Help: "Events of the points central has stored since it started, each once (a batch sent again adds nothing).",
		}, func() float64 { return float64(log.Ingested()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "safepoint_central_messages_refused_total",
			Help: "Messages from the broker central refused since it started: a wrong topic, a bad batch, a node outside its municipality.",
		}, func() float64 { return float64(recv.Counters.Refused.Load()) }),
		centralCollector{recv: recv, pic: pic},
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// listenMetrics opens the metrics listener; nil when metrics are off.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return ln, nil
}

// serveMetrics serves GET /metrics from reg on ln under g until ctx ends;
// nothing when ln is nil.
func serveMetrics(ctx context.Context, g *errgroup.Group, ln net.Listener, reg *prometheus.Registry, logger *slog.Logger) {
	if ln == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg, // its own errors, counted in promhttp_metric_handler_errors_total
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 2,
		// A scrape is a few kB on a local network; gzip would take a new
		// flate compressor (about 1 MiB) for each.
		DisableCompression: true,
		Timeout:            10 * time.Second,
	}))
	srv := web.NewServer(mux, logger)
	logger.Info("Serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	serveUntilDone(ctx, g, srv, ln, "serve metrics")
}
