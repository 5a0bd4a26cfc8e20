package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// Usage sets fs's usage: summary, then the flags that have a usage text
// (the others are the tool's own, for its child processes, or for whoever
// tunes it), each with its default unless that is false, 0 or 0s.
func Usage(fs *flag.FlagSet, summary string) {
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), summary)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" {
				return
			}
			kind, usage := flag.UnquoteUsage(f)
			if f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				usage += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(fs.Output(), "  -%s %s\n\t%s\n", f.Name, kind, usage)
		})
	}
}

// PeerMissing reports whether bin, a program the tool measures against,
// is missing, saying so on w as the tests that need peers do: "SKIP: …",
// or with REQUIRE_PEERS=1 in env "FAIL: …", and then code 1 for the tool
// to exit with.
func PeerMissing(w io.Writer, env func(string) string, name, bin string) (missing bool, code int) {
	if fi, err := os.Stat(bin); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return false, 0
	}
	if env("REQUIRE_PEERS") == "1" {
		fmt.Fprintf(w, "FAIL: %s not installed (%s missing) and REQUIRE_PEERS=1\n", name, bin)
		return true, 1
	}
	fmt.Fprintf(w, "SKIP: %s not installed (%s missing)\n", name, bin)
	return true, 0
}

// RaiseOpenFiles sets the soft limit on open files to the hard one: a
// tool holding a thousand connections needs them, on its side and in the
// children and peers that inherit the limit. (Go raises its own soft limit
// at start, but gives children the original; setting it explicitly passes
// it on.)
func RaiseOpenFiles() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= lim.Max {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// StartCPUProfile writes a CPU profile of this process to file until stop.
func StartCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// Run runs a tool's work under a context that Ctrl-C or SIGTERM ends; the
// work still stops its children and peers and removes its temporary
// directory before it returns.
func Run(work func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return work(ctx)
}

// Sleep sleeps for d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// NodeLogger is the logger of a node started with the default --log-level
// info: its per-request debug lines are checked for and dropped, as in
// production; the rest is not kept.
func NodeLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Serve serves srv on a free port of 127.0.0.1 until srv is closed, and
// returns its address.
func Serve(srv *http.Server) (net.Addr, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	return ln.Addr(), nil
}
