// Package demo runs Safepoint's demo on one machine (`safepoint demo`,
// `make run`): a broker, a central and several nodes, each its own child
// process of the safepoint binary, with simulated power playing a storm.
// It prepares every process's data directory (configuration, broker
// credentials, one staff account, a little content), starts the processes
// with their output interleaved line by line, waits until each answers,
// prints a banner, tells the storm's story as it goes (each node's power
// and link), plays residents and staff at the points over HTTP (story.go),
// and stops them all when its context ends.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/safepoint-se/safepoint/hardware/sim"
)

// User is the staff account the demo makes on every node and central.
const User = "demo"

// Config is the configuration of the demo. Ports, from BasePort B: nodes'
// HTTP on B, B+1, …; central's HTTP on B+10; the broker on B+11; nodes'
// staff HTTPS on B+363, …; central's staff HTTPS on B+413. With B 8080,
// the default, those are 8080, 8090, 8091, 8443 and 8493.
type Config struct {
	Exe      string // the safepoint binary to run the processes; "": this process's own
	Dir      string // every process's data, reused on the next run
	Nodes    int    // how many of Points
	BasePort int
	Scenario string // power scenario file; "": Storm
	LogLevel string // the processes' --log-level
}

// Defaults is the configuration of `make run`.
func Defaults() Config {
	return Config{Dir: ".run/demo", Nodes: 3, BasePort: 8080, LogLevel: "info"}
}

func (c Config) NodeHTTP(i int) int  { return c.BasePort + i }
func (c Config) NodeHTTPS(i int) int { return c.BasePort + 363 + i }
func (c Config) CentralHTTP() int    { return c.BasePort + 10 }
func (c Config) CentralHTTPS() int   { return c.BasePort + 413 }
func (c Config) BrokerPort() int     { return c.BasePort + 11 }

// Addr is a port on 127.0.0.1, where every process of the demo listens.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Validate reports what is wrong with the configuration, naming the flags
// of `safepoint demo`. The log level is the processes' to check.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("--dir: required"))
	}
	if c.Nodes < 1 || c.Nodes > len(Points) {
		errs = append(errs, fmt.Errorf("--nodes %d: 1 to %d", c.Nodes, len(Points)))
	}
	if c.BasePort < 1 || c.CentralHTTPS() > 65535 {
		errs = append(errs, fmt.Errorf("--base-port %d: 1 to %d", c.BasePort, 65535-413))
	}
	return errors.Join(errs...)
}

// site is what the demo prepared for one node.
type site struct {
	Point
	data, fingerprint string
	http, https       int
}

// Run runs the demo until ctx ends (nil), or until a process exits (an
// error). The processes' logs go to stderr, each line prefixed with its
// process's name; the banner goes to stdout.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	began := time.Now()
	exe := cfg.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("demo: finding this binary: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	password, err := demoPassword(filepath.Join(cfg.Dir, "demo-password"))
	if err != nil {
		return err
	}
	scenario, err := scenarioFile(cfg)
	if err != nil {
		return err
	}

	// Central: its data, the demo account, and the broker's users file, to
	// which each node's credentials are added below.
	centralDir := filepath.Join(cfg.Dir, "central")
	if err := os.MkdirAll(centralDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := account(ctx, centralDir, password); err != nil {
		return err
	}
	centralFP, err := cert(centralDir)
	if err != nil {
		return err
	}
	usersFile := filepath.Join(centralDir, "broker", "users")

	points := Points[:cfg.Nodes]
	nodes := make([]site, len(points))
	for i, p := range points {
		n := site{Point: p, data: filepath.Join(cfg.Dir, p.ID), http: cfg.NodeHTTP(i), https: cfg.NodeHTTPS(i)}
		if n.fingerprint, err = prepareNode(ctx, n, points, password, usersFile); err != nil {
			return fmt.Errorf("demo: %s: %w", p.ID, err)
		}
		nodes[i] = n
	}

	// The processes: central (with the broker) first, then the nodes once
	// central listens to the broker, so that their first batches find it.
	out := &output{w: stderr}
	width := len("central")
	for _, n := range nodes {
		width = max(width, len(n.ID))
	}
	common := []string{"--log-level", cfg.LogLevel, "--log-format", "text"}
	linked := make(chan struct{})
	central, err := startChild(exe, "central", width, out, &logWatch{text: `msg="Central link up"`, seen: linked},
		append([]string{"central", "--data", centralDir, "--id", "central",
			"--http", Addr(cfg.CentralHTTP()), "--https", Addr(cfg.CentralHTTPS()),
			"--embedded-broker", Addr(cfg.BrokerPort())}, common...))
	if err != nil {
		return err
	}
	children := []*child{central}
	failed := make(chan *child, len(nodes)+1)
	watchExit := func(c *child) {
		go func() {
			<-c.done
			failed <- c
		}()
	}
	watchExit(central)
	// stopped reports how the demo ends when a child exits or ctx ends
	// before everything is up.
	stopped := func(c *child) error {
		stopChildren(children)
		if c != nil {
			return fmt.Errorf("demo: %s exited before it was ready: %v (its log is above)", c.name, c.err)
		}
		return nil
	}
	// Central says so at level info; without the line (a quieter level, a
	// slow machine) the nodes start anyway and resend what was missed.
	level := slog.LevelInfo
	level.UnmarshalText([]byte(cfg.LogLevel)) // the processes refuse a bad one
	if level <= slog.LevelInfo {
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

	brokerURL := "tcp://" + Addr(cfg.BrokerPort())
	for _, n := range nodes {
		c, err := startChild(exe, n.ID, width, out, nil, append([]string{"node",
			"--config", filepath.Join(n.data, "demo.toml"), "--data", n.data, "--id", n.ID,
			"--http", Addr(n.http), "--https", Addr(n.https),
			"--power", "sim:" + scenario, "--power-hold-ob", "1s", "--power-hold-ol", "1s",
			"--generator-burn", "2",
			"--mqtt", brokerURL, "--mqtt-user", n.ID, "--mqtt-password-file", filepath.Join(n.data, "mqtt-password")},
			common...))
		if err != nil {
			stopChildren(children)
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
		urls := []string{"http://" + Addr(cfg.CentralHTTP()) + "/healthz"}
		for _, n := range nodes {
			urls = append(urls, "http://"+Addr(n.http)+"/healthz")
		}
		ready <- waitHealthy(rctx, urls, 60*time.Second)
	}()
	select {
	case err := <-ready:
		if err != nil {
			if ctx.Err() != nil {
				return stopped(nil)
			}
			stopChildren(children)
			return fmt.Errorf("demo: %w", err)
		}
	case c := <-failed:
		return stopped(c)
	case <-ctx.Done():
		return stopped(nil)
	}

	out.banner(stdout, banner(cfg, nodes, password, centralFP, scenario, time.Since(began)))
	go watchNodes(rctx, nodes, width, out)
	told := make(chan struct{})
	go func() {
		defer close(told)
		t := newTeller(storyNodes(nodes), password, func(line string) { out.line("demo", width, line) })
		t.tell(rctx, story, sleepUntil(time.Now()))
	}()

	select {
	case <-ctx.Done():
		cancelReady() // no more news from the nodes, no more story
		<-told
		out.line("demo", width, "Stopping every process")
		stopChildren(children)
		out.line("demo", width, "Stopped")
		return nil
	case c := <-failed:
		cancelReady()
		<-told
		stopChildren(children)
		return fmt.Errorf("demo: %s exited: %v (its log is above)", c.name, c.err)
	}
}

// storyNodes are where the story reaches the demo's nodes.
func storyNodes(nodes []site) []storyNode {
	out := make([]storyNode, len(nodes))
	for i, n := range nodes {
		out[i] = storyNode{id: n.ID, public: "http://" + Addr(n.http), staff: "https://" + Addr(n.https), fingerprint: n.fingerprint}
	}
	return out
}

// scenarioFile is the absolute path of the scenario every node plays:
// cfg.Scenario, or Storm written into cfg.Dir. It is loaded here, as a
// node would load it, so that a bad one stops the demo before any process
// starts.
func scenarioFile(cfg Config) (string, error) {
	scenario := cfg.Scenario
	if scenario == "" {
		scenario = filepath.Join(cfg.Dir, "storm-demo.toml")
		if err := writeIfChanged(scenario, []byte(Storm)); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	}
	scenario, err := filepath.Abs(scenario)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	sc, err := sim.Load(scenario)
	if err == nil {
		_, err = sim.New(sc, nil)
	}
	if err != nil {
		return "", fmt.Errorf("demo: --power: %w", err)
	}
	return scenario, nil
}
