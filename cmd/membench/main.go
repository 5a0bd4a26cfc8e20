// Command membench measures an idle node's memory: the safepoint binary of
// this tree against the one of an earlier commit (-before, by default the
// last one before issue 18 brought systemd supervision and the metrics),
// both built here the way `make build` builds (static, stripped). `make
// bench` runs it; the figures go to docs/BENCHMARKS.md.
//
// It is a development tool, not part of the safepoint binary. What it does:
//
//  1. builds this tree's binary, and the -before commit's from its own
//     tree (git archive into a temporary directory, so the repository and
//     its worktrees are left as they are);
//  2. starts, each round, three nodes at once, each on a fresh data
//     directory with `--power sim` (the storm simulator polled every 5 s,
//     its history kept, as on a point): the earlier binary, this one, and
//     this one with `--metrics` on, scraped every -scrape as Prometheus
//     would;
//  3. waits until each answers /healthz, leaves them idle for -idle (no
//     resident, no staff, no link), and reads each one's VmRSS, RssAnon
//     (the heap, the stacks, SQLite's pages) and RssFile (the binary's
//     own pages, mapped from the file) from /proc/PID/status;
//  4. prints a Markdown table, the median of -rounds rounds with their
//     range, against the goal: an idle node with metrics on in 25 MiB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
)

// beforeIssue18 is main's last commit before issue 18 (systemd
// supervision, Prometheus metrics, the memory goal).
const beforeIssue18 = "b26c16734fc572ba5c703950e5e35065827cb93c"

// goal is the most an idle node with metrics on may hold.
const goal = 25 << 20

type config struct {
	before string
	idle   time.Duration
	scrape time.Duration
	rounds int
	keep   bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("membench", flag.ExitOnError)
	fs.StringVar(&cfg.before, "before", beforeIssue18, "the earlier `commit` to measure against")
	fs.DurationVar(&cfg.idle, "idle", 30*time.Second, "how long each node idles before its memory is read")
	fs.DurationVar(&cfg.scrape, "scrape", 10*time.Second, "how often the node with metrics on is scraped")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds; each starts the three nodes anew")
	fs.BoolVar(&cfg.keep, "keep", false, "") // keep the temporary directory, to look at the nodes' logs
	bench.Usage(fs, "membench measures an idle node's memory, this tree's against an earlier commit's.")
	fs.Parse(os.Args[1:])
	if err := bench.Run(func(ctx context.Context) error { return run(ctx, cfg, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "membench:", err)
		os.Exit(1)
	}
}

// variant is one kind of node measured.
type variant struct {
	name    string
	bin     string
	metrics bool
	rss     []mem // one a round
}

type mem struct{ rss, anon, file int64 }

func run(ctx context.Context, cfg config, w io.Writer) error {
	if cfg.rounds < 1 || cfg.idle <= 0 || cfg.scrape <= 0 {
		return errors.New("-rounds, -idle and -scrape must be positive")
	}
	tmp, err := os.MkdirTemp("", "membench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "membench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	root, err := output(ctx, "", "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("membench runs in the repository: %w", err)
	}
	head, _ := output(ctx, root, "git", "describe", "--always", "--dirty")
	before, err := output(ctx, root, "git", "rev-parse", "--short", cfg.before+"^{commit}")
	if err != nil {
		return fmt.Errorf("-before %s: %w", cfg.before, err)
	}
	now := filepath.Join(tmp, "safepoint-now")
	if err := build(ctx, root, now); err != nil {
		return err
	}
	old := filepath.Join(tmp, "safepoint-"+before)
	src := filepath.Join(tmp, "src-"+before)
	if err := os.Mkdir(src, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "membench: building %s from its own tree\n", before)
	if _, err := output(ctx, root, "sh", "-c", fmt.Sprintf("git archive %s | tar -x -C %s", before, src)); err != nil {
		return err
	}
	if err := build(ctx, src, old); err != nil {
		return err
	}
	os.RemoveAll(src)

	variants := []*variant{
		{name: before + " (before issue 18), no metrics", bin: old},
		{name: head + ", no metrics", bin: now},
		{name: head + ", metrics on and scraped every " + cfg.scrape.String(), bin: now, metrics: true},
	}
	for round := 1; round <= cfg.rounds; round++ {
		fmt.Fprintf(os.Stderr, "membench: round %d of %d, %v idle\n", round, cfg.rounds, cfg.idle)
		if err := measure(ctx, cfg, filepath.Join(tmp, fmt.Sprint("round", round)), variants); err != nil {
			return err
		}
	}
	report(w, cfg, variants)
	return nil
}

// build builds the safepoint binary of the tree at dir as `make build`
// does.
func build(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/safepoint")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", dir, err, b)
	}
	return nil
}

// node is one running node.
type node struct {
	v       *variant
	peer    *bench.Peer
	base    string // http://127.0.0.1:PORT
	metrics string // its /metrics, when on
}

// measure runs one round: every variant's node at once, idle, then read.
func measure(ctx context.Context, cfg config, dir string, variants []*variant) error {
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			n.peer.Stop(syscall.SIGTERM, 10*time.Second)
		}
	}()
	for i, v := range variants {
		ports := make([]int, 3)
		for j := range ports {
			p, err := bench.FreePort()
			if err != nil {
				return err
			}
			ports[j] = p
		}
		data := filepath.Join(dir, fmt.Sprint("node", i))
		args := []string{"node", "--data", data, "--http", fmt.Sprintf("127.0.0.1:%d", ports[0]),
			"--https", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--power", "sim", "--municipality", "2161"}
		n := &node{v: v, base: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
		if v.metrics {
			args = append(args, "--metrics", fmt.Sprintf("127.0.0.1:%d", ports[2]))
			n.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2])
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		peer, err := bench.StartPeer(v.name, "", v.bin, args...)
		if err != nil {
			return err
		}
		n.peer = peer
		nodes = append(nodes, n)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	for _, n := range nodes {
		if err := n.peer.Ready(ctx, 60*time.Second, 50*time.Millisecond, syscall.SIGTERM,
			func() error { return get(n.base + "/healthz") }); err != nil {
			return err
		}
	}
	end := time.Now().Add(cfg.idle)
	for time.Now().Before(end) && ctx.Err() == nil {
		for _, n := range nodes {
			if n.metrics != "" {
				if err := get(n.metrics); err != nil {
					return err
				}
			}
		}
		bench.Sleep(ctx, min(cfg.scrape, time.Until(end)))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, n := range nodes {
		var m mem
		var err error
		pid := n.peer.Pid()
		if m.rss, err = bench.ProcStatus(pid, "VmRSS:"); err != nil {
			return err
		}
		if m.anon, err = bench.ProcStatus(pid, "RssAnon:"); err != nil {
			return err
		}
		if m.file, err = bench.ProcStatus(pid, "RssFile:"); err != nil {
			return err
		}
		n.v.rss = append(n.v.rss, m)
	}
	return nil
}

func report(w io.Writer, cfg config, variants []*variant) {
	fmt.Fprintf(w, "\nIdle node, `--power sim`, %v after /healthz first answered; median of %d rounds (range):\n\n", cfg.idle, cfg.rounds)
	fmt.Fprintln(w, "| node | VmRSS | RssAnon | RssFile |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, v := range variants {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v.name,
			spread(v.rss, func(m mem) int64 { return m.rss }),
			spread(v.rss, func(m mem) int64 { return m.anon }),
			spread(v.rss, func(m mem) int64 { return m.file }))
	}
	last := variants[len(variants)-1]
	rss := median(last.rss, func(m mem) int64 { return m.rss })
	verdict := "met"
	if rss > goal {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "\nGoal: an idle node with metrics on in 25 MiB VmRSS: %s (%s).\n", verdict, mib(rss))
}

func median(ms []mem, f func(mem) int64) int64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = float64(f(m))
	}
	return int64(bench.Median(xs))
}

func spread(ms []mem, f func(mem) int64) string {
	xs := make([]int64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	s := mib(median(ms, f))
	if len(xs) > 1 {
		s += fmt.Sprintf(" (%s–%s)", strings.TrimSuffix(mib(slices.Min(xs)), " MiB"), mib(slices.Max(xs)))
	}
	return s
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// output runs a command in dir and returns its standard output, trimmed.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(b)), nil
}
