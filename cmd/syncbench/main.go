// Command syncbench measures sync between node and central over a real
// Mosquitto and compares it, in the same run and against the same broker,
// with plain MQTT. `make bench` runs it; the figures go to
// docs/BENCHMARKS.md.
//
// It is a development tool, not part of the safepoint binary. It starts
// Mosquitto (/usr/sbin/mosquitto) on a free loopback port with its own
// configuration, builds a node's log of realistic report.created events
// in a temporary directory, and measures:
//
//  1. drain: a node (eventlog.Log and link.Link in this process) with a
//     backlog of -events events and central (central.Receiver with its own
//     log on disk, in a process of its own: syncbench started again) that
//     has none of them. The time from the link's start until the node holds
//     central's acknowledgement of the last event, and the node's side
//     alone: until a watching subscriber has the link's last batch (the
//     broker has it and PUBACKs it). Against plain paho QoS 1 publishers
//     and a plain subscriber in a process of its own, in the same run and
//     against the same broker, two references: the link's own messages
//     (captured in a warm-up pass), pre-made compressed bytes; and every
//     event's JSON, uncompressed, as its own message, as a publisher
//     without Safepoint would send the same reports. Each one at a time,
//     waiting for each PUBACK as the link does, and windowed (-inflight,
//     -event-inflight messages in flight). Rounds alternate node, the two
//     batch references, the two per-event references;
//  2. bytes: the same drain through a counting TCP proxy between the link
//     and Mosquitto, at several batch sizes: the bytes each way per event,
//     split by MQTT packet (batch payload, PUBLISH framing, the rest);
//  3. ingest: -nodes MQTT clients, each its own connection, client id and
//     node id (municipality 2161 or 0180), each sending its own events in
//     batches to its up topic with a small window of batches beyond
//     central's acknowledgement; central's stored events per second over a
//     steady window, from its counters, and the CPU of central, Mosquitto
//     and the load generator.
//
// Knobs for finding where the time goes: -nodelay=false turns Mosquitto's
// set_tcp_nodelay off (Mosquitto's own default: Nagle's algorithm; the
// production configuration in deploy/mosquitto sets it on, and so does
// this tool by default), -link-inflight the link's InFlight, -delay a
// one-way delay in front of the broker for the node and the raw
// publishers (a slow link), -central-maxbatch central's MaxBatch; the
// hidden -cpuprofile FILE writes a CPU profile of central's process in the
// first ingest load.
//
// Without Mosquitto it prints "SKIP: mosquitto not installed" and exits 0,
// or fails when REQUIRE_PEERS=1, like the tests that need peers.
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
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// mosquittoBin is where Debian's mosquitto package puts the broker.
const mosquittoBin = "/usr/sbin/mosquitto"

// The node of parts 1 and 2.
const (
	nodeID       = "byhuset-as"
	municipality = "2161" // Ljusdal
)

// config is what the flags set.
type config struct {
	rounds       int
	events       int
	batch        int
	inflight     int
	evInflight   int // the windowed raw per-event publisher's window
	linkInFlight int // the link's InFlight; 0: its default
	delay        time.Duration
	raw          bool // run the raw references in the drain
	byteBatches  []int
	nodes        int
	ingest       []ingestCase
	warmup       time.Duration
	duration     time.Duration
	parts        map[string]bool
	nodelay      bool
	cpuprofile   string // hidden: central's CPU profile (ingest)
	child        string // hidden: "central" or "sub", a child process
	broker       string // hidden: the child's broker
	dir          string // hidden: central's data directory
	topic        string // hidden: the subscriber's topic
	count        int    // hidden: how many messages the subscriber waits for
	childProfile string // hidden: where a central child writes its profile
	maxBatch     int    // central's MaxBatch; 0: its default
}

// ingestCase is one load of part 3: events per batch, batches in flight
// per node beyond central's acknowledgement, events per node.
type ingestCase struct{ batch, window, perNode int }

func (c ingestCase) String() string {
	return fmt.Sprintf("%d×%d/%d", c.batch, c.window, c.perNode)
}

func main() {
	var cfg config
	var byteBatches, ingest, parts string
	fs := flag.NewFlagSet("syncbench", flag.ExitOnError)
	fs.IntVar(&cfg.rounds, "rounds", 3, "drain rounds; each runs the node, then raw QoS 1 (the link's batches; every event alone), one at a time and windowed")
	fs.IntVar(&cfg.events, "events", 10000, "report events in the node's backlog")
	fs.IntVar(&cfg.batch, "batch", 200, "the link's batch size in the drain (its default)")
	fs.IntVar(&cfg.inflight, "inflight", linkDefaultInFlight, "messages in flight for the windowed raw publisher of the link's batches (the link's InFlight)")
	fs.IntVar(&cfg.evInflight, "event-inflight", 20, "messages in flight for the windowed raw publisher of single events")
	fs.IntVar(&cfg.linkInFlight, "link-inflight", 0, "the link's InFlight, batches beyond central's acknowledgement (0: the link's default, "+strconv.Itoa(linkDefaultInFlight)+")")
	fs.BoolVar(&cfg.raw, "raw", true, "run the raw references in the drain (-raw=false: the node only, e.g. with -delay, where one event at a time takes a round trip each)")
	fs.DurationVar(&cfg.delay, "delay", 0, "one-way delay added by a proxy in front of the broker, each direction, for the node's link and the raw publishers in the drain (a slow link)")
	fs.StringVar(&byteBatches, "byte-batches", "200,1,10,50", "batch sizes whose bytes per event are counted")
	fs.IntVar(&cfg.nodes, "nodes", 1000, "simulated node connections in the ingest test")
	fs.StringVar(&ingest, "ingest", "50x2/600,1x1/100", "ingest loads: `BATCHxWINDOW/EVENTS` per node, comma-separated")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured ingest time before the window")
	fs.DurationVar(&cfg.duration, "duration", 6*time.Second, "measured ingest window")
	fs.StringVar(&parts, "parts", "drain,bytes,ingest", "which parts to run")
	fs.BoolVar(&cfg.nodelay, "nodelay", true, "set_tcp_nodelay true in Mosquitto, as the production configuration (deploy/mosquitto) sets it; -nodelay=false for Mosquitto's default, Nagle's algorithm")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "")
	fs.StringVar(&cfg.child, "child", "", "")
	fs.StringVar(&cfg.broker, "broker", "", "")
	fs.StringVar(&cfg.dir, "dir", "", "")
	fs.StringVar(&cfg.topic, "topic", "", "")
	fs.IntVar(&cfg.count, "n", 0, "")
	fs.StringVar(&cfg.childProfile, "child-profile", "", "")
	fs.IntVar(&cfg.maxBatch, "central-maxbatch", 0, "central's MaxBatch, messages per transaction (0: its default, 64)")
	// Left out: the child processes' flags, and -cpuprofile.
	bench.Usage(fs, "Usage: syncbench [flags]\n\nMeasures node→central sync over Mosquitto against plain MQTT, side by side.")
	fs.Parse(os.Args[1:])

	switch cfg.child {
	case "":
	case "central":
		if err := childCentral(cfg.broker, cfg.dir, cfg.childProfile, cfg.maxBatch); err != nil {
			fmt.Fprintln(os.Stderr, "syncbench: central:", err)
			os.Exit(1)
		}
		return
	case "sub":
		if err := childSub(cfg.broker, cfg.topic, cfg.count); err != nil {
			fmt.Fprintln(os.Stderr, "syncbench: subscriber:", err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintln(os.Stderr, "syncbench: unknown -child", cfg.child)
		os.Exit(2)
	}

	var err error
	if cfg.byteBatches, err = ints(byteBatches); err == nil {
		cfg.ingest, err = ingestCases(ingest)
	}
	if err != nil || cfg.rounds < 1 || cfg.events < 1 || cfg.batch < 1 || cfg.inflight < 1 || cfg.evInflight < 1 || cfg.nodes < 1 || cfg.duration <= 0 || cfg.delay < 0 {
		fmt.Fprintln(os.Stderr, "syncbench: bad flags:", err)
		os.Exit(2)
	}
	cfg.parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		cfg.parts[strings.TrimSpace(p)] = true
	}

	if missing, code := bench.PeerMissing(os.Stdout, os.Getenv, "mosquitto", mosquittoBin); missing {
		os.Exit(code)
	}
	bench.RaiseOpenFiles() // a thousand connections here and as many in Mosquitto
	centralMaxBatch = cfg.maxBatch

	// Ctrl-C stops the run but still stops the children and removes the temp dir.
	if err := bench.Run(func(ctx context.Context) error { return run(ctx, cfg) }); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

// linkDefaultInFlight is link.Opts.InFlight's default.
const linkDefaultInFlight = 4

// linkInFlight is the link's InFlight in this run.
func linkInFlight(cfg config) int {
	if cfg.linkInFlight > 0 {
		return cfg.linkInFlight
	}
	return linkDefaultInFlight
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > wire.MaxEvents {
			return nil, fmt.Errorf("batch size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func ingestCases(s string) ([]ingestCase, error) {
	var out []ingestCase
	for _, f := range strings.Split(s, ",") {
		var c ingestCase
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d/%d", &c.batch, &c.window, &c.perNode); err != nil ||
			c.batch < 1 || c.batch > wire.MaxEvents || c.window < 1 || c.perNode < c.batch {
			return nil, fmt.Errorf("ingest load %q: want BATCHxWINDOW/EVENTS", f)
		}
		c.perNode -= c.perNode % c.batch // whole batches
		out = append(out, c)
	}
	return out, nil
}

// results is everything the tables show.
type results struct {
	events     int
	msgs       int // the link's messages in one drain
	msgBytes   int // their payload bytes
	evMsgs     int // the per-event reference's messages: one per event
	evBytes    int // their payload bytes, the events' JSON
	components []component
	drain      []drainRound
	bytes      []byteCount
	ingest     []ingestResult
	mosquitto  string
}

func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "syncbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	mq, err := startMosquitto(ctx, filepath.Join(tmp, "mosquitto"), cfg.nodelay)
	if err != nil {
		return err
	}
	defer mq.stop()
	res := results{events: cfg.events, mosquitto: mq.version}
	fmt.Fprintf(os.Stderr, "syncbench: %s on %s (set_tcp_nodelay %v); GOMAXPROCS %d on %d CPUs, %s\n",
		mq.version, mq.url, cfg.nodelay, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())

	src := filepath.Join(tmp, "src", eventlog.FileName)
	if cfg.parts["drain"] || cfg.parts["bytes"] {
		start := time.Now()
		if err := buildNodeLog(ctx, src, cfg.events); err != nil {
			return err
		}
		fi, _ := os.Stat(src)
		fmt.Fprintf(os.Stderr, "syncbench: node log of %d report events built in %v (%d bytes on disk)\n",
			cfg.events, time.Since(start).Round(time.Millisecond), fi.Size())
	}

	if cfg.parts["drain"] {
		if err := benchDrain(ctx, cfg, mq, src, filepath.Join(tmp, "drain"), &res); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
	}
	if cfg.parts["bytes"] {
		logs := map[int]string{cfg.events: src}
		for i, b := range cfg.byteBatches {
			// Small batches drain the first events only: through a
			// broker with Nagle's algorithm on, each window of batches
			// can wait for a delayed ACK (40 ms), and 10,000 one-event
			// batches would take minutes. Bytes per event hardly depend
			// on how many events.
			n := min(cfg.events, max(1000, 100*b))
			if logs[n] == "" {
				logs[n] = filepath.Join(tmp, "src"+strconv.Itoa(n), eventlog.FileName)
				if err := buildNodeLog(ctx, logs[n], n); err != nil {
					return err
				}
			}
			bc, err := countBytes(ctx, mq, logs[n], filepath.Join(tmp, "bytes"+strconv.Itoa(i)), n, b, cfg.linkInFlight)
			if err != nil {
				return fmt.Errorf("bytes at %d/batch: %w", b, err)
			}
			fmt.Fprintf(os.Stderr, "syncbench: bytes at %4d/batch: %6.1f B/event client→broker, %5.1f B/event broker→client, %d messages, %v\n",
				b, bc.perEvent(bc.up.total), bc.perEvent(bc.down.total), bc.up.pubUp.count, ms(bc.took))
			res.bytes = append(res.bytes, bc)
		}
	}
	if cfg.parts["ingest"] {
		for i, c := range cfg.ingest {
			r, err := benchIngest(ctx, cfg, mq, filepath.Join(tmp, "ingest"+strconv.Itoa(i)), i, c)
			if err != nil {
				return fmt.Errorf("ingest %v: %w", c, err)
			}
			res.ingest = append(res.ingest, r)
		}
	}
	printTables(os.Stdout, cfg, res)
	return nil
}
