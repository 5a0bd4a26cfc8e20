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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/sync/link"
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
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: syncbench [flags]\n\nMeasures node→central sync over Mosquitto against plain MQTT, side by side.")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" {
				return // the child processes' flags, and -cpuprofile
			}
			kind, usage := flag.UnquoteUsage(f)
			if f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				usage += " (default " + f.DefValue + ")"
			}
			fmt.Fprintf(fs.Output(), "  -%s %s\n\t%s\n", f.Name, kind, usage)
		})
	}
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

	if fi, err := os.Stat(mosquittoBin); err != nil || fi.Mode()&0o111 == 0 {
		if os.Getenv("REQUIRE_PEERS") == "1" {
			fmt.Println("FAIL: mosquitto not installed (" + mosquittoBin + " missing) and REQUIRE_PEERS=1")
			os.Exit(1)
		}
		fmt.Println("SKIP: mosquitto not installed")
		return
	}
	raiseNoFile()
	centralMaxBatch = cfg.maxBatch

	// Ctrl-C stops the run but still stops the children and removes the temp dir.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
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

// raiseNoFile sets the soft limit on open files to the hard one: the
// ingest test holds a thousand connections here and as many in Mosquitto,
// which inherits the limit. (Go raises its own soft limit at start, but
// gives children the original; setting it explicitly passes it on.)
func raiseNoFile() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
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

// --- Mosquitto ---

// broker is the running Mosquitto.
type broker struct {
	url, version string
	cmd          *exec.Cmd
	exited       chan struct{}
	log          *bytes.Buffer
}

// mosquittoConf: anonymous, nothing kept on disk, and no broker-side limit
// that would drop or hold back QoS 1 messages: a thousand nodes with a
// window of batches each can queue thousands for central's one
// subscription (the default max_queued_messages, 1000, would drop them),
// and max_inflight_messages 0 lets Mosquitto send central all of them
// without waiting for PUBACKs 20 at a time.
const mosquittoConf = `# written by syncbench
listener {{port}} 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
max_queued_messages 1000000
max_inflight_messages 0
set_tcp_nodelay {{nodelay}}
log_dest stderr
log_type error
log_type warning
`

func startMosquitto(ctx context.Context, dir string, nodelay bool) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{port}}", strconv.Itoa(port), "{{nodelay}}", strconv.FormatBool(nodelay)).Replace(mosquittoConf)
	file := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	version, _ := exec.Command(mosquittoBin, "-h").CombinedOutput() // "mosquitto version 2.0.11\n…"
	b := &broker{url: "tcp://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), log: &bytes.Buffer{},
		version: strings.TrimSpace(strings.SplitN(string(version), "\n", 2)[0])}
	b.cmd = exec.Command(mosquittoBin, "-c", file)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return b, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.stop()
			return nil, fmt.Errorf("mosquitto does not listen: %v\n%s", err, b.log)
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("mosquitto exited at start:\n%s", b.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (b *broker) pid() int { return b.cmd.Process.Pid }

func (b *broker) stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
}

// --- Realistic reports ---

// reportGen makes report.created payloads like the ones residents send
// through ui: a random id and receipt, a category, an urgency, a text of
// 40–80 characters put together from fragments, and a place two times in
// three.
type reportGen struct{ rng *rand.Rand }

var (
	reportTexts = map[string][]string{
		"road":          {"Träd över vägen", "Vägen är översvämmad", "Stolpe har fallit över cykelbanan", "Bro avstängd, bil fast", "Ledningar hänger lågt över vägen"},
		"power":         {"Ingen ström sedan i morse", "Elskåp gnistrar", "Generatorn har stannat", "Strömmen går och kommer", "Luftledning nere på gården"},
		"water":         {"Inget vatten i kranen", "Brunn översvämmad, vattnet luktar", "Källaren står under vatten", "Vattnet är brunt", "Pumpen går inte utan ström"},
		"heat":          {"Kallt i huset, 12 grader inne", "Pelletspannan har slocknat", "Ingen värme sedan i går", "Kaminen ryker in", "Äldre par fryser"},
		"medical":       {"Behöver insulin kylt", "Syrgasapparat utan ström", "Man med bröstsmärta", "Barn med hög feber", "Dialyspatient behöver skjuts"},
		"welfare-check": {"Har inte hört av grannen", "Äldre dam svarar inte i telefon", "Mamma bor ensam och har ingen ström", "Granne med rullator, ingen har sett henne", "Kan någon titta till min pappa"},
		"supplies":      {"Behöver vatten och mat", "Slut på blöjor och välling", "Behöver batterier till radion", "Ingen bensin till aggregatet", "Behöver ved"},
		"other":         {"Hund springer lös på vägen", "Inbrott i förrådet i natt", "Mobilnätet fungerar inte här", "Fråga om skolskjuts i morgon", "Tak har blåst av uthuset"},
	}
	textTails = []string{"sedan kl. %d", "vid nummer %d", "två personer behöver hjälp", "ingen är skadad", "hör av er snarast",
		"har väntat %d timmar", "vi är %d personer", "kan inte ta oss härifrån", "barnen är kalla", "batteriet i mobilen snart slut"}
	streets = []string{"Storgatan", "Byvägen", "Kyrkvägen", "Skolgatan", "Sjövägen", "Björkvägen", "Norra vägen", "Ås byväg", "Kvarnvägen", "Hamngatan"}
	extras  = []string{"", "", "", "B", " lgh 1102", ", gula huset", ", vid skolan", ", ovanför affären"}
)

func (g *reportGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *reportGen) tail() string {
	t := g.pick(textTails)
	if strings.Contains(t, "%d") {
		t = fmt.Sprintf(t, 1+g.rng.IntN(23))
	}
	return t
}

func (g *reportGen) next() node.ReportCreated {
	cat := g.pick(node.Categories)
	text := g.pick(reportTexts[cat])
	for len([]rune(text)) < 40 {
		text += ", " + g.tail()
	}
	if r := []rune(text); len(r) > 80 {
		text = strings.TrimRight(string(r[:80]), " ,")
	}
	if g.rng.IntN(3) > 0 && len([]rune(text)) < 62 {
		text += ", " + g.tail()
	}
	if r := []rune(text); len(r) > 80 {
		text = strings.TrimRight(string(r[:80]), " ,")
	}
	var place string
	if g.rng.IntN(3) > 0 {
		place = fmt.Sprintf("%s %d%s", g.pick(streets), 1+g.rng.IntN(60), g.pick(extras))
	}
	urgency := "normal"
	switch x := g.rng.IntN(20); {
	case x < 4:
		urgency = "low"
	case x < 8:
		urgency = "high"
	case x < 9:
		urgency = "life-threatening"
	}
	return node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen), Category: cat,
		Text: text, Place: place, Urgency: urgency}
}

// simWall is a wall clock that advances 0–3 s each time it is read: the
// backlog spans about half a day, as a real one would, rather than the
// second it takes to write it (timestamps that far apart compress less).
type simWall struct {
	mu  sync.Mutex
	t   time.Time
	rng *rand.Rand
}

func (s *simWall) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t = s.t.Add(time.Duration(s.rng.Int64N(int64(3 * time.Second))))
	return s.t
}

// buildNodeLog writes a node's log of n report events, appended by 16
// goroutines as staff and residents would (group commit), and closes it:
// one file, copied for every drain.
func buildNodeLog(ctx context.Context, file string, n int) error {
	wall := &simWall{t: time.Now().Add(-36 * time.Hour).UTC(), rng: rand.New(rand.NewPCG(1, 2))}
	l, err := eventlog.Open(ctx, file, eventlog.Options{Origin: nodeID, Clock: node.NewClock(wall.now)})
	if err != nil {
		return err
	}
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			g := &reportGen{rng: rand.New(rand.NewPCG(uint64(w), 7))}
			for next.Add(1) <= int64(n) {
				if _, err := l.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: g.next()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	err = <-errs
	return errors.Join(err, l.Close())
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

// --- Part 1: drain ---

// drainRound is one round: the node, then the raw references.
type drainRound struct {
	node time.Duration // from the link's start until it holds central's acknowledgement of the last event
	// nodeSide: from the link's start until a watching subscriber has the
	// link's last batch, the broker's PUBACK of it on its way to the node;
	// 0 when unknown (resends: the count no longer tells the last batch).
	nodeSide          time.Duration
	raw, rawWin       time.Duration // the link's batches, 1 and -inflight in flight
	rawEv, rawEvWin   time.Duration // every event alone, 1 and -event-inflight in flight
	centralCPU        time.Duration // central's process over the node's drain
	stored            int64         // events central stored in the drain (resends counted again)
	resends, sessions int64
}

// component is one step of the drain measured alone, in this process.
type component struct {
	what string
	took time.Duration
	n    int // how many times the step ran
}

func benchDrain(ctx context.Context, cfg config, mq *broker, src, dir string, res *results) error {
	topic := wire.Topic(municipality, nodeID, wire.KindUp)
	// With -delay, the node and the raw publishers reach the broker
	// through a proxy that delays each direction; central and the
	// subscribers sit beside the broker.
	pubURL := mq.url
	if cfg.delay > 0 {
		p, err := startProxy(strings.TrimPrefix(mq.url, "tcp://"), cfg.delay)
		if err != nil {
			return err
		}
		defer p.close()
		pubURL = "tcp://" + p.ln.Addr().String()
	}
	// The warm-up pass: a drain with a subscriber capturing the link's
	// messages, which the raw publisher then sends. Unmeasured.
	var captured [][]byte
	capt, err := startCapture(mq.url, topic)
	if err != nil {
		return err
	}
	w, err := drainNode(ctx, mq, pubURL, src, filepath.Join(dir, "warmup"), cfg.events, cfg.batch, cfg.linkInFlight, 0)
	captured = capt.stop()
	if err != nil {
		return err
	}
	// The same batches encoded again: the link's messages are these, byte
	// for byte, unless it had to resend.
	want, err := encodeBatches(ctx, src, cfg.batch)
	if err != nil {
		return err
	}
	same := len(want) == len(captured)
	for i := 0; same && i < len(want); i++ {
		same = bytes.Equal(want[i], captured[i])
	}
	if !same {
		fmt.Fprintf(os.Stderr, "syncbench: the warm-up drain sent %d messages (%d resends), not the %d batches: the raw publisher sends the batches\n",
			len(captured), w.resends, len(want))
	}
	msgs := want
	res.msgs = len(msgs)
	for _, m := range msgs {
		res.msgBytes += len(m)
	}
	fmt.Fprintf(os.Stderr, "syncbench: warm-up drain %v; the link sent %d messages, %d payload bytes (%.1f B/event)%s\n",
		ms(w.node), len(msgs), res.msgBytes, float64(res.msgBytes)/float64(cfg.events),
		map[bool]string{true: ", identical to wire.EncodeBatch of the log's batches", false: ""}[same])
	// The per-event reference: what a publisher without Safepoint would
	// send for the same reports, each event's JSON as the log holds it.
	evMsgs, err := eventMessages(ctx, src)
	if err != nil {
		return err
	}
	res.evMsgs = len(evMsgs)
	for _, m := range evMsgs {
		res.evBytes += len(m)
	}
	fmt.Fprintf(os.Stderr, "syncbench: the per-event reference sends %d messages, %d payload bytes (%.1f B/event)\n",
		len(evMsgs), res.evBytes, float64(res.evBytes)/float64(len(evMsgs)))

	if res.components, err = components(ctx, src, filepath.Join(dir, "components"), msgs, cfg.batch); err != nil {
		return err
	}

	for round := range cfg.rounds {
		r, err := drainNode(ctx, mq, pubURL, src, filepath.Join(dir, "round"+strconv.Itoa(round)), cfg.events, cfg.batch, cfg.linkInFlight, len(msgs))
		if err != nil {
			return err
		}
		if cfg.raw {
			for _, ref := range []struct {
				d      *time.Duration
				msgs   [][]byte
				window int
			}{{&r.raw, msgs, 1}, {&r.rawWin, msgs, cfg.inflight}, {&r.rawEv, evMsgs, 1}, {&r.rawEvWin, evMsgs, cfg.evInflight}} {
				if *ref.d, err = drainRaw(ctx, mq, pubURL, topic, ref.msgs, ref.window); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(os.Stderr, "syncbench: round %d  node %v (node side %v; %s events/s, central CPU %v, stored %d, resends %d)  raw batches %v, ×%d %v  raw events %v, ×%d %v\n",
			round+1, ms(r.node), ms(r.nodeSide), thousands(float64(cfg.events)/r.node.Seconds()), ms(r.centralCPU), r.stored, r.resends,
			ms(r.raw), cfg.inflight, ms(r.rawWin), ms(r.rawEv), cfg.evInflight, ms(r.rawEvWin))
		res.drain = append(res.drain, r)
	}
	return nil
}

// eventMessages is every event of the log as its own message: the event's
// JSON (node.Event, as the log holds it and a batch carries it),
// uncompressed.
func eventMessages(ctx context.Context, file string) ([][]byte, error) {
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	events, err := l.EventsAfter(ctx, 0, int(l.Head()))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(events))
	for i, e := range events {
		if out[i], err = json.Marshal(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// drainNode copies the node's log, starts a fresh central and runs the
// link until the node holds central's acknowledgement of all n events.
// With watch > 0, a plain subscriber in a process of its own (beside
// central, directly on the broker) waits for that many messages on the
// node's up topic: the time of the last is the node's side of the drain.
func drainNode(ctx context.Context, mq *broker, brokerURL, src, dir string, n, batch, inFlight, watch int) (drainRound, error) {
	var r drainRound
	file := filepath.Join(dir, "node", eventlog.FileName)
	if err := copyFile(src, file); err != nil {
		return r, err
	}
	c, err := startCentral(mq.url, filepath.Join(dir, "central"), "")
	if err != nil {
		return r, err
	}
	defer func() {
		c.stop()
		// No retained ack or birth may answer the next round's link.
		clearRetained(mq.url, wire.Topic(municipality, nodeID, wire.KindAck), wire.Topic(municipality, nodeID, wire.KindStatus))
	}()
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return r, err
	}
	defer l.Close()
	if l.Head() != uint64(n) {
		return r, fmt.Errorf("node log holds %d events, want %d", l.Head(), n)
	}
	var watcher *child
	if watch > 0 {
		if watcher, err = startSub(mq.url, wire.Topic(municipality, nodeID, wire.KindUp), watch); err != nil {
			return r, err
		}
		defer watcher.stop()
	}
	var h countingHandler
	// A short MinBackoff: a lost connection (none is expected) should show
	// as a resend or a second session, not as a second of waiting.
	lk, err := link.New(link.Opts{Broker: brokerURL, Municipality: municipality, Log: l, BatchSize: batch, InFlight: inFlight,
		MinBackoff: 50 * time.Millisecond, Logger: slog.New(&h)})
	if err != nil {
		return r, err
	}
	c0, _ := bench.CPUTime(c.pid())
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- lk.Run(lctx) }()
	for lk.Status().Acked < uint64(n) {
		if time.Since(start) > 5*time.Minute || ctx.Err() != nil {
			cancel()
			<-done
			return r, fmt.Errorf("the node has %d of %d events acknowledged after %v", lk.Status().Acked, n, time.Since(start))
		}
		time.Sleep(200 * time.Microsecond)
	}
	r.node = time.Since(start)
	c1, _ := bench.CPUTime(c.pid())
	cancel()
	<-done
	r.centralCPU = c1 - c0
	r.resends, r.sessions = h.resends.Load(), h.sessions.Load()
	st, err := c.stats()
	if err != nil {
		return r, err
	}
	r.stored = st.Accepted
	if watcher != nil {
		last, err := watcher.finished(10 * time.Second)
		if err != nil {
			return r, fmt.Errorf("watcher: %w", err)
		}
		if r.resends == 0 && r.sessions <= 1 {
			r.nodeSide = last.Sub(start)
		}
	}
	return r, nil
}

// drainRaw publishes msgs at QoS 1 to topic through pubURL, window at a
// time (1: each waits for its PUBACK before the next, as the link's
// publishes do), to a plain subscriber in a process of its own, and times
// from the publisher's connect until the subscriber has them all.
func drainRaw(ctx context.Context, mq *broker, pubURL, topic string, msgs [][]byte, window int) (time.Duration, error) {
	sub, err := startSub(mq.url, topic, len(msgs))
	if err != nil {
		return 0, err
	}
	defer sub.stop()
	start := time.Now()
	// The link's client options.
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(pubURL).SetClientID("raw-publisher").
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetWriteTimeout(10 * time.Second).SetOrderMatters(false))
	if err := wait(ctx, c.Connect()); err != nil {
		return 0, fmt.Errorf("raw publisher: %w", err)
	}
	defer c.Disconnect(250)
	var pending []mqtt.Token
	for _, m := range msgs {
		pending = append(pending, c.Publish(topic, 1, false, m))
		for len(pending) >= window {
			if err := wait(ctx, pending[0]); err != nil {
				return 0, fmt.Errorf("raw publish: %w", err)
			}
			pending = pending[1:]
		}
	}
	for _, t := range pending {
		if err := wait(ctx, t); err != nil {
			return 0, fmt.Errorf("raw publish: %w", err)
		}
	}
	if _, err := sub.finished(time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// encodeBatches encodes the log's events as the link does: batch at a
// time, with the log's head.
func encodeBatches(ctx context.Context, file string, batch int) ([][]byte, error) {
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var out [][]byte
	for after := uint64(0); ; {
		events, err := l.EventsAfter(ctx, after, batch)
		if err != nil || len(events) == 0 {
			return out, err
		}
		msg, err := wire.EncodeBatch(wire.Batch{Origin: l.Origin(), Municipality: municipality, Head: l.Head(), Events: events})
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
		after = events[len(events)-1].Seq
	}
}

// components times the drain's steps alone, in this process, without
// MQTT: where a drain's time can go.
func components(ctx context.Context, src, dir string, msgs [][]byte, batch int) ([]component, error) {
	file := filepath.Join(dir, "node", eventlog.FileName)
	if err := copyFile(src, file); err != nil {
		return nil, err
	}
	var out []component
	start := time.Now()
	if _, err := encodeBatches(ctx, file, batch); err != nil {
		return nil, err
	}
	// encodeBatches opens and folds the log too: take that off.
	open := time.Now()
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	openTook := time.Since(open)
	out = append(out, component{"node: read the log and encode (`EventsAfter`, `wire.EncodeBatch`)", max(open.Sub(start)-openTook, 0), len(msgs)})

	start = time.Now()
	for i := range msgs {
		if _, err := l.RecordPeerAck(ctx, "bench", uint64(i+1)); err != nil {
			l.Close()
			return nil, err
		}
	}
	out = append(out, component{"node: record the acknowledgement (`RecordPeerAck`, a transaction each, as the link does)", time.Since(start), len(msgs)})
	l.Close()

	start = time.Now()
	batches := make([]wire.Batch, len(msgs))
	for i, m := range msgs {
		if batches[i], err = wire.DecodeBatch(m); err != nil {
			return nil, err
		}
	}
	out = append(out, component{"central: decode (`wire.DecodeBatch`)", time.Since(start), len(msgs)})

	c, err := eventlog.Open(ctx, filepath.Join(dir, "central", eventlog.FileName), eventlog.Options{Origin: "central"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	start = time.Now()
	for _, b := range batches {
		if _, _, err := c.Ingest(ctx, b.Events); err != nil {
			return nil, err
		}
	}
	out = append(out, component{"central: store (`Ingest`, a transaction per batch)", time.Since(start), len(msgs)})
	return out, nil
}

// countingHandler counts the link's resends and sessions, and passes its
// warnings and errors on to stderr.
type countingHandler struct {
	resends, sessions atomic.Int64
}

var stderrLog = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "Sync: resending"):
		h.resends.Add(1)
	case r.Message == "Sync link up":
		h.sessions.Add(1)
	}
	if r.Level >= slog.LevelWarn {
		return stderrLog.Handle(ctx, r)
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// capture subscribes to a topic and keeps every message's payload.
type capture struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs [][]byte
}

func startCapture(brokerURL, topic string) (*capture, error) {
	cp := &capture{}
	cp.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("syncbench-capture").
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(true))
	if err := wait(context.Background(), cp.c.Connect()); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if err := wait(context.Background(), cp.c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		cp.mu.Lock()
		cp.msgs = append(cp.msgs, slices.Clone(m.Payload()))
		cp.mu.Unlock()
	})); err != nil {
		cp.c.Disconnect(0)
		return nil, fmt.Errorf("capture: %w", err)
	}
	return cp, nil
}

func (cp *capture) stop() [][]byte {
	time.Sleep(100 * time.Millisecond) // the last messages, if any are still on their way
	cp.c.Disconnect(250)
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.msgs
}

// clearRetained deletes retained messages (an empty retained message).
func clearRetained(brokerURL string, topics ...string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("syncbench-clear").SetCleanSession(true))
	if err := wait(context.Background(), c.Connect()); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench: clearing retained messages:", err)
		return
	}
	defer c.Disconnect(250)
	for _, t := range topics {
		if err := wait(context.Background(), c.Publish(t, 1, true, []byte{})); err != nil {
			fmt.Fprintln(os.Stderr, "syncbench: clearing retained messages:", err)
		}
	}
}

// --- Part 2: bytes on the wire ---

// byteCount is one drain through the counting proxy.
type byteCount struct {
	batch, events int
	up, down      *mqttCounter // client→broker, broker→client
	conns         int32
	took          time.Duration
	resends       int64
}

func (b byteCount) perEvent(n int64) float64 { return float64(n) / float64(b.events) }

func countBytes(ctx context.Context, mq *broker, src, dir string, n, batch, inFlight int) (byteCount, error) {
	p, err := startProxy(strings.TrimPrefix(mq.url, "tcp://"), 0)
	if err != nil {
		return byteCount{}, err
	}
	r, err := drainNode(ctx, mq, "tcp://"+p.ln.Addr().String(), src, dir, n, batch, inFlight, 0)
	p.close() // after the link's DISCONNECT: every byte is counted
	if err != nil {
		return byteCount{}, err
	}
	return byteCount{batch: batch, events: n, up: p.up, down: p.down, conns: p.conns.Load(), took: r.node, resends: r.resends}, nil
}

// proxy forwards TCP connections to target and counts what passes, by
// MQTT packet; or, with a delay, holds back what passes each way by that
// long and counts nothing.
type proxy struct {
	ln       net.Listener
	target   string
	up, down *mqttCounter
	delay    time.Duration
	conns    atomic.Int32
	wg       sync.WaitGroup
}

func startProxy(target string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, up: &mqttCounter{}, down: &mqttCounter{}, delay: delay}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				var both sync.WaitGroup
				if p.delay > 0 {
					both.Go(func() { delayPipe(s, c, p.delay) })
					both.Go(func() { delayPipe(c, s, p.delay) })
				} else {
					both.Go(func() { pipe(s, c, p.up) })
					both.Go(func() { pipe(c, s, p.down) })
				}
				both.Wait()
				c.Close()
				s.Close()
			}()
		}
	}()
	return p, nil
}

// pipe copies src to dst, counting, and passes the end of the stream on.
func pipe(dst, src net.Conn, cnt *mqttCounter) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			cnt.feed(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// delayPipe copies src to dst, each read written delay after it arrived
// (a link's latency, not its bandwidth), and passes the end of the stream
// on.
func delayPipe(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	line := make(chan chunk, 4096)
	go func() {
		defer close(line)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				line <- chunk{time.Now(), slices.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		time.Sleep(time.Until(c.at.Add(delay)))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	for range line { // let the reader finish
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// close stops accepting and waits for the connections to end.
func (p *proxy) close() {
	p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "syncbench: a proxied connection is still open; its counts may be short")
	}
}

// mqttCounter splits one direction of an MQTT 3.1.1 stream into packets
// and counts them: bytes and packets per type, PUBLISH packets by topic
// kind (up, status, ack) with their payload bytes apart.
type mqttCounter struct {
	mu      sync.Mutex
	pending []byte
	total   int64
	byType  [16]packets
	pubUp   packets // PUBLISH to an up topic: the batches
	pubAck  packets // central's acknowledgements
	pubOth  packets // births, status
}

// packets counts packets of one kind.
type packets struct {
	count, bytes, payload int64
}

func (c *mqttCounter) feed(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	c.pending = append(c.pending, p...)
	for {
		size, hdr, ok := packetSize(c.pending)
		if !ok || len(c.pending) < size {
			break
		}
		pkt := c.pending[:size]
		typ := pkt[0] >> 4
		c.byType[typ].count++
		c.byType[typ].bytes += int64(size)
		if typ == 3 && size >= hdr+2 { // PUBLISH
			vh := pkt[hdr:]
			tl := int(vh[0])<<8 | int(vh[1])
			framing := hdr + 2 + tl
			if (pkt[0]>>1)&3 > 0 {
				framing += 2 // packet identifier
			}
			kind := &c.pubOth
			if framing <= size {
				_, _, k, _ := wire.ParseTopic(string(vh[2 : 2+tl]))
				switch k {
				case wire.KindUp:
					kind = &c.pubUp
				case wire.KindAck:
					kind = &c.pubAck
				}
				kind.payload += int64(size - framing)
			}
			kind.count++
			kind.bytes += int64(size)
		}
		c.pending = c.pending[size:]
	}
	if len(c.pending) == 0 {
		c.pending = nil // let a large buffer go
	}
}

// packetSize reads an MQTT fixed header: the whole packet's size and the
// fixed header's; ok is false while the header is incomplete.
func packetSize(b []byte) (size, hdr int, ok bool) {
	mult, rl := 1, 0
	for i := 1; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		rl += int(b[i]&127) * mult
		if b[i]&128 == 0 {
			return 1 + i + rl, 1 + i, true
		}
		mult *= 128
	}
	return 0, 0, false // malformed: more than 4 length bytes; count no further
}

// --- Part 3: ingest from many nodes ---

// ingestResult is one load of part 3.
type ingestResult struct {
	c                      ingestCase
	nodes                  int
	window                 time.Duration
	stored, acked          int64 // events in the window: central's counter, the nodes' acknowledgements
	msgs                   int64 // up messages sent in the window
	centralCPU, brokerCPU  time.Duration
	genCPU                 time.Duration
	finishedEarly, stalled int // nodes with nothing left before the window ended; resends after 10 s without progress
	refused                int64
	connect                time.Duration
}

// loadNode is one simulated node: its own connection and events.
type loadNode struct {
	id, municipality string
	batches          [][]byte
	batch            int
	client           mqtt.Client
	acked            atomic.Uint64
	ackCh            chan struct{}
	resends          int
}

func benchIngest(ctx context.Context, cfg config, mq *broker, dir string, index int, c ingestCase) (ingestResult, error) {
	r := ingestResult{c: c, nodes: cfg.nodes, window: cfg.duration}
	// Every node's batches, encoded before the clock starts: the load
	// generator shares the machine with central and should cost it little.
	start := time.Now()
	nodes := make([]*loadNode, cfg.nodes)
	base := time.Now().Add(-12 * time.Hour).UTC()
	for i := range nodes {
		muni := []string{"2161", "0180"}[i%2]
		// Ids of their own in each load: the previous load's retained
		// acknowledgements must not answer this one's nodes.
		n := &loadNode{id: fmt.Sprintf("sp-%s-%d-%04d", muni, index+1, i), municipality: muni, batch: c.batch, ackCh: make(chan struct{}, 1)}
		g := &reportGen{rng: rand.New(rand.NewPCG(uint64(i), 11))}
		t := base.Add(time.Duration(i) * time.Second)
		events := make([]node.Event, 0, c.batch)
		for seq := 1; seq <= c.perNode; seq++ {
			t = t.Add(time.Duration(g.rng.Int64N(int64(10 * time.Second))))
			at := t.Truncate(time.Millisecond)
			p, _ := json.Marshal(g.next())
			events = append(events, node.Event{Origin: n.id, Seq: uint64(seq), HLC: node.MakeHLC(at.UnixMilli(), 0),
				Type: node.TypeReportCreated, OccurredAt: &at, Payload: p})
			if len(events) == c.batch {
				msg, err := wire.EncodeBatch(wire.Batch{Origin: n.id, Municipality: muni, Head: uint64(c.perNode), Events: events})
				if err != nil {
					return r, err
				}
				n.batches = append(n.batches, msg)
				events = events[:0]
			}
		}
		nodes[i] = n
	}
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %d nodes × %d events encoded in %v\n", c, cfg.nodes, c.perNode, time.Since(start).Round(time.Millisecond))

	var prof string
	if index == 0 {
		prof = cfg.cpuprofile
	}
	cen, err := startCentral(mq.url, filepath.Join(dir, "central"), prof)
	if err != nil {
		return r, err
	}
	defer cen.stop()

	// Connect every node, 32 at a time.
	start = time.Now()
	var totalAcked atomic.Int64
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := n.connect(mq.url, &totalAcked); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.client.Disconnect(0) })
		}
		wg.Wait()
	}()
	select {
	case err := <-errs:
		return r, err
	default:
	}
	r.connect = time.Since(start)
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %d connections up in %v\n", c, len(nodes), r.connect.Round(time.Millisecond))

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var msgs atomic.Int64
	for _, n := range nodes {
		wg.Go(func() { n.run(lctx, c.window, &msgs) })
	}
	sleep(ctx, cfg.warmup)
	pids := []int{cen.pid()}
	s0, err := cen.stats()
	if err != nil {
		cancel()
		wg.Wait()
		return r, err
	}
	a0, m0 := totalAcked.Load(), msgs.Load()
	c0, _ := bench.CPUTime(pids...)
	b0, _ := bench.CPUTime(mq.pid())
	g0, _ := bench.CPUTime(os.Getpid())
	w0 := time.Now()
	sleep(ctx, cfg.duration)
	s1, err := cen.stats()
	elapsed := time.Since(w0)
	a1, m1 := totalAcked.Load(), msgs.Load()
	c1, _ := bench.CPUTime(pids...)
	b1, _ := bench.CPUTime(mq.pid())
	g1, _ := bench.CPUTime(os.Getpid())
	for _, n := range nodes {
		if n.acked.Load() >= uint64(c.perNode) {
			r.finishedEarly++
		}
	}
	cancel()
	wg.Wait()
	if err != nil {
		return r, err
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	for _, n := range nodes {
		r.stalled += n.resends
	}
	// Per second of the window as it really was.
	scale := cfg.duration.Seconds() / elapsed.Seconds()
	r.stored = int64(float64(s1.Accepted-s0.Accepted) * scale)
	r.acked = int64(float64(a1-a0) * scale)
	r.msgs = int64(float64(m1-m0) * scale)
	r.centralCPU, r.brokerCPU, r.genCPU = c1-c0, b1-b0, g1-g0
	r.refused = s1.Refused
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %s events/s stored, %s acked, %s messages/s; CPU central %.2f, mosquitto %.2f, load generator %.2f cores; %d nodes done early, %d resends, %d refused\n",
		c, thousands(float64(r.stored)/cfg.duration.Seconds()), thousands(float64(r.acked)/cfg.duration.Seconds()),
		thousands(float64(r.msgs)/cfg.duration.Seconds()), r.centralCPU.Seconds()/elapsed.Seconds(),
		r.brokerCPU.Seconds()/elapsed.Seconds(), r.genCPU.Seconds()/elapsed.Seconds(), r.finishedEarly, r.stalled, r.refused)
	return r, nil
}

// connect opens the node's connection and subscribes to its acks.
func (n *loadNode) connect(brokerURL string, total *atomic.Int64) error {
	n.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(n.id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(30 * time.Second).
		SetKeepAlive(60 * time.Second).SetWriteTimeout(30 * time.Second).SetOrderMatters(false))
	if err := wait(context.Background(), n.client.Connect()); err != nil {
		return fmt.Errorf("node %s: connect: %w", n.id, err)
	}
	return wait(context.Background(), n.client.Subscribe(wire.Topic(n.municipality, n.id, wire.KindAck), 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := wire.DecodeAck(m.Payload())
		if err != nil || a.Origin != n.id {
			return
		}
		for {
			prev := n.acked.Load()
			if a.Acked <= prev {
				return
			}
			if n.acked.CompareAndSwap(prev, a.Acked) {
				total.Add(int64(a.Acked - prev))
				break
			}
		}
		select {
		case n.ackCh <- struct{}{}:
		default:
		}
	}))
}

// run sends the node's batches, window batches beyond central's
// acknowledgement, each waiting for its PUBACK as the link does; without
// progress for 10 s it sends again from the acknowledgement.
func (n *loadNode) run(ctx context.Context, window int, msgs *atomic.Int64) {
	topic := wire.Topic(n.municipality, n.id, wire.KindUp)
	next := 0
	for ctx.Err() == nil {
		acked := int(n.acked.Load()) / n.batch
		if acked == len(n.batches) {
			return
		}
		next = max(next, acked)
		for next < len(n.batches) && next-acked < window {
			if wait(ctx, n.client.Publish(topic, 1, false, n.batches[next])) != nil {
				return
			}
			msgs.Add(1)
			next++
		}
		select {
		case <-ctx.Done():
			return
		case <-n.ackCh:
		case <-time.After(10 * time.Second):
			n.resends++
			next = acked
		}
	}
}

// --- Child processes ---

// child is syncbench started again as central or as a subscriber: it says
// "ready" on standard output, answers lines on standard input, and ends
// when its standard input closes.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startChild(args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() { cmd.Wait(); close(c.done) }()
	line, err := c.next(30 * time.Second)
	if err != nil || line != "ready" {
		c.stop()
		return nil, fmt.Errorf("%s: not ready (%q, %v)", strings.Join(args[:2], " "), line, err)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// next waits for the child's next line.
func (c *child) next(d time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("child exited")
		}
		return l, nil
	case <-time.After(d):
		return "", errors.New("child did not answer in time")
	}
}

// finished waits for a subscriber's "done COUNT BYTES UNIXNANO" and returns
// when it had the last message.
func (c *child) finished(d time.Duration) (time.Time, error) {
	line, err := c.next(d)
	if err != nil {
		return time.Time{}, err
	}
	var count, size, at int64
	if _, err := fmt.Sscanf(line, "done %d %d %d", &count, &size, &at); err != nil {
		return time.Time{}, fmt.Errorf("subscriber said %q", line)
	}
	return time.Unix(0, at), nil
}

func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func startCentral(brokerURL, dir, profile string) (*child, error) {
	args := []string{"-child", "central", "-broker", brokerURL, "-dir", dir, "-central-maxbatch", strconv.Itoa(centralMaxBatch)}
	if profile != "" {
		args = append(args, "-child-profile", profile)
	}
	return startChild(args...)
}

func startSub(brokerURL, topic string, n int) (*child, error) {
	return startChild("-child", "sub", "-broker", brokerURL, "-topic", topic, "-n", strconv.Itoa(n))
}

// centralStats is what the central child reports.
type centralStats struct {
	Accepted, Refused int64
	Nodes             int
	Acked             uint64 // the sum of every node's watermark
}

func (c *child) stats() (centralStats, error) {
	var st centralStats
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		return st, err
	}
	line, err := c.next(30 * time.Second)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(line), &st)
}

// centralMaxBatch is -central-maxbatch, passed on to every central child.
var centralMaxBatch int

// probeID is the node the central child announces itself with.
const probeID = "syncbench-probe"

// childCentral is central as cmd/safepoint runs it (its log on disk, the
// receiver on the broker), without the HTTP side.
func childCentral(brokerURL, dir, profile string, maxBatch int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := eventlog.Open(ctx, filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "central"})
	if err != nil {
		return err
	}
	defer l.Close()
	directives, err := store.Open(ctx, l.File())
	if err != nil {
		return err
	}
	defer directives.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	recv, err := central.New(central.Opts{Broker: brokerURL, ClientID: "central", Log: l, Store: directives, Logger: logger,
		MaxBatch: maxBatch})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- recv.Run(ctx) }()
	if err := probe(ctx, brokerURL, recv); err != nil {
		return err
	}
	if profile != "" {
		stop, err := startProfile(profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "stats" {
			continue
		}
		st := centralStats{Accepted: recv.Counters.Accepted.Load(), Refused: recv.Counters.Refused.Load()}
		for _, n := range recv.Nodes() {
			if n.ID != probeID {
				st.Nodes++
				st.Acked += n.AckedSeq
			}
		}
		b, _ := json.Marshal(st)
		fmt.Println(string(b))
	}
	cancel()
	<-done
	return nil
}

// probe announces a node until central lists it: then central is
// subscribed.
func probe(ctx context.Context, brokerURL string, recv *central.Receiver) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(probeID).SetCleanSession(true))
	if err := wait(ctx, c.Connect()); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Disconnect(100)
	msg := wire.EncodeJSON(wire.Status{V: wire.Version, State: "online", Birth: 1})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if err := wait(ctx, c.Publish(wire.Topic(municipality, probeID, wire.KindStatus), 1, false, msg)); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
		for _, n := range recv.Nodes() {
			if n.ID == probeID {
				return nil
			}
		}
	}
	return errors.New("central did not subscribe within 20 s")
}

// childSub counts messages on topic, as plain as a subscriber gets (with
// central's client options), and says "done COUNT BYTES UNIXNANO" at n:
// the wall clock when the nth arrived, which the parent process shares.
func childSub(brokerURL, topic string, n int) error {
	var count, size, last atomic.Int64
	all := make(chan struct{})
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("raw-subscriber").
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true))
	if err := wait(context.Background(), c.Connect()); err != nil {
		return err
	}
	defer c.Disconnect(100)
	if err := wait(context.Background(), c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		size.Add(int64(len(m.Payload())))
		if count.Add(1) == int64(n) {
			last.Store(time.Now().UnixNano())
			close(all)
		}
	})); err != nil {
		return err
	}
	fmt.Println("ready")
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-all:
		fmt.Printf("done %d %d %d\n", count.Load(), size.Load(), last.Load())
		<-eof
	case <-eof:
	}
	return nil
}

// --- Helpers ---

// startProfile writes a CPU profile of this process to file until stop.
func startProfile(file string) (stop func(), err error) {
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

// wait waits for a paho token, bounded by ctx and a minute.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("timed out")
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// median of a few values (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
}

// thousands formats 31234.5 as "31,235".
func thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// --- Tables ---

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
				b.batch, thousands(float64(b.events)), up.pubUp.count, b.perEvent(up.total), b.perEvent(up.pubUp.payload), b.perEvent(framing), b.perEvent(rest),
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
		fmt.Fprintf(w, "### Central's ingest from %s node connections\n\n", thousands(float64(res.ingest[0].nodes)))
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
				thousands(float64(r.stored)/sec), note, thousands(float64(r.acked)/sec), thousands(float64(r.msgs)/sec),
				r.centralCPU.Seconds()/sec, r.brokerCPU.Seconds()/sec, r.genCPU.Seconds()/sec,
				float64(r.centralCPU)/1e3/math.Max(float64(r.stored), 1), r.stalled, r.refused)
		}
		fmt.Fprintln(w)
		// The goal is for batches; one event per message is the
		// worst case, shown beside it.
		for i, r := range res.ingest {
			rate := float64(r.stored) / r.window.Seconds()
			if i == 0 {
				fmt.Fprintf(w, "Goal: ≥ 5,000 events/s stored, %d events/batch: %s (%s).\n", r.c.batch, yes(rate >= 5000 && r.finishedEarly == 0), thousands(rate))
			} else {
				fmt.Fprintf(w, "At %d × %d: %s events/s stored (%s 5,000).\n", r.c.batch, r.c.window, thousands(rate), map[bool]string{true: "above", false: "below"}[rate >= 5000])
			}
		}
		fmt.Fprintln(w)
	}
}

// printDrain prints the drain's tables: the times of each round, then the
// node's throughput against each raw reference.
func printDrain(w io.Writer, cfg config, res results) {
	fmt.Fprintf(w, "\n### Drain of a %s-event backlog\n\n", thousands(float64(res.events)))
	delay := ""
	if cfg.delay > 0 {
		delay = fmt.Sprintf(" The node and the raw publishers reach the broker through a proxy that delays each direction by %v.", cfg.delay)
	}
	fmt.Fprintf(w, "The link (%d/batch, %d batches in flight) to central in its own process; node side: until a subscriber beside central has the link's last batch. Raw: a paho publisher at QoS 1 to a plain subscriber in its own process, from connect until the subscriber has all: the link's %d messages (%s payload bytes, compressed), or every event's JSON alone (%s messages, %s bytes). %d rounds, alternating; Mosquitto's set_tcp_nodelay %v.%s\n\n",
		cfg.batch, linkInFlight(cfg), res.msgs, thousands(float64(res.msgBytes)), thousands(float64(res.evMsgs)), thousands(float64(res.evBytes)),
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
			thousands(float64(res.events)/r.node.Seconds()), opt(r.nodeSide), opt(r.raw), opt(r.rawWin), opt(r.rawEv), opt(r.rawEvWin),
			ms(r.centralCPU), thousands(float64(r.stored)), r.resends)
	}
	med := func(xs []float64) string {
		if len(xs) == 0 {
			return "–"
		}
		return ms(time.Duration(median(xs) * 1e9))
	}
	nodeT := col(func(r drainRound) time.Duration { return r.node })
	mNode := median(nodeT)
	fmt.Fprintf(w, "| median | **%s** | %s | %s | %s | %s | %s | %s | | | |\n\n",
		med(nodeT), thousands(float64(res.events)/mNode), med(col(func(r drainRound) time.Duration { return r.nodeSide })),
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
		return fmt.Sprintf("**%.2f** (%.2f–%.2f)", median(xs), slices.Min(xs), slices.Max(xs))
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
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", ref.name, span(e), yes(len(e) > 0 && median(e) >= 0.8), span(ratio(ref.raw, side)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Goal: drain < 10 s: %s (%s).\n\n", yes(mNode < 10), ms(time.Duration(mNode*1e9)))
}
