package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
)

func printTables(w io.Writer, cfg config, res results) {
	fmt.Fprintf(w, "\n%s on 127.0.0.1, GOMAXPROCS %d on %d CPUs, %s.\n", res.mosquitto, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	if len(res.drain) > 0 {
		printDrain(w, cfg, res)
	}
	if len(res.components) > 0 {
		fmt.Fprintln(w, "The drain's steps alone (this process, no MQTT, the same batches):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| step | total | per batch |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, c := range res.components {
			fmt.Fprintf(w, "| %s | %s | %.0f µs |\n", c.what, ms(c.took), float64(c.took)/1e3/float64(c.n))
		}
		fmt.Fprintln(w)
	}
	if len(res.bytes) > 0 {
		fmt.Fprintf(w, "### Bytes on the wire per report event\n\n")
		fmt.Fprintln(w, "Counted at the TCP connection between the link and Mosquitto (a counting proxy): MQTT packets whole, TCP/IP headers not included; the whole session (CONNECT to DISCONNECT) over the events drained.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| batch size | events | up messages | client→broker per event | of which batch payload | PUBLISH framing (header, topic, id) | rest (CONNECT, SUBSCRIBE, birth, PUBACKs of acks, DISCONNECT) | broker→client per event | of which central's acks | PUBACKs of batches | drain through the proxy |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
		for _, b := range res.bytes {
			up, down := b.up, b.down
			framing := up.pubUp.bytes - up.pubUp.payload
			rest := up.total - up.pubUp.bytes
			fmt.Fprintf(w, "| %d | %s | %d | **%.1f B** | %.1f B | %.2f B | %.2f B | %.1f B | %.1f B (%d messages) | %.1f B | %s |\n",
				b.batch, bench.Thousands(float64(b.events)), up.pubUp.count, b.perEvent(up.total), b.perEvent(up.pubUp.payload), b.perEvent(framing), b.perEvent(rest),
				b.perEvent(down.total), b.perEvent(down.pubAck.bytes), down.pubAck.count, b.perEvent(down.byType[4].bytes), ms(b.took))
		}
		fmt.Fprintln(w)
		for _, b := range res.bytes {
			if b.batch == cfg.batch {
				fmt.Fprintf(w, "Goal: ≤ 80 B per report event client→broker at %d/batch: %s (%.1f B).\n\n", b.batch, yes(b.perEvent(b.up.total) <= 80), b.perEvent(b.up.total))
			}
		}
	}
	if len(res.ingest) > 0 {
		fmt.Fprintf(w, "### Central's ingest from %s node connections\n\n", bench.Thousands(float64(res.ingest[0].nodes)))
		fmt.Fprintf(w, "Each node its own paho connection, client id and node id (municipalities 2161 and 0180), sending its own events in batches, a window of batches beyond central's acknowledgement, each publish waiting for its PUBACK; central in its own process, its log on disk (synchronous=FULL); %v warm-up, then %v measured. CPU in cores over the window.\n\n", cfg.warmup, cfg.duration)
		fmt.Fprintln(w, "| events/batch × window | events/s stored (central's counter) | events/s acknowledged (nodes) | up messages/s | central CPU | Mosquitto CPU | load generator CPU | central CPU per event | resends | refused |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range res.ingest {
			sec := r.window.Seconds()
			note := ""
			if r.finishedEarly > 0 {
				note = fmt.Sprintf(" (%d nodes ran out of events in the window: too low)", r.finishedEarly)
			}
			fmt.Fprintf(w, "| %d × %d | **%s**%s | %s | %s | %.2f | %.2f | %.2f | %.1f µs | %d | %d |\n", r.c.batch, r.c.window,
				bench.Thousands(float64(r.stored)/sec), note, bench.Thousands(float64(r.acked)/sec), bench.Thousands(float64(r.msgs)/sec),
				r.centralCPU.Seconds()/sec, r.brokerCPU.Seconds()/sec, r.genCPU.Seconds()/sec,
				float64(r.centralCPU)/1e3/math.Max(float64(r.stored), 1), r.stalled, r.refused)
		}
		fmt.Fprintln(w)
		// The goal is for batches; one event per message is the
		// worst case, shown beside it.
		for i, r := range res.ingest {
			rate := float64(r.stored) / r.window.Seconds()
			if i == 0 {
				fmt.Fprintf(w, "Goal: ≥ 5,000 events/s stored, %d events/batch: %s (%s).\n", r.c.batch, yes(rate >= 5000 && r.finishedEarly == 0), bench.Thousands(rate))
			} else {
				fmt.Fprintf(w, "At %d × %d: %s events/s stored (%s 5,000).\n", r.c.batch, r.c.window, bench.Thousands(rate), map[bool]string{true: "above", false: "below"}[rate >= 5000])
			}
		}
		fmt.Fprintln(w)
	}
}

// printDrain prints the drain's tables: the times of each round, then the
// node's throughput against each raw reference.
func printDrain(w io.Writer, cfg config, res results) {
	fmt.Fprintf(w, "\n### Drain of a %s-event backlog\n\n", bench.Thousands(float64(res.events)))
	delay := ""
	if cfg.delay > 0 {
		delay = fmt.Sprintf(" The node and the raw publishers reach the broker through a proxy that delays each direction by %v.", cfg.delay)
	}
	fmt.Fprintf(w, "The link (%d/batch, %d batches in flight) to central in its own process; node side: until a subscriber beside central has the link's last batch. Raw: a paho publisher at QoS 1 to a plain subscriber in its own process, from connect until the subscriber has all: the link's %d messages (%s payload bytes, compressed), or every event's JSON alone (%s messages, %s bytes). %d rounds, alternating; Mosquitto's set_tcp_nodelay %v.%s\n\n",
		cfg.batch, linkInFlight(cfg), res.msgs, bench.Thousands(float64(res.msgBytes)), bench.Thousands(float64(res.evMsgs)), bench.Thousands(float64(res.evBytes)),
		len(res.drain), cfg.nodelay, delay)
	fmt.Fprintf(w, "| round | node, end to end | events/s | node side | raw batches, 1 in flight | raw batches, %d in flight | raw events, 1 in flight | raw events, %d in flight | central CPU | stored | resends |\n",
		cfg.inflight, cfg.evInflight)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	col := func(f func(drainRound) time.Duration) []float64 {
		var out []float64
		for _, r := range res.drain {
			if d := f(r); d > 0 {
				out = append(out, d.Seconds())
			}
		}
		return out
	}
	opt := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return ms(d)
	}
	for i, r := range res.drain {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", i+1, ms(r.node),
			bench.Thousands(float64(res.events)/r.node.Seconds()), opt(r.nodeSide), opt(r.raw), opt(r.rawWin), opt(r.rawEv), opt(r.rawEvWin),
			ms(r.centralCPU), bench.Thousands(float64(r.stored)), r.resends)
	}
	med := func(xs []float64) string {
		if len(xs) == 0 {
			return "–"
		}
		return ms(time.Duration(bench.Median(xs) * 1e9))
	}
	nodeT := col(func(r drainRound) time.Duration { return r.node })
	mNode := bench.Median(nodeT)
	fmt.Fprintf(w, "| median | **%s** | %s | %s | %s | %s | %s | %s | | | |\n\n",
		med(nodeT), bench.Thousands(float64(res.events)/mNode), med(col(func(r drainRound) time.Duration { return r.nodeSide })),
		med(col(func(r drainRound) time.Duration { return r.raw })), med(col(func(r drainRound) time.Duration { return r.rawWin })),
		med(col(func(r drainRound) time.Duration { return r.rawEv })), med(col(func(r drainRound) time.Duration { return r.rawEvWin })))

	// Throughput ratios, per round (the same events, so raw time over the
	// node's time), shown as the median and the range over rounds.
	ratio := func(raw, node func(drainRound) time.Duration) (xs []float64) {
		for _, r := range res.drain {
			if n := node(r); n > 0 && raw(r) > 0 {
				xs = append(xs, raw(r).Seconds()/n.Seconds())
			}
		}
		return xs
	}
	span := func(xs []float64) string {
		if len(xs) == 0 {
			return "–"
		}
		return fmt.Sprintf("**%.2f** (%.2f–%.2f)", bench.Median(xs), slices.Min(xs), slices.Max(xs))
	}
	end := func(r drainRound) time.Duration { return r.node }
	side := func(r drainRound) time.Duration { return r.nodeSide }
	refs := []struct {
		name string
		raw  func(drainRound) time.Duration
	}{
		{"the link's batches, 1 in flight (strict)", func(r drainRound) time.Duration { return r.raw }},
		{fmt.Sprintf("the link's batches, %d in flight", cfg.inflight), func(r drainRound) time.Duration { return r.rawWin }},
		{"every event alone, 1 in flight", func(r drainRound) time.Duration { return r.rawEv }},
		{fmt.Sprintf("every event alone, %d in flight", cfg.evInflight), func(r drainRound) time.Duration { return r.rawEvWin }},
	}
	if cfg.raw {
		fmt.Fprintln(w, "Node/raw throughput (raw time over the node's, per round; median and range):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| raw reference | node end to end / raw | ≥ 0.8× | node side / raw |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, ref := range refs {
			e := ratio(ref.raw, end)
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", ref.name, span(e), yes(len(e) > 0 && bench.Median(e) >= 0.8), span(ratio(ref.raw, side)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Goal: drain < 10 s: %s (%s).\n\n", yes(mNode < 10), ms(time.Duration(mNode*1e9)))
}

// ms formats a duration in milliseconds with one decimal: "12.3 ms".
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
}

// yes says whether a goal is met.
func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
