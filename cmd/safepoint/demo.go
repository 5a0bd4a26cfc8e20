package main

// `safepoint demo`: a broker, a central and several nodes on one machine,
// each its own child process of this binary, with simulated power playing a
// storm (internal/demo). It is what `make run` starts.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/safepoint-se/safepoint/internal/demo"
)

func runDemo(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	cfg := demo.Defaults()
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
`, demo.User)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	_, levelErr := parseLevel(cfg.LogLevel)
	if err := errors.Join(cfg.Validate(), levelErr); err != nil {
		return err
	}
	return demo.Run(ctx, cfg, stdout, stderr)
}
