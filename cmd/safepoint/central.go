package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/safepoint-se/safepoint/internal/systemd"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/ui/office"
	"github.com/safepoint-se/safepoint/ui/web"
)

// centralConfig is the configuration of `safepoint central`.
type centralConfig struct {
	Data      string `toml:"data"`
	HTTP      string `toml:"http"`
	HTTPS     string `toml:"https"`
	StaffTLS  string `toml:"staff_tls"`
	Metrics   string `toml:"metrics"`
	ID        string `toml:"id"`
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
	// EmbeddedBroker runs an MQTT broker in the process on this address,
	// with the users file DATA/broker/users, and connects central to it.
	EmbeddedBroker string `toml:"embedded_broker"`
	enrolConfig
	mqttConfig
}

func defaultCentralConfig() centralConfig {
	return centralConfig{Data: "/var/lib/safepoint-central", HTTP: ":8090", HTTPS: ":8493", StaffTLS: "on",
		ID: "central", LogLevel: "info", LogFormat: "text"}
}

func runCentral(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cfg := defaultCentralConfig()
	var configPath string
	fs := flag.NewFlagSet("central", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&configPath, "config", "", "TOML configuration `file`")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data `directory`: central's log of every node's events, accounts, keys")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "listen `address` (plain HTTP: redirects staff to HTTPS)")
	fs.StringVar(&cfg.HTTPS, "https", cfg.HTTPS, "listen `address` for staff over HTTPS")
	fs.StringVar(&cfg.StaffTLS, "staff-tls", cfg.StaffTLS, "`on` or off, as for the node")
	fs.StringVar(&cfg.Metrics, "metrics", cfg.Metrics, metricsUsage)
	fs.StringVar(&cfg.ID, "id", cfg.ID, "central's own origin `id`")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log `level`: debug, info, warn, error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log `format`: text or json")
	mqttFlags(fs, &cfg.mqttConfig)
	fs.StringVar(&cfg.EmbeddedBroker, "embedded-broker", cfg.EmbeddedBroker, "run an MQTT broker in-process on this `address` (users in DATA/broker/users) and use it")
	enrolFlags(fs, &cfg.enrolConfig)
	setUsage(fs, "Run the municipality's central: receive every point's events over MQTT.")
	err := parseLayered(fs, args, env, &configPath,
		func() { cfg = defaultCentralConfig() },
		func(path string) error { return decodeTOML(path, &cfg) })
	if err != nil {
		return err
	}
	var errs []error
	if cfg.MQTT == "" && cfg.EmbeddedBroker == "" {
		errs = append(errs, errors.New("--mqtt or --embedded-broker: central needs a broker"))
	}
	if cfg.MQTT != "" && cfg.EmbeddedBroker != "" {
		errs = append(errs, errors.New("--mqtt and --embedded-broker: choose one"))
	}
	if err := cfg.mqttConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.enrolConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if !pointID.MatchString(cfg.ID) {
		errs = append(errs, fmt.Errorf("--id %q: use 1 to 40 lower-case letters, digits and dashes", cfg.ID))
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		errs = append(errs, err)
	}
	site := map[string]string{"http": cfg.HTTP}
	if cfg.StaffTLS == "on" {
		site["https"] = cfg.HTTPS
	}
	if err := checkMetricsAddr(cfg.Metrics, site); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return serveCentral(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat))
}

func serveCentral(ctx context.Context, cfg centralConfig, root *slog.Logger) error {
	// One logger per component, so an operator can filter them.
	logger := root.With("component", "central")
	uiLogger := root.With("component", "ui")
	// Central's log holds the nodes' events; it keeps no personal data.
	// They fold into the situation picture, a State per point, which the
	// receiver also gives each node's delivered directives and its link.
	var log *eventlog.Log
	pic := picture.New(picture.Options{Self: cfg.ID, Logger: logger,
		Recent: func(ctx context.Context, origin string, n int) ([]node.Event, error) {
			return log.Recent(ctx, origin, n)
		}})
	log, staff, closeData, err := openData(ctx, cfg.Data, eventlog.Options{Origin: cfg.ID, Folder: pic}, logger)
	if err != nil {
		return err
	}
	defer closeData()
	pic.Warm() // every point's summary, before the first reader asks
	defer func() {
		if err := pic.Close(); err != nil {
			logger.Error("Writing the picture out failed", "err", err)
		}
	}()
	directives, err := store.Open(ctx, log.File())
	if err != nil {
		return err
	}
	defer directives.Close()
	if err := warnNoAdmin(ctx, staff, cfg.Data, logger); err != nil {
		return err
	}
	pw, err := cfg.mqttConfig.password()
	if err != nil {
		return err
	}
	brokerURL, user := cfg.MQTT, cfg.MQTTUser
	var embedded *broker.Broker
	if cfg.EmbeddedBroker != "" {
		embedded, err = broker.New(broker.Opts{Addr: cfg.EmbeddedBroker,
			UsersFile: filepath.Join(cfg.Data, "broker", "users"), Logger: root.With("component", "broker")})
		if err != nil {
			return err
		}
		// Central's own credential lives only in memory, made anew each start.
		user, pw = cfg.ID, strings.ToLower(node.NewCode(24))
		if err := embedded.AddCentral(user, pw); err != nil {
			return err
		}
		brokerURL = "tcp://" + embedded.Addr()
		logger.Info("Embedded MQTT broker", "addr", embedded.Addr(), "users", filepath.Join(cfg.Data, "broker", "users"))
	}
	tlsCfg, err := cfg.mqttConfig.tlsConfig()
	if err != nil {
		return err
	}
	recv, err := central.New(central.Opts{Broker: brokerURL, User: user, Password: pw, TLS: tlsCfg, ClientID: cfg.ID,
		Log: log, Store: directives, Picture: pic, Logger: logger})
	if err != nil {
		return err
	}
	if embedded != nil {
		// Every node with a broker account is a target for its
		// municipality's directives, connected yet or not.
		if users, err := broker.LoadUsers(filepath.Join(cfg.Data, "broker", "users")); err == nil {
			for _, n := range users.Nodes() {
				if err := recv.Register(ctx, n.Name, n.Municipality); err != nil {
					return err
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// Points enrol with a one-time code (safepoint enrol).
	enrolment, err := newCentralEnrol(ctx, cfg, log.File(), embedded, recv.Register, logger)
	if err != nil {
		return err
	}
	defer enrolment.Close()
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	devices, err := deviceKey(cfg.Data)
	if err != nil {
		ln.Close()
		return err
	}
	siteOpts := web.Options{Accounts: staff, Logger: uiLogger, Health: log.Healthy, DeviceKey: devices}
	tlsLn, err := listenStaff(cfg.StaffTLS, cfg.Data, cfg.HTTPS, &siteOpts, uiLogger)
	if err != nil {
		ln.Close()
		return err
	}
	// Central serves its staff: the situation picture, the nodes, and the
	// directives to them. An alert's acknowledgement is central's own
	// event, in its log, which folds it into the picture.
	site := web.New(siteOpts)
	handler := site.Handler(office.New(site, office.Options{Clock: log.Clock(), Logger: uiLogger, Downlink: recv,
		Nodes: recv.Nodes, Picture: pic, Append: log.Append}), enrolment.part(siteOpts))
	reg := newRegistry(log)
	reg.MustRegister(centralMetrics(log, recv, pic)...)
	reg.MustRegister(requestsCollector{site})
	notifier, err := systemd.New(systemd.Options{Check: liveness(log, ln), Status: centralStatus(log.Healthy, recv), Logger: logger})
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
	if embedded != nil {
		g.Go(func() error { return embedded.Run(ctx) })
	}
	g.Go(func() error { return recv.Run(ctx) })
	g.Go(func() error { return pic.Run(ctx) })
	settle()
	return g.Wait()
}
