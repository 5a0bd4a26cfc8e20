// Command safepoint is the one binary of Safepoint: the node daemon at each
// safety point, and the tools around it. main only wires parts together;
// the parts live in node/, ui/, hardware/ and sync/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"node", "run the safety point's daemon", runNode},
		{"central", "run the municipality's central, which receives every point's events", runCentral},
		{"demo", "run a central, its broker and several nodes through a simulated storm (make run)", runDemo},
		{"broker-config", "add a node or a central to the MQTT broker's users and ACL", runBrokerConfig},
		{"user", "manage staff accounts: add, list, disable, enable, passwd, scope", runUser},
		{"enrol", "enrol a point with one code: create, list, revoke at central; join at the point", runEnrol},
		{"dump", "print every event of a log as JSON lines", runDump},
		{"hardware", "look at the power hardware: hardware probe finds the HAT or shunt and reads it", runHardware},
		{"version", "print the version", runVersion},
		{"help", "list the commands, or show one command's flags", nil},
	}
}

// errUsage marks a mistake in how the program was called: exit status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "safepoint:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return run(ctx, []string{rest[0], "-h"}, env, stdout, stdout)
		}
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, rest, env, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "safepoint: unknown command %q\n\n", name)
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Safepoint runs a rural crisis safety point (trygghetspunkt).")
	fmt.Fprintln(w, "\nUsage: safepoint COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'safepoint help COMMAND' for a command's flags.")
}

func runVersion(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	goVersion, commit := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "safepoint %s (%s%s)\n", version, goVersion, commit)
	return nil
}

// usageErr turns a flag parsing error into errUsage; -h stays ErrHelp.
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}
