package main

// `safepoint demo`: a broker, a central and several nodes on one machine,
// each its own child process of this binary, with simulated power playing a
// storm. It is what `make run` starts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
)

// demoStorm is deploy/scenarios/storm-demo.toml, carried in the binary so
// that the demo runs from anywhere; demo_test checks that the two match.
const demoStorm = `# The demo's storm (safepoint demo, make run): a storm over a village point
# squeezed into about two minutes, timed for the node's power monitor, which
# reads every 5 s on mains or generator and every 30 s on battery. At speed
# 120 a wall second is two simulated minutes:
#
#   wall   0 s  (sim  0)       mains, battery full
#   wall  10 s  (sim 20 min)   mains lost: on battery, discharging
#   wall  40 s  (sim 1 h 20)   the generator starts
#   wall 100 s  (sim 3 h 20)   mains back, generator off; the battery charges
#
# A change counts on the first reading after its hold time (the demo runs
# nodes with --power-hold-ob 1s --power-hold-ol 1s), so each node shows OB
# about 15 s after it starts, GEN about 75 s, OL about 105 s. The demo
# carries a copy of this file (cmd/safepoint/demo.go); its test checks that
# the two are the same.
#
# The battery reports its own charge and time left, like a smart UPS
# (report_percent): at this speed the node's own coulomb counting, which
# integrates only readings at most 10 simulated minutes apart, would get no
# readings to count while on battery. Keys: docs/HARDWARE.md.

name = "storm-demo"
description = "Two-minute demo storm: mains lost at 20 min, generator from 1 h 20 min, mains back at 3 h 20 min (speed 120)."
speed = 120
report_percent = true

# A small 12 V bank, so that an hour on battery shows.
[battery]
chemistry = "lead-acid-12v"
capacity_ah = 40
soc = 1.0
peukert = 1.2

[charger]
amps = 4

# The point's draw at 12 V: router, Pi and lights, then residents' phones.
[[load]]
at = "0s"
amps = 3.0

[[load]]
at = "30m"
amps = 6.0

[[load]]
at = "2h"
amps = 5.0

[[load]]
at = "3h"
amps = 4.0

[[outage]]
lost = "20m"
back = "3h20m"

[generator]
start = "1h20m"
stop = "3h20m"
fuel_l = 10.0
burn_lph = 2.0
`

// demoPoint is one made-up safety point of the demo.
type demoPoint struct {
	ID, Name, Municipality string
	Where, Phone           string // for the other points' contact pages
	Lat, Lon               float64
}

// demoPoints are the points the demo can run, in order; --nodes takes the
// first N.
var demoPoints = []demoPoint{
	{"byhuset-norrby", "Byhuset i Norrby", "2161", "Byvägen 12, Norrby", "0651-120 01", 61.862, 16.105},
	{"macken-sorby", "Macken i Sörby", "2161", "Riksväg 84, Sörby, 9 km norrut", "0651-120 02", 61.937, 16.031},
	{"skolan-alby", "Alby skola", "0127", "Albyvägen 40, Alby", "08-530 610 03", 59.239, 17.845},
	{"kyrkan-ostby", "Östby församlingshem", "2161", "Kyrkbacken 2, Östby", "0651-120 04", 61.801, 16.210},
	{"brandstationen-vallby", "Brandstationen i Vallby", "2161", "Stationsgatan 5, Vallby", "0651-120 05", 61.774, 16.002},
	{"hembygdsgarden-tuna", "Hembygdsgården i Tuna", "2161", "Gammelgården, Tuna", "0651-120 06", 61.905, 15.948},
	{"idrottshallen-berga", "Idrottshallen i Berga", "0127", "Bergavägen 8, Berga", "08-530 610 07", 59.221, 17.861},
	{"folketshus-solberga", "Folkets hus i Solberga", "2161", "Storgatan 21, Solberga", "0651-120 08", 61.842, 16.290},
	{"biblioteket-hagby", "Biblioteket i Hagby", "0127", "Hagbytorget 1, Hagby", "08-530 610 09", 59.250, 17.820},
	{"bygdegarden-lunda", "Bygdegården i Lunda", "2161", "Lundavägen 3, Lunda", "0651-120 10", 61.990, 16.120},
}

// demoConfig is the configuration of `safepoint demo`.
type demoConfig struct {
	Dir      string
	Nodes    int
	BasePort int
	Scenario string
	LogLevel string
}

// Ports, from --base-port B (8080 by default): nodes' HTTP on B, B+1, …;
// central's HTTP on B+10 (8090); the broker on B+11 (8091); nodes' staff
// HTTPS on B+363, … (8443, …); central's staff HTTPS on B+413 (8493).
func (c demoConfig) nodeHTTP(i int) int  { return c.BasePort + i }
func (c demoConfig) nodeHTTPS(i int) int { return c.BasePort + 363 + i }
func (c demoConfig) centralHTTP() int    { return c.BasePort + 10 }
func (c demoConfig) centralHTTPS() int   { return c.BasePort + 413 }
func (c demoConfig) brokerPort() int     { return c.BasePort + 11 }

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// demoUser is the staff account the demo makes on every node and central.
const demoUser = "demo"

func runDemo(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	cfg := demoConfig{Dir: ".run/demo", Nodes: 3, BasePort: 8080, LogLevel: "info"}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "`directory` for every process's data; reused on the next run")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "how many nodes, 1 to 10")
	fs.IntVar(&cfg.BasePort, "base-port", cfg.BasePort, "first `port`: nodes' HTTP on it and up, central's on +10, the broker on +11, staff HTTPS on +363 and up, central's on +413")
	fs.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "power scenario `file` every node plays; empty: the built-in two-minute storm (deploy/scenarios/storm-demo.toml)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "the processes' log `level`: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: safepoint demo [flags]

Run a demo on this machine: a central with its MQTT broker and several nodes,
each a child process of this binary on 127.0.0.1, every node on simulated
power playing a storm. One staff account, %q (admin), on all of them; its
password is in DIR/demo-password. Ctrl-C stops everything.

Flags:
`, demoUser)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("--dir: required"))
	}
	if cfg.Nodes < 1 || cfg.Nodes > len(demoPoints) {
		errs = append(errs, fmt.Errorf("--nodes %d: 1 to %d", cfg.Nodes, len(demoPoints)))
	}
	if cfg.BasePort < 1 || cfg.centralHTTPS() > 65535 {
		errs = append(errs, fmt.Errorf("--base-port %d: 1 to %d", cfg.BasePort, 65535-413))
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return demo(ctx, cfg, stdout, stderr)
}

// demoNode is what the demo prepared for one node.
type demoNode struct {
	demoPoint
	data, fingerprint string
	http, https       int
}

func demo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) error {
	began := time.Now()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: finding this binary: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	password, err := demoPassword(filepath.Join(cfg.Dir, "demo-password"))
	if err != nil {
		return err
	}
	scenario := cfg.Scenario
	if scenario == "" {
		scenario = filepath.Join(cfg.Dir, "storm-demo.toml")
		if err := writeIfChanged(scenario, []byte(demoStorm)); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if scenario, err = filepath.Abs(scenario); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, _, _, _, err := openPower(powerConfig{Spec: "sim:" + scenario}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// Central: its data, the demo account, and the broker's users file, to
	// which each node's credentials are added below.
	centralDir := filepath.Join(cfg.Dir, "central")
	if err := os.MkdirAll(centralDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := demoAccount(ctx, centralDir, password); err != nil {
		return err
	}
	centralFP, err := demoCert(centralDir)
	if err != nil {
		return err
	}
	usersFile := filepath.Join(centralDir, "broker", "users")

	points := demoPoints[:cfg.Nodes]
	nodes := make([]demoNode, len(points))
	for i, p := range points {
		n := demoNode{demoPoint: p, data: filepath.Join(cfg.Dir, p.ID), http: cfg.nodeHTTP(i), https: cfg.nodeHTTPS(i)}
		if n.fingerprint, err = prepareDemoNode(ctx, n, points, password, usersFile); err != nil {
			return fmt.Errorf("demo: %s: %w", p.ID, err)
		}
		nodes[i] = n
	}

	// The processes: central (with the broker) first, then the nodes once
	// central listens to the broker, so that their first batches find it.
	out := &demoOutput{w: stderr}
	width := len("central")
	for _, n := range nodes {
		width = max(width, len(n.ID))
	}
	common := []string{"--log-level", cfg.LogLevel, "--log-format", "text"}
	linked := make(chan struct{})
	central, err := startDemoChild(exe, "central", width, out, &logWatch{text: `msg="Central link up"`, seen: linked},
		append([]string{"central", "--data", centralDir, "--id", "central",
			"--http", loopback(cfg.centralHTTP()), "--https", loopback(cfg.centralHTTPS()),
			"--embedded-broker", loopback(cfg.brokerPort())}, common...))
	if err != nil {
		return err
	}
	children := []*demoChild{central}
	failed := make(chan *demoChild, len(nodes)+1)
	watchExit := func(c *demoChild) {
		go func() {
			<-c.done
			failed <- c
		}()
	}
	watchExit(central)
	// stopped reports how the demo ends when a child exits or ctx ends
	// before everything is up.
	stopped := func(c *demoChild) error {
		stopDemoChildren(children, out)
		if c != nil {
			return fmt.Errorf("demo: %s exited before it was ready: %v (its log is above)", c.name, c.err)
		}
		return nil
	}
	// Central says so at level info; without the line (a quieter level, a
	// slow machine) the nodes start anyway and resend what was missed.
	if level, _ := parseLevel(cfg.LogLevel); level <= slog.LevelInfo {
		select {
		case <-linked:
		case c := <-failed:
			return stopped(c)
		case <-ctx.Done():
			return stopped(nil)
		case <-time.After(20 * time.Second):
			out.line("demo", width, "Central has not linked to its broker after 20 s; starting the nodes anyway")
		}
	}

	brokerURL := "tcp://" + loopback(cfg.brokerPort())
	for _, n := range nodes {
		c, err := startDemoChild(exe, n.ID, width, out, nil, append([]string{"node",
			"--config", filepath.Join(n.data, "demo.toml"), "--data", n.data, "--id", n.ID,
			"--http", loopback(n.http), "--https", loopback(n.https),
			"--power", "sim:" + scenario, "--power-hold-ob", "1s", "--power-hold-ol", "1s",
			"--generator-burn", "2",
			"--mqtt", brokerURL, "--mqtt-user", n.ID, "--mqtt-password-file", filepath.Join(n.data, "mqtt-password")},
			common...))
		if err != nil {
			stopDemoChildren(children, out)
			return err
		}
		children = append(children, c)
		watchExit(c)
	}

	// Wait until every process answers, or one of them gives up.
	ready := make(chan error, 1)
	rctx, cancelReady := context.WithCancel(ctx)
	defer cancelReady()
	go func() {
		urls := []string{"http://" + loopback(cfg.centralHTTP()) + "/healthz"}
		for _, n := range nodes {
			urls = append(urls, "http://"+loopback(n.http)+"/healthz")
		}
		ready <- waitHealthy(rctx, urls, 60*time.Second)
	}()
	select {
	case err := <-ready:
		if err != nil {
			if ctx.Err() != nil {
				return stopped(nil)
			}
			stopDemoChildren(children, out)
			return fmt.Errorf("demo: %w", err)
		}
	case c := <-failed:
		return stopped(c)
	case <-ctx.Done():
		return stopped(nil)
	}

	out.banner(stdout, demoBanner(cfg, nodes, password, centralFP, scenario, time.Since(began)))
	go watchDemoNodes(rctx, nodes, width, out)

	select {
	case <-ctx.Done():
		cancelReady() // no more news from the nodes
		out.line("demo", width, "Stopping every process")
		stopDemoChildren(children, out)
		out.line("demo", width, "Stopped")
		return nil
	case c := <-failed:
		stopDemoChildren(children, out)
		return fmt.Errorf("demo: %s exited: %v (its log is above)", c.name, c.err)
	}
}

// demoPassword reads the demo account's password, or makes and saves one.
func demoPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); len([]rune(pw)) >= node.MinPasswordLen {
			return pw, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("demo: %w", err)
	}
	// Four groups of four symbols: 80 bits, and easy to type.
	groups := make([]string, 4)
	for i := range groups {
		groups[i] = strings.ToLower(node.NewCode(4))
	}
	pw := strings.Join(groups, "-")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return pw, nil
}

// secretFile reads a generated secret, or makes one and saves it.
func secretFile(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= broker.MinPasswordLen {
			return s, nil
		}
	}
	s := strings.ToLower(node.NewCode(24))
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// writeIfChanged writes data to path unless the file already holds it.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}

// demoAccount makes the demo admin in a data directory, or gives it the
// demo password again if it has another (say, a deleted password file).
func demoAccount(ctx context.Context, dir, password string) error {
	accounts, err := node.OpenAccounts(ctx, filepath.Join(dir, node.FileName))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer accounts.Close()
	return ensureDemoAccount(ctx, accounts, password)
}

func ensureDemoAccount(ctx context.Context, accounts *node.Accounts, password string) error {
	list, err := accounts.List(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(a node.Account) bool { return a.Name == demoUser }) {
		return accounts.Add(ctx, demoUser, node.RoleAdmin, password)
	}
	if _, err := accounts.Authenticate(ctx, demoUser, password); err == nil {
		return nil
	}
	if err := accounts.SetPassword(ctx, demoUser, password); err != nil {
		return err
	}
	return accounts.SetDisabled(ctx, demoUser, false)
}

// demoCert makes (or loads) the staff certificate the process will serve,
// as it would itself, for its fingerprint.
func demoCert(dir string) (string, error) {
	host, _ := os.Hostname()
	_, fp, err := web.LoadOrCreateCert(dir, host)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return fp, nil
}

// demoPointFile is the node's configuration file: the point's public facts.
type demoPointFile struct {
	Name         string          `toml:"name"`
	Municipality string          `toml:"municipality"`
	OpeningHours string          `toml:"opening_hours"`
	Location     demoLocation    `toml:"location"`
	Contacts     []demoContact   `toml:"contacts"`
	Nearby       []portal.Nearby `toml:"nearby"`
}

type demoLocation struct {
	Lat float64 `toml:"lat"`
	Lon float64 `toml:"lon"`
}

type demoContact struct {
	Label string `toml:"label"`
	Phone string `toml:"phone"`
}

const demoOpeningHours = "Dygnet runt under stormen"

// demoSwitchboard is each municipality's switchboard, for the contact page.
var demoSwitchboard = map[string]string{"2161": "0651-180 00", "0127": "08-530 610 00"}

// point is the node.Point the configuration file describes.
func (f demoPointFile) point() node.Point {
	p := node.Point{Name: f.Name, Municipality: f.Municipality, OpeningHours: f.OpeningHours,
		Location: &node.Location{Lat: f.Location.Lat, Lon: f.Location.Lon}}
	for _, c := range f.Contacts {
		p.Contacts = append(p.Contacts, node.Contact{Label: c.Label, Phone: c.Phone})
	}
	return p
}

// prepareDemoNode makes a node's data directory ready: its configuration
// file, broker credentials, the demo account, its certificate, and on the
// first run a little content. It returns the certificate's fingerprint.
func prepareDemoNode(ctx context.Context, n demoNode, all []demoPoint, password, usersFile string) (string, error) {
	if err := os.MkdirAll(n.data, 0o700); err != nil {
		return "", err
	}
	file := demoPointFile{Name: n.Name, Municipality: n.Municipality, OpeningHours: demoOpeningHours,
		Location: demoLocation{n.Lat, n.Lon},
		Contacts: []demoContact{{"Trygghetspunkten", n.Phone}, {"Kommunens växel", demoSwitchboard[n.Municipality]}}}
	for _, o := range all {
		if o.ID != n.ID && o.Municipality == n.Municipality {
			file.Nearby = append(file.Nearby, portal.Nearby{Name: o.Name, Where: o.Where, Phone: o.Phone})
		}
	}
	var b bytes.Buffer
	b.WriteString("# Written by safepoint demo on every start: the point's public facts.\n")
	if err := toml.NewEncoder(&b).Encode(file); err != nil {
		return "", err
	}
	if err := writeIfChanged(filepath.Join(n.data, "demo.toml"), b.Bytes()); err != nil {
		return "", err
	}

	mqttPassword, err := secretFile(filepath.Join(n.data, "mqtt-password"))
	if err != nil {
		return "", err
	}
	if err := broker.WriteNodeEntry(usersFile, n.ID, n.Municipality, mqttPassword); err != nil {
		return "", err
	}

	log, err := node.Open(ctx, filepath.Join(n.data, node.FileName), node.Options{Origin: n.ID})
	if err != nil {
		return "", err
	}
	err = seedDemoNode(ctx, log, file.point(), password)
	if cerr := log.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return demoCert(n.data)
}

// seedDemoNode configures the point as the node will, makes the demo
// account, and on a fresh log sets the services, counts the stock (fuel
// for the generator among it) and publishes one announcement, as staff
// would on the board.
func seedDemoNode(ctx context.Context, log *node.Log, p node.Point, password string) error {
	if _, _, err := log.ConfigurePoint(ctx, p); err != nil {
		return err
	}
	if err := ensureDemoAccount(ctx, log.Accounts(), password); err != nil {
		return err
	}
	v := log.State().View()
	seeded := len(v.Announcements) > 0
	for _, s := range v.Services {
		seeded = seeded || s.Status != node.ServiceUnknown
	}
	if seeded {
		return nil
	}
	services := []node.ServiceChanged{
		{Service: "warmth", Status: node.ServiceOpen, Note: "Stora salen är uppvärmd"},
		{Service: "charging", Status: node.ServiceOpen, Note: "Ta med egen sladd"},
		{Service: "water", Status: node.ServiceLimited, Note: "Dricksvatten i dunk, 10 liter per hushåll"},
		{Service: "toilets", Status: node.ServiceOpen},
		{Service: "information", Status: node.ServiceOpen},
		{Service: "wifi", Status: node.ServiceOpen, Note: "Nätet Trygghetspunkt, utan lösenord"},
		{Service: "first_aid", Status: node.ServiceClosed, Note: "Ring 112 vid fara för liv"},
	}
	for _, s := range services {
		s.By = demoUser
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeServiceChanged, Payload: s}); err != nil {
			return err
		}
	}
	stock := []node.InventoryChanged{
		{Item: node.FuelItem, Quantity: 40, Unit: "l", Low: 10},
		{Item: "dricksvatten", Quantity: 300, Unit: "l", Low: 50},
		{Item: "filtar", Quantity: 25, Unit: "st", Low: 5},
	}
	for _, item := range stock {
		item.By = demoUser
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeInventoryChanged, Payload: item}); err != nil {
			return err
		}
	}
	a := node.AnnouncementPublished{ID: node.NewID(), Severity: "warning", Source: "node:" + log.Origin(), By: demoUser,
		Title: map[string]string{
			"sv": "Stormvarning: håll dig inomhus i kväll",
			"en": "Storm warning: stay indoors tonight",
		},
		Body: map[string]string{
			"sv": "SMHI varnar för storm med orkanbyar i kväll och i natt. Undvik skogsvägar: träd kan falla. " +
				"Elen kan vara borta i flera dygn. Här finns värme, laddning och vatten.",
			"en": "Storm with hurricane-force gusts tonight. Avoid forest roads: trees may fall. " +
				"Power may be out for days. Warmth, charging and water here.",
		}}
	_, err := log.Append(ctx, node.Draft{Type: node.TypeAnnouncementPublished, Payload: a})
	return err
}

// demoOutput interleaves the children's logs line by line, each prefixed
// with its process's name.
type demoOutput struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *demoOutput) line(name string, width int, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%-*s | %s\n", width, name, text)
}

// banner prints to w (standard output) without cutting into a log line.
func (o *demoOutput) banner(w io.Writer, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	io.WriteString(w, text)
}

// logWatch closes seen at the first log line holding text.
type logWatch struct {
	text string
	seen chan struct{}
}

// prefixWriter is one child's standard output and error.
type prefixWriter struct {
	out   *demoOutput
	name  string
	width int
	watch *logWatch // nil: none
	mu    sync.Mutex
	buf   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := string(p.buf[:i])
		p.out.line(p.name, p.width, line)
		if p.watch != nil && strings.Contains(line, p.watch.text) {
			close(p.watch.seen)
			p.watch = nil
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.out.line(p.name, p.width, string(p.buf))
		p.buf = nil
	}
}

// demoChild is one running process of the demo.
type demoChild struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's, once done is closed
}

func startDemoChild(exe, name string, width int, out *demoOutput, watch *logWatch, args []string) (*demoChild, error) {
	w := &prefixWriter{out: out, name: name, width: width, watch: watch}
	cmd := exec.Command(exe, args...)
	// The children get their flags only: no SAFEPOINT_* from the shell.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SAFEPOINT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("demo: starting %s: %w", name, err)
	}
	out.line("demo", width, fmt.Sprintf("Started %s (pid %d)", name, cmd.Process.Pid))
	c := &demoChild{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		w.flush()
		close(c.done)
	}()
	return c, nil
}

// stopDemoChildren stops the nodes, then central: SIGTERM, and SIGKILL for
// any still there after 8 s (a process stops within 5).
func stopDemoChildren(children []*demoChild, out *demoOutput) {
	stop := func(cs []*demoChild) {
		for _, c := range cs {
			c.cmd.Process.Signal(syscall.SIGTERM) // an error means it has gone
		}
		deadline := time.After(8 * time.Second)
		for _, c := range cs {
			select {
			case <-c.done:
			case <-deadline:
				c.cmd.Process.Kill()
				<-c.done
			}
		}
	}
	if len(children) > 1 {
		stop(children[1:])
	}
	if len(children) > 0 {
		stop(children[:1])
	}
}

// waitHealthy polls every URL until each answers 200.
func waitHealthy(ctx context.Context, urls []string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s did not answer within %v", u, limit)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func demoBanner(cfg demoConfig, nodes []demoNode, password, centralFP, scenario string, took time.Duration) string {
	var b strings.Builder
	rule := strings.Repeat("=", 78)
	fmt.Fprintf(&b, "\n%s\nSafepoint demo: a central with its MQTT broker and %d nodes, up in %.1f s.\n",
		rule, len(nodes), took.Seconds())
	fmt.Fprintf(&b, "Every node plays the storm in %s: mains lost, battery, generator, mains back.\n\n", scenario)
	fmt.Fprintf(&b, "Staff account on every node and on central: %s, password %s\n", demoUser, password)
	fmt.Fprintf(&b, "  (saved in %s; the certificates are self-signed, fingerprints below)\n\n",
		filepath.Join(cfg.Dir, "demo-password"))
	width := 0
	for _, n := range nodes {
		width = max(width, len(n.Name))
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "%-*s  residents http://%s/   staff https://%s/board\n", width, n.Name,
			loopback(n.http), loopback(n.https))
		fmt.Fprintf(&b, "%-*s  status    http://%s/api/status   (%s, kommun %s)\n", width, "", loopback(n.http), n.ID, n.Municipality)
		fmt.Fprintf(&b, "%-*s  SHA256:%s\n", width, "", n.fingerprint)
	}
	fmt.Fprintf(&b, "\nCentral     https://%s/login?next=/api/nodes   (every node: online, acked_seq, backlog)\n",
		loopback(cfg.centralHTTPS()))
	fmt.Fprintf(&b, "            SHA256:%s\n", centralFP)
	fmt.Fprintf(&b, "MQTT broker tcp://%s (in central; users in %s)\n\n", loopback(cfg.brokerPort()),
		filepath.Join(cfg.Dir, "central", "broker", "users"))
	fmt.Fprintf(&b, "From a shell:\n  curl -sk -c /tmp/sp-jar -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"name\":\"%s\",\"password\":\"%s\"}' https://%s/api/login\n"+
		"  curl -sk -b /tmp/sp-jar https://%s/api/nodes\n\n",
		demoUser, password, loopback(cfg.centralHTTPS()), loopback(cfg.centralHTTPS()))
	fmt.Fprintf(&b, "Ctrl-C stops everything. The data stays in %s for the next run.\n%s\n\n", cfg.Dir, rule)
	return b.String()
}

// watchDemoNodes tells the story of the storm: each node's power and link
// as they change, read from its /api/status every 2 s.
func watchDemoNodes(ctx context.Context, nodes []demoNode, width int, out *demoOutput) {
	client := &http.Client{Timeout: 2 * time.Second}
	last := make([]string, len(nodes))
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		for i, n := range nodes {
			if s := demoNodeSummary(ctx, client, "http://"+loopback(n.http)+"/api/status"); s != "" && s != last[i] {
				last[i] = s
				out.line("demo", width, n.ID+": "+s)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// demoNodeSummary is one line on a node's power and link; "" when it does
// not answer.
func demoNodeSummary(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Power *struct {
			State   string   `json:"state"`
			Percent *float64 `json:"battery_percent"`
			Runtime *float64 `json:"runtime_minutes"`
		} `json:"power"`
		Sync struct {
			Online bool `json:"online"`
		} `json:"sync"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	var parts []string
	if p := st.Power; p != nil && p.State != "" {
		s := "power " + p.State + " (" + map[string]string{"OL": "mains", "OB": "battery", "GEN": "generator"}[strings.Fields(p.State)[0]] + ")"
		if p.Percent != nil && strings.HasPrefix(p.State, "OB") {
			s += fmt.Sprintf(", battery %.0f %%", *p.Percent)
			if p.Runtime != nil {
				s += fmt.Sprintf(", about %.1f h left", *p.Runtime/60)
			}
		}
		parts = append(parts, s)
	}
	if st.Sync.Online {
		parts = append(parts, "linked to central")
	} else {
		parts = append(parts, "not linked to central")
	}
	return strings.Join(parts, ", ")
}
