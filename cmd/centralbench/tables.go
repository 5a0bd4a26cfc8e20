package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node"
)

// results is everything the tables show.
type results struct {
	cfg                   config
	machine               string
	seed                  seedInfo
	seedCached            bool
	payloadBytes          int64  // the events' payloads in the seed
	snapshotBytes         int64  // the points' snapshots in the seed
	loadBefore, loadAfter string // the load average at the start and at the end
	starts                []startResult
	loads                 []loadResult
	rssAfterLoad          int64
	hwmAfterLoad          int64
	live                  *liveResult
}

// Goals (issue 16, point 7).
const (
	goalStart  = 5 * time.Second
	goalP99    = 50 * time.Millisecond
	goalUpdate = time.Second
)

func (r results) print(w io.Writer) {
	fmt.Fprintf(w, "\nCentral with %s points and %s events; %s; load average %s at the start, %s at the end.\n\n",
		thousands(r.cfg.points), thousands(r.cfg.events), r.machine, r.loadBefore, r.loadAfter)
	r.printSeed(w)
	if len(r.starts) > 0 {
		r.printStarts(w)
	}
	if len(r.loads) > 0 {
		r.printLoads(w)
	}
	if r.live != nil {
		r.printLive(w)
	}
	r.printGoals(w)
}

func (r results) printSeed(w io.Writer) {
	s := r.seed
	when := "this run"
	if r.seedCached {
		when = "cached, seeded " + s.At.Format(time.DateTime) + " UTC"
	}
	fmt.Fprintf(w, "Seed (%s): %s events ingested %s at a time through central's event log with the picture as its folder.\n\n",
		when, thousands(s.Events), thousands(r.cfg.batch))
	fmt.Fprintln(w, "| figure | measured |")
	fmt.Fprintln(w, "|---|---|")
	fmt.Fprintf(w, "| registering %s points and ingesting %s events | %s (%s events/s) |\n", thousands(s.Points), thousands(s.Events),
		secs(s.Ingest), bench.Thousands(float64(s.Events)/s.Ingest.Seconds()))
	fmt.Fprintf(w, "| writing every point's fold out (the picture's Close) | %s |\n", secs(s.Snapshots))
	fmt.Fprintf(w, "| all, with %s broker accounts (argon2id each) and the staff account | %s |\n", thousands(s.Points), secs(s.Total))
	fmt.Fprintf(w, "| database (safepoint.db) | %.1f MiB (%s bytes per event) |\n", mib(s.DBBytes), bench.Thousands(float64(s.DBBytes)/float64(s.Events)))
	fmt.Fprintf(w, "| of which the events' payloads / the points' snapshots (point_snapshots.state) | %.1f MiB / %.1f MiB (%s KiB a point) |\n",
		mib(r.payloadBytes), mib(r.snapshotBytes), bench.Thousands(float64(r.snapshotBytes)/1024/float64(s.Points)))
	types := make([]string, 0, len(s.Counts))
	for t := range s.Counts {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int { return s.Counts[b] - s.Counts[a] })
	fmt.Fprint(w, "| events by type |")
	for i, t := range types {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, " %s %s (%.1f %%)", t, thousands(s.Counts[t]), 100*float64(s.Counts[t])/float64(s.Events))
	}
	fmt.Fprintln(w, " |")
	fmt.Fprintln(w)
}

func (r results) printStarts(w io.Writer) {
	fmt.Fprintln(w, "Starts of `safepoint central` on a copy of the seed, from the exec (medians below):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| start | serving (log open, picture folded) | /healthz 200 | login 200 | all points in GET /api/central/points | CPU until then | VmRSS | VmHWM |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for i, s := range r.starts {
		fmt.Fprintf(w, "| %d, %s | %s | %s | %s | %s | %s | %.1f MiB | %.1f MiB |\n", i/2+1, s.kind(), secs(s.serving), secs(s.healthy), secs(s.login),
			secs(s.points), secs(s.cpu), mib(s.rss), mib(s.hwm))
	}
	for _, refold := range []bool{false, true} {
		m := r.startMedian(refold)
		if m.points == 0 {
			continue
		}
		fmt.Fprintf(w, "| **median**, %s | %s | %s | %s | **%s** | %s | %.1f MiB | %.1f MiB |\n", m.kind(), secs(m.serving), secs(m.healthy), secs(m.login),
			secs(m.points), secs(m.cpu), mib(m.rss), mib(m.hwm))
	}
	if snap, full := r.startMedian(false), r.startMedian(true); snap.points > 0 && full.points > 0 {
		fmt.Fprintf(w, "\nThe snapshots make the start %.1f× faster (%s against %s until every point is served) and spend %.1f× less CPU.\n",
			full.points.Seconds()/snap.points.Seconds(), secs(snap.points), secs(full.points), full.cpu.Seconds()/snap.cpu.Seconds())
	}
	fmt.Fprintln(w)
}

// startMedian is the median of each figure over the starts of a kind.
func (r results) startMedian(refold bool) startResult {
	var f [7][]float64
	for _, s := range r.starts {
		if s.refold != refold {
			continue
		}
		for i, x := range []float64{float64(s.serving), float64(s.healthy), float64(s.login), float64(s.points), float64(s.cpu), float64(s.rss), float64(s.hwm)} {
			f[i] = append(f[i], x)
		}
	}
	if len(f[0]) == 0 {
		return startResult{refold: refold}
	}
	d := func(i int) time.Duration { return time.Duration(bench.Median(f[i])) }
	return startResult{refold: refold, serving: d(0), healthy: d(1), login: d(2), points: d(3), cpu: d(4),
		rss: int64(bench.Median(f[5])), hwm: int64(bench.Median(f[6]))}
}

// paceWords says how a client of the load sent its requests.
func (l loadResult) paceWords() string {
	how := "back to back (saturation)"
	if l.pace > 0 {
		how = fmt.Sprintf("one every %v (the live page's most)", l.pace)
	}
	if l.gzip {
		how += ", gzip"
	}
	return how
}

func (r results) printLoads(w io.Writer) {
	fmt.Fprintf(w, "Load on the last start (from the snapshots): %d clients, each its own keep-alive connection, one staff session, %v measured after %v.\n\n",
		r.cfg.clients, r.cfg.duration, r.cfg.warmup)
	fmt.Fprintln(w, "| GET | each client | answer as sent | requests/s | p50 | p90 | p99 | max | errors | central CPU | per request | load generator CPU | per request | connections |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, l := range r.loads {
		perReq := func(cores float64) string { return ms(time.Duration(cores / l.rate() * float64(time.Second))) }
		fmt.Fprintf(w, "| %s | %s | %s bytes | %s | %s | %s | **%s** | %s | %d | %.2f cores | %s | %.2f cores | %s | %d |\n", l.path, l.paceWords(), bench.Thousands(float64(l.bytes)),
			bench.Thousands(l.rate()), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), l.errors, l.centralCores, perReq(l.centralCores), l.genCPU, perReq(l.genCPU), l.connections)
	}
	var snap startResult
	for _, s := range r.starts {
		if !s.refold {
			snap = s
		}
	}
	fmt.Fprintf(w, "\nCentral's memory: VmRSS %.1f MiB after the start, %.1f MiB after the load; VmHWM %.1f MiB after the start, %.1f MiB after the load.\n\n",
		mib(snap.rss), mib(r.rssAfterLoad), mib(snap.hwm), mib(r.hwmAfterLoad))
}

func (r results) printLive(w io.Writer) {
	l := r.live
	fmt.Fprintf(w, "The live page: %d updates (an inventory.changed of p-0001, an item below its low mark, published to its up topic over MQTT as the node would), %v apart, %d missed.\n\n",
		l.updates, r.cfg.spacing, l.missed)
	fmt.Fprintln(w, "| from the publish to | p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(what string, d []time.Duration) {
		if len(d) == 0 {
			return
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", what, ms(bench.Percentile(d, 50)), ms(bench.Percentile(d, 99)), ms(d[len(d)-1]))
	}
	row("the page's first websocket message", l.first)
	row("the message after which the page's refetch showed it", l.told)
	row(fmt.Sprintf("**the refetched %s showing it** (%s bytes)", refetchPath, bench.Thousands(float64(l.refetchBytes))), l.shown)
	fmt.Fprintf(w, "\nThe message that told the page: %d bytes.\n\n", l.msgBytes)
}

func (r results) printGoals(w io.Writer) {
	fmt.Fprintln(w, "| goal | measured | |")
	fmt.Fprintln(w, "|---|---|---|")
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	if s := r.startMedian(false); s.points > 0 {
		fmt.Fprintf(w, "| start ≤ 5 s (from the snapshots, until every point is served) | %s | %s |\n", secs(s.points), met(s.points <= goalStart))
	}
	if s := r.startMedian(true); s.points > 0 {
		fmt.Fprintf(w, "| (folding every event: %s) | %s | %s |\n", thousands(r.cfg.events), secs(s.points), met(s.points <= goalStart))
	}
	for _, l := range r.loads {
		if l.path != pointsPath && l.path != needsPath {
			continue
		}
		fmt.Fprintf(w, "| GET %s p99 ≤ 50 ms under %d clients, %s | %s | %s |\n", l.path, l.clients, l.paceWords(), ms(l.p99), met(l.p99 <= goalP99))
	}
	if l := r.live; l != nil && len(l.shown) > 0 {
		p99 := bench.Percentile(l.shown, 99)
		fmt.Fprintf(w, "| page update ≤ 1 s (p99, publish to the refetch showing it) | %s | %s |\n", ms(p99), met(p99 <= goalUpdate && l.missed == 0))
	}
	fmt.Fprintf(w, "\n(fold rules %s)\n", node.FoldVersion)
}
