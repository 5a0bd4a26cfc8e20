package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/internal/systemd"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
)

// nodeConfig is the configuration of `safepoint node`. Flags, environment
// and the TOML file all write here (see parseLayered).
type nodeConfig struct {
	Data         string  `toml:"data"`
	HTTP         string  `toml:"http"`
	HTTPS        string  `toml:"https"`
	StaffTLS     string  `toml:"staff_tls"`
	Metrics      string  `toml:"metrics"`
	ID           string  `toml:"id"`
	Name         string  `toml:"name"`
	Municipality string  `toml:"municipality"`
	LogLevel     string  `toml:"log_level"`
	LogFormat    string  `toml:"log_format"`
	PostRate     float64 `toml:"post_rate"`
	PostBurst    int     `toml:"post_burst"`
	PortalHost   string  `toml:"portal_host"`
	LangDir      string  `toml:"lang_dir"`
	// RetentionDays: personal data is purged this many days after the
	// municipality deactivates the point.
	RetentionDays int `toml:"retention_days"`

	// Only in the file: the point's public facts.
	OpeningHours string          `toml:"opening_hours"`
	Location     *node.Location  `toml:"location"`
	Contacts     []node.Contact  `toml:"contacts"`
	Nearby       []portal.Nearby `toml:"nearby"`

	powerConfig
	mqttConfig
}

// mqttConfig is the link to the MQTT broker, for node and central alike.
type mqttConfig struct {
	MQTT         string `toml:"mqtt"`
	MQTTUser     string `toml:"mqtt_user"`
	MQTTPassFile string `toml:"mqtt_password_file"`
	MQTTCA       string `toml:"mqtt_ca"`

	// From DATA/enrolment.toml (safepoint enrol join), when no password
	// file or CA file is given.
	enrolledPassword string
	enrolledCA       []byte
}

func mqttFlags(fs *flag.FlagSet, c *mqttConfig) {
	fs.StringVar(&c.MQTT, "mqtt", c.MQTT, "MQTT broker `URL`: tcp://host:1883 or ssl://host:8883; empty: no sync")
	fs.StringVar(&c.MQTTUser, "mqtt-user", c.MQTTUser, "MQTT `user`")
	fs.StringVar(&c.MQTTPassFile, "mqtt-password-file", c.MQTTPassFile, "`file` holding the MQTT password")
	fs.StringVar(&c.MQTTCA, "mqtt-ca", c.MQTTCA, "PEM `file` of the CA that signed the broker's certificate (ssl://); empty: the system's CAs")
}

// tlsConfig is the TLS configuration for an ssl:// broker: the system's
// CAs, or only the one in --mqtt-ca (else the enrolment's, DATA/enrolment.toml).
func (c mqttConfig) tlsConfig() (*tls.Config, error) {
	var pem []byte
	switch {
	case c.MQTTCA != "":
		if !strings.HasPrefix(c.MQTT, "ssl://") {
			return nil, errors.New("--mqtt-ca: only for an ssl:// broker")
		}
		var err error
		if pem, err = os.ReadFile(c.MQTTCA); err != nil {
			return nil, fmt.Errorf("--mqtt-ca: %w", err)
		}
	case len(c.enrolledCA) > 0 && strings.HasPrefix(c.MQTT, "ssl://"):
		pem = c.enrolledCA
	default:
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		if c.MQTTCA == "" {
			return nil, fmt.Errorf("%s: mqtt_ca: no PEM certificate in it", enrolmentFile)
		}
		return nil, fmt.Errorf("--mqtt-ca %s: no PEM certificate in it", c.MQTTCA)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func (c mqttConfig) validate() error {
	if c.MQTT == "" {
		return nil
	}
	if !strings.HasPrefix(c.MQTT, "tcp://") && !strings.HasPrefix(c.MQTT, "ssl://") {
		return fmt.Errorf("--mqtt %q: use tcp://host:port or ssl://host:port", c.MQTT)
	}
	return nil
}

// password reads the password file, if any; else it is the enrolment's.
func (c mqttConfig) password() (string, error) {
	if c.MQTTPassFile == "" {
		return c.enrolledPassword, nil
	}
	b, err := os.ReadFile(c.MQTTPassFile)
	if err != nil {
		return "", fmt.Errorf("--mqtt-password-file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func defaultNodeConfig() nodeConfig {
	return nodeConfig{
		Data:      "/var/lib/safepoint",
		HTTP:      ":8080",
		HTTPS:     ":8443",
		StaffTLS:  "on",
		LogLevel:  "info",
		LogFormat: "text",
		PostRate:  12,
		PostBurst: 10,

		powerConfig: powerConfig{I2CBus: "1"},

		RetentionDays: eventlog.DefaultRetentionDays,
	}
}

func nodeFlags(cfg *nodeConfig, configPath *string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(configPath, "config", "", "TOML configuration `file`")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data `directory`: the event log and the node's keys")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "listen `address` for the resident pages and API")
	fs.StringVar(&cfg.HTTPS, "https", cfg.HTTPS, "listen `address` for staff over HTTPS")
	fs.StringVar(&cfg.StaffTLS, "staff-tls", cfg.StaffTLS, "`on`: staff routes only over HTTPS; off: everything on plain HTTP (loopback tests, a separately secured staff network)")
	fs.StringVar(&cfg.Metrics, "metrics", cfg.Metrics, metricsUsage)
	fs.StringVar(&cfg.ID, "id", cfg.ID, "point `id` (lower-case letters, digits, dashes); made up on first start when empty")
	fs.StringVar(&cfg.Name, "name", cfg.Name, "point `name` shown to residents")
	fs.StringVar(&cfg.Municipality, "municipality", cfg.Municipality, "SCB kommunkod, four `digits` (e.g. 2161)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log `level`: debug, info, warn, error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log `format`: text or json")
	fs.Float64Var(&cfg.PostRate, "post-rate", cfg.PostRate, "public submissions (forms, API) one device may make per `minute`; 0 turns the limit off")
	fs.IntVar(&cfg.PostBurst, "post-burst", cfg.PostBurst, "public submissions one device may make `at once`")
	fs.StringVar(&cfg.PortalHost, "portal-host", cfg.PortalHost, "`host` name or address phones reach the portal at; plain-HTTP requests for any other host are sent there")
	fs.StringVar(&cfg.LangDir, "lang-dir", cfg.LangDir, "`directory` of extra language files (*.toml) for the resident pages")
	fs.StringVar(&cfg.Spec, "power", cfg.Spec, "power source `spec`: sim, sim:FILE (a scenario), nut://host[:3493]/ups;\n"+
		"hat:waveshare-ups-b, hat:waveshare-ups-c, hat:x728, hat:x1200 (UPS HATs);\n"+
		"ina219:bus=1,addr=0x40,shunt=0.001,max=20A,chem=lead-acid-12v (a shunt on a battery bank);\n"+
		"gpio:mains=GPIO17,generator=GPIO27[,active=low|high][,pull=up|down|none] (relay contacts);\n"+
		"ina219:…+gpio:… (both); empty watches none. See docs/HARDWARE.md and 'safepoint hardware probe'")
	fs.StringVar(&cfg.I2CBus, "i2c-bus", cfg.I2CBus, "I2C `bus` of hat: and ina219: (1 is /dev/i2c-1, the Pi's header)")
	fs.StringVar(&cfg.User, "power-user", cfg.User, "NUT `user` (upsd.users, with upsmon secondary)")
	fs.StringVar(&cfg.PasswordFile, "power-password-file", cfg.PasswordFile, "`file` holding the NUT user's password")
	fs.StringVar(&cfg.Chemistry, "battery-chemistry", cfg.Chemistry, "battery `chemistry`: lead-acid-12v, lifepo4-4s, li-ion-2s, li-ion-1s")
	fs.Float64Var(&cfg.CapacityAh, "battery-ah", cfg.CapacityAh, "battery capacity in `Ah` (C20 for lead-acid)")
	fs.Float64Var(&cfg.Peukert, "battery-peukert", cfg.Peukert, "Peukert `exponent`; 0: typical for the chemistry")
	fs.DurationVar(&cfg.HoldOB, "power-hold-ob", cfg.HoldOB, "how long mains must stay away before on-battery `counts`")
	fs.DurationVar(&cfg.HoldOL, "power-hold-ol", cfg.HoldOL, "how long mains must stay back before on-line `counts`")
	fs.DurationVar(&cfg.HoldCritical, "power-hold-critical", cfg.HoldCritical, "how long on battery and low before the shutdown `command` runs")
	fs.StringVar(&cfg.Shutdown, "shutdown-command", cfg.Shutdown, "`command` (through /bin/sh) run when power is critical; empty only logs")
	fs.Float64Var(&cfg.BurnRate, "generator-burn", cfg.BurnRate, "generator fuel use in `litres` an hour")
	fs.IntVar(&cfg.RetentionDays, "retention-days", cfg.RetentionDays, "purge residents' personal data this many `days` after the point is deactivated")
	mqttFlags(fs, &cfg.mqttConfig)
	setUsage(fs, "Run the safety point's daemon.")
	return fs
}

// setUsage prints a command's flags with their environment twins.
func setUsage(fs *flag.FlagSet, summary string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: safepoint %s [flags]\n\n%s\n\nFlags (each also as SAFEPOINT_<FLAG> in the environment):\n", fs.Name(), summary)
		fs.PrintDefaults()
	}
}

var pointID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func (c *nodeConfig) validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("--data: required"))
	}
	if c.ID != "" && !pointID.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("--id %q: use 1 to 40 lower-case letters, digits and dashes", c.ID))
	}
	if c.Municipality != "" && !node.ValidMunicipality(c.Municipality) {
		errs = append(errs, fmt.Errorf("--municipality %q: an SCB kommunkod is four digits", c.Municipality))
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: %v", c.HTTP, err))
	}
	switch c.StaffTLS {
	case "on":
		if _, _, err := net.SplitHostPort(c.HTTPS); err != nil {
			errs = append(errs, fmt.Errorf("--https %q: %v", c.HTTPS, err))
		}
	case "off":
	default:
		errs = append(errs, fmt.Errorf("--staff-tls %q: on or off", c.StaffTLS))
	}
	if err := checkMetricsAddr(c.Metrics, c.siteAddrs()); err != nil {
		errs = append(errs, err)
	}
	if c.PostRate < 0 || c.PostBurst <= 0 {
		errs = append(errs, errors.New("--post-rate must be 0 (off) or more, --post-burst positive"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if err := c.powerConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.mqttConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MQTT != "" && c.Municipality == "" {
		errs = append(errs, errors.New("--mqtt: sync needs --municipality"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: text or json", c.LogFormat))
	}
	if c.RetentionDays < 0 || c.RetentionDays > 3650 {
		errs = append(errs, fmt.Errorf("--retention-days %d: 0 (purge as soon as deactivated) to 3650", c.RetentionDays))
	}
	if c.ID == wire.Central {
		errs = append(errs, fmt.Errorf("--id %q: reserved for central's stream to the node", c.ID))
	}
	return errors.Join(errs...)
}

// siteAddrs are the site's listen addresses by flag: metrics never share
// their port.
func (c *nodeConfig) siteAddrs() map[string]string {
	addrs := map[string]string{"http": c.HTTP}
	if c.StaffTLS == "on" {
		addrs["https"] = c.HTTPS
	}
	return addrs
}

// metricsUsage is --metrics's help, for node and central alike.
const metricsUsage = "listen `address` for Prometheus metrics at /metrics (e.g. 127.0.0.1:9464); empty: none. Never the port of --http or --https"

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runNode(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultNodeConfig()
	var configPath string
	fs := nodeFlags(&cfg, &configPath, stderr)
	err := parseLayered(fs, args, env, &configPath,
		func() { cfg = defaultNodeConfig() },
		func(path string) error { return decodeTOML(path, &cfg) })
	if err != nil {
		return err
	}
	if err := applyEnrolment(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	return serveNode(ctx, cfg, logger)
}

// shutdownGrace bounds how long open requests may take once a stop signal
// has come; the whole stop stays under 5 s.
const shutdownGrace = 4 * time.Second

func serveNode(ctx context.Context, cfg nodeConfig, root *slog.Logger) error {
	// One logger per component, so an operator can filter them.
	logger := root.With("component", "node")
	uiLogger := root.With("component", "ui")
	log, staff, closeData, err := openData(ctx, cfg.Data, eventlog.Options{
		Origin:    cfg.ID,
		NewOrigin: func() string { return "sp-" + strings.ToLower(node.NewCode(6)) },
		Personal:  true,
	}, logger)
	if err != nil {
		return err
	}
	defer closeData()

	p := node.Point{Name: cfg.Name, Municipality: cfg.Municipality, Location: cfg.Location,
		OpeningHours: cfg.OpeningHours, Contacts: cfg.Contacts}
	if p.Name == "" && log.State().View().Point.Name == "" {
		p.Name = "Trygghetspunkt " + log.Origin()
	}
	point, changed, err := node.ConfigurePoint(ctx, log, p)
	if err != nil {
		return err
	}
	logger.Info("Point ready", "id", point.ID, "name", point.Name, "municipality", point.Municipality,
		"configured", changed, "data", cfg.Data, "clockOK", log.Clock().Plausible())
	if point.Municipality == "" {
		logger.Warn("Municipality not set: set --municipality to the SCB kommunkod before linking to a central")
	}

	if err := warnNoAdmin(ctx, staff, cfg.Data, logger); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	cat, err := web.LoadCatalog(cfg.LangDir)
	if err != nil {
		ln.Close()
		return err
	}
	postRate := cfg.PostRate
	if postRate == 0 {
		postRate = -1 // off
	}
	devices, err := deviceKey(cfg.Data)
	if err != nil {
		ln.Close()
		return err
	}
	siteOpts := web.Options{Accounts: staff, Logger: uiLogger, Health: log.Healthy, DeviceKey: devices}
	portalOpts := portal.Options{Log: log, Logger: uiLogger, PostPerMinute: postRate, PostBurst: cfg.PostBurst,
		Catalog: cat, PortalHost: cfg.PortalHost, Nearby: cfg.Nearby}
	boardOpts := board.Options{Log: log, Logger: uiLogger}
	reg := newRegistry(log)
	var powerStatus func() powermon.Status // for systemd's status; nil watches none
	var syncStatus func() link.Status      // nil: no link
	src, kind, battery, closer, err := openPower(cfg.powerConfig)
	if err != nil {
		ln.Close()
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	var monitor *powermon.Monitor
	if src != nil {
		history, err := powermon.OpenHistory(ctx, log.File())
		if err != nil {
			ln.Close()
			return err
		}
		defer history.Close()
		powerLogger := root.With("component", "power")
		monitor = powermon.New(log, powermon.Options{Source: src, Kind: kind, Battery: battery, History: history,
			Holds:      powermon.Holds{OnBattery: cfg.HoldOB, OnSupply: cfg.HoldOL, Critical: cfg.HoldCritical},
			OnCritical: shutdownAction(cfg.Shutdown), BurnRate: cfg.BurnRate, Logger: powerLogger,
			Fuel: func() (float64, time.Time, bool) {
				item, ok := log.State().Stock(node.FuelItem)
				return item.Quantity, item.Counted.Time(), ok
			}})
		portalOpts.Power = monitor.Status
		boardOpts.Power, boardOpts.PowerHistory = monitor.Status, monitor.History
		powerStatus = monitor.Status
		reg.MustRegister(powerCollector{monitor.Status})
		powerLogger.Info("Watching power", "source", kind, "chemistry", battery.Chemistry, "ah", battery.CapacityAh)
	}
	tlsLn, err := listenStaff(cfg.StaffTLS, cfg.Data, cfg.HTTPS, &siteOpts, uiLogger)
	if err != nil {
		ln.Close()
		return err
	}
	var uplink *link.Link
	if cfg.MQTT != "" {
		pw, err := cfg.mqttConfig.password()
		if err != nil {
			ln.Close()
			return err
		}
		tlsCfg, err := cfg.mqttConfig.tlsConfig()
		if err != nil {
			ln.Close()
			return err
		}
		uplink, err = link.New(link.Opts{Broker: cfg.MQTT, User: cfg.MQTTUser, Password: pw, TLS: tlsCfg,
			Municipality: point.Municipality, Log: log, Logger: root.With("component", "link")})
		if err != nil {
			ln.Close()
			return err
		}
		linkStatus := func() api.SyncStatus {
			st := uplink.Status()
			return api.SyncStatus{Configured: true, Online: st.Online, LastSync: st.LastSync, Backlog: st.Backlog, Problem: st.Problem}
		}
		portalOpts.Sync, boardOpts.Sync = linkStatus, linkStatus
		syncStatus = uplink.Status
		reg.MustRegister(linkMetrics(uplink.Status)...)
	}
	// A node serves its residents (the portal and the public API) and its
	// staff (the board).
	site := web.New(siteOpts)
	handler := site.Handler(portal.New(site, portalOpts), board.New(site, boardOpts))
	reg.MustRegister(requestsCollector{site})
	// systemd hears READY=1 once the check passes, and a watchdog ping
	// after each check that passes.
	notifier, err := systemd.New(systemd.Options{Check: liveness(log, ln),
		Status: nodeStatus(log.Healthy, powerStatus, syncStatus), Logger: logger})
	if err != nil {
		closeAll(ln, tlsLn)
		return err
	}
	metricsLn, err := listenMetrics(cfg.Metrics)
	if err != nil {
		closeAll(ln, tlsLn)
		return err
	}
	uiLogger.Info("Serving", "addr", ln.Addr().String())

	g, ctx := errgroup.WithContext(ctx)
	serveHTTP(ctx, g, site, handler, uiLogger, ln, tlsLn)
	serveMetrics(ctx, g, metricsLn, reg, uiLogger)
	g.Go(func() error { return notifier.Run(ctx) })
	if monitor != nil {
		g.Go(func() error { return monitor.Run(ctx) })
	}
	if uplink != nil {
		g.Go(func() error { return uplink.Run(ctx) })
	}
	g.Go(func() error { retention(ctx, log, cfg.RetentionDays, time.Hour, logger); return nil })
	settle()
	return g.Wait()
}

// retention applies the retention rule at start and then every period:
// residents' personal data goes days after the point is deactivated.
func retention(ctx context.Context, log *eventlog.Log, days int, period time.Duration, logger *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if n, purged, err := log.PurgePersonal(ctx, days); err != nil {
			if ctx.Err() == nil {
				logger.Error("Retention: purging personal data failed", "err", err)
			}
		} else if purged {
			logger.Info("Retention: personal data purged", "records", n, "days", days)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
