// Command centralbench measures central at scale: a thousand points and a
// million events in its situation picture. `make bench` runs it; the
// figures go to docs/BENCHMARKS.md.
//
// It is a development tool, not part of the safepoint binary. What it does:
//
//  1. builds the safepoint binary once (internal/proctest) and seeds
//     central's data directory: -points points (p-0001…, over six
//     municipalities of Gävleborg), -events events in all, each point's
//     point.configured with a location first and then a mix of check-ins
//     (no personal data), reports moved on by status changes, service
//     changes, inventory, roster and power.changed over three days,
//     ingested -batch events at a time through central's own event log
//     (eventlog.Open with the situation picture as its Folder, Log.Ingest),
//     every point registered for the downlink (sync/central/store) and
//     given a broker account; the picture's Close writes every point's
//     fold out (point_snapshots). A staff account is made with `safepoint
//     user add`. The seeded directory is kept under -cache, named by the
//     generator's version, the fold rules and the sizes, and reused;
//  2. starts `safepoint central` on a copy of it (embedded broker, staff
//     TLS off, everything on free loopback ports) and times it from the
//     exec until an authenticated GET /api/central/points answers 200 with
//     every point: with the snapshots, as central normally starts, and
//     with point_snapshots emptied, so that central folds every event
//     again. -rounds rounds of each, alternating; a copy each;
//  3. reads central's VmRSS and VmHWM after the start and after the load;
//  4. loads GET /api/central/points and /api/central/needs from -clients
//     clients, each with its own keep-alive connection, one staff
//     session among them, for -duration each after -warmup: requests/s,
//     latency percentiles, central's CPU;
//  5. opens the live page's websocket (/central/ws, the session's cookie,
//     same Origin) and sends -updates events as point p-0001 would: an
//     inventory.changed (an item below its low mark, which the page lists
//     in the point's row) in a sync/wire batch published to its up topic
//     on central's embedded broker with the point's own broker account.
//     Each is timed from the publish to the websocket message that tells
//     the page (a delta with the picture's section), and to the end of
//     the page's refetch of its live parts (/central/live, as
//     ui/web/static/central.js does) that shows the item.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/internal/proctest"
)

// Central's routes measured here (ui/office).
const (
	pointsPath = "/api/central/points"
	needsPath  = "/api/central/needs"
	wsPath     = "/central/ws"
)

type config struct {
	points, events, batch int
	rounds                int
	clients               int
	pace                  time.Duration
	gzip                  bool
	warmup, duration      time.Duration
	updates               int
	spacing               time.Duration
	cache                 string
	routes                []string
	parts                 map[string]bool
	keep                  bool
}

func main() {
	var cfg config
	var parts, routes string
	fs := flag.NewFlagSet("centralbench", flag.ExitOnError)
	fs.IntVar(&cfg.points, "points", 1000, "points in central's picture")
	fs.IntVar(&cfg.events, "events", 1000000, "events in central's log, over all points")
	fs.IntVar(&cfg.batch, "batch", 4000, "events per Ingest while seeding")
	fs.IntVar(&cfg.rounds, "rounds", 3, "starts of each kind (with the snapshots, folding everything), alternating")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent clients in the load test")
	fs.BoolVar(&cfg.gzip, "gzip", true, "ask for answers gzipped, as a browser does (false: plain JSON)")
	fs.DurationVar(&cfg.pace, "pace", 500*time.Millisecond, "a paced client's time from one request to the next, as the live page refetches at most (0: saturation only)")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured load before each window")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "measured load per route")
	fs.StringVar(&routes, "routes", pointsPath+","+needsPath+","+needsPath+"?point=p-0001", "the routes to load, one after another, comma-separated (the last: a small answer from the same handler, for reference)")
	fs.IntVar(&cfg.updates, "updates", 30, "events sent over MQTT for the page's update latency")
	fs.DurationVar(&cfg.spacing, "spacing", 1500*time.Millisecond, "time from one update to the next")
	fs.StringVar(&cfg.cache, "cache", filepath.Join(os.TempDir(), "centralbench"), "where seeded data directories are kept and reused")
	fs.StringVar(&parts, "parts", "start,load,live", "which parts to run after the seed")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the copies central ran on (in a temporary directory it names)")
	bench.Usage(fs, "Usage: centralbench [flags]\n\nMeasures central with a thousand points and a million events: seeding, start, memory, the picture's JSON under load, the live page's latency.")
	fs.Parse(os.Args[1:])
	if cfg.points < 1 || cfg.points > 9999 || cfg.events < 2*cfg.points || cfg.batch < 1 || cfg.rounds < 1 ||
		cfg.clients < 1 || cfg.duration <= 0 || cfg.updates < 0 {
		fmt.Fprintln(os.Stderr, "centralbench: -points 1…9999, -events at least twice -points, the rest positive")
		os.Exit(2)
	}
	for _, r := range strings.Split(routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.routes = append(cfg.routes, r)
		}
	}
	cfg.parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		cfg.parts[strings.TrimSpace(p)] = true
	}
	bench.RaiseOpenFiles()
	var bin string
	code := proctest.Main(&bin, func() int {
		if err := bench.Run(func(ctx context.Context) error { return run(ctx, cfg, bin) }); err != nil {
			fmt.Fprintln(os.Stderr, "centralbench:", err)
			return 1
		}
		return 0
	})
	os.Exit(code)
}

func run(ctx context.Context, cfg config, bin string) error {
	res := results{cfg: cfg, machine: machine(), loadBefore: loadAverage()}
	fmt.Fprintf(os.Stderr, "centralbench: %s\n", res.machine)

	start := time.Now()
	seedDir, info, cached, err := cachedSeed(ctx, cfg.cache, bin, cfg.points, cfg.events, cfg.batch)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	res.seed, res.seedCached = info, cached
	if res.payloadBytes, res.snapshotBytes, err = sizes(ctx, seedDir); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if cached {
		fmt.Fprintf(os.Stderr, "centralbench: seed %s (cached; seeded %s in %v)\n", seedDir, info.At.Format(time.DateTime), info.Total.Round(time.Second))
	} else {
		fmt.Fprintf(os.Stderr, "centralbench: seeded %s in %v (ingest %v, snapshots %v), %s bytes\n", seedDir,
			time.Since(start).Round(time.Second), info.Ingest.Round(time.Second), info.Snapshots.Round(time.Millisecond), bench.Thousands(float64(info.DBBytes)))
	}
	if !cfg.parts["start"] && !cfg.parts["load"] && !cfg.parts["live"] {
		res.loadAfter = loadAverage()
		res.print(os.Stdout)
		return nil
	}

	tmp, err := os.MkdirTemp("", "centralbench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(os.Stderr, "centralbench: copies in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	// The starts, alternating: fold everything, then from the snapshots;
	// the last start (from the snapshots) stays up for the load.
	rounds := cfg.rounds
	if !cfg.parts["start"] {
		rounds = 1
	}
	var c *central
	defer func() {
		if c != nil {
			c.stop()
		}
	}()
	for r := range rounds {
		for _, refold := range []bool{true, false} {
			if !cfg.parts["start"] && refold {
				continue
			}
			dir := filepath.Join(tmp, fmt.Sprintf("central-%d-%v", r+1, map[bool]string{true: "refold", false: "snapshot"}[refold]))
			s, cen, err := measureStart(ctx, bin, seedDir, dir, refold, cfg.points)
			if err != nil {
				return fmt.Errorf("start %d (refold %v): %w", r+1, refold, err)
			}
			fmt.Fprintf(os.Stderr, "centralbench: start %d, %s: serving %s, healthz %s, login %s, all %d points %s; VmRSS %.1f MiB, VmHWM %.1f MiB, CPU %s\n",
				r+1, s.kind(), secs(s.serving), secs(s.healthy), secs(s.login), cfg.points, secs(s.points), mib(s.rss), mib(s.hwm), secs(s.cpu))
			res.starts = append(res.starts, s)
			if !refold && r == rounds-1 {
				c = cen
				continue
			}
			cen.stop()
			if !cfg.keep {
				os.RemoveAll(dir)
			}
		}
	}

	if cfg.parts["load"] {
		paces := []time.Duration{0}
		if cfg.pace > 0 {
			paces = append(paces, cfg.pace)
		}
		for _, pace := range paces {
			for _, path := range cfg.routes {
				l, err := load(ctx, c, path, cfg.clients, pace, cfg.warmup, cfg.duration, cfg.gzip)
				if err != nil {
					return fmt.Errorf("load %s: %w", path, err)
				}
				fmt.Fprintf(os.Stderr, "centralbench: %s, pace %v: %s requests/s, p50 %v, p99 %v, %s bytes each, central %.2f cores, %d errors\n",
					path, pace, bench.Thousands(l.rate()), ms(l.p50), ms(l.p99), bench.Thousands(float64(l.bytes)), l.centralCores, l.errors)
				res.loads = append(res.loads, l)
			}
		}
		res.rssAfterLoad, _ = bench.ProcStatus(c.pid(), "VmRSS:")
		res.hwmAfterLoad, _ = bench.ProcStatus(c.pid(), "VmHWM:")
	}
	if cfg.parts["live"] && cfg.updates > 0 {
		l, err := live(ctx, c, uint64(perPoint(cfg.points, cfg.events, 0)), cfg.updates, cfg.spacing)
		if err != nil {
			return fmt.Errorf("live: %w", err)
		}
		res.live = &l
	}
	res.loadAfter = loadAverage()
	res.print(os.Stdout)
	return nil
}

// loadAverage is the machine's load average over the last minute, from
// /proc/loadavg: other work on a shared machine moves every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f, _, _ := strings.Cut(string(b), " ")
	return f
}

// machine names the machine: cores, CPU model, Go.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s, GOMAXPROCS %d", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.GOMAXPROCS(0))
}

func ms(d time.Duration) string { return bench.Ms(d) }

// secs formats a duration in seconds with two decimals: "5.86 s".
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func thousands(n int) string { return bench.Thousands(float64(n)) }
