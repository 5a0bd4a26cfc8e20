// Command boardbench measures the staff's live board with many boards open:
// how long one change takes to reach every open board, and the node's
// memory with them open. `make bench` runs it; the figures go to
// docs/BENCHMARKS.md.
//
// It is a development tool, not part of the safepoint binary. What it does:
//
//  1. starts a node in a process of its own (boardbench started again with
//     -node-child), so that its memory (VmRSS) and CPU time are the node's
//     alone: an event log on disk with a busy point's state (reports,
//     check-ins, roster, journal, inventory), an admin account, and
//     the node's site (bench.NodeServer: web, portal, board on
//     web.NewServer) on 127.0.0.1 with plain-HTTP staff
//     routes (StaffTLS off), set up as cmd/safepoint sets up its own;
//  2. logs in once (POST /api/login) and reads the node's VmRSS with no
//     board open;
//  3. opens -clients websockets to /board/ws with that session's cookie
//     and the node's own Origin, as a browser on the board's page would,
//     16 handshakes at a time, and waits until every one has its
//     snapshot; reads VmRSS again;
//  4. asks the node, -changes times and -spacing apart, to append one
//     event (a resident's report by default, -kind service for a small
//     change); each board notes when the delta carrying it arrives. A
//     change's time is taken in the node when Append has returned (the
//     event is on disk and folded in), from the wall clock both
//     processes share;
//  5. has the node collect its garbage and return free memory to the
//     system (runtime/debug.FreeOSMemory) with all boards open, and again
//     once they are all closed: the difference is what the boards hold;
//  6. prints a Markdown table: per change the time until the last board
//     had it (p50, p99, max over the changes), the per-board latency
//     distribution, the node's VmRSS, and its CPU time per change.
//
// -v prints the node's memory statistics at each step. The hidden flags
// -cpuprofile FILE and -memprofile FILE write a CPU profile of the node
// process and a heap profile of it with all boards open.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/web"
)

const account = "bench"

type config struct {
	clients    int
	changes    int
	spacing    time.Duration
	kind       string // report or service
	nodeChild  string // hidden: be the node process, with its data in this directory
	cpuprofile string // hidden: a CPU profile of the node process
	memprofile string // hidden: a heap profile of the node with all boards open
	verbose    bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("boardbench", flag.ExitOnError)
	fs.IntVar(&cfg.clients, "clients", 1000, "boards to open")
	fs.IntVar(&cfg.changes, "changes", 20, "changes to measure, one at a time")
	fs.DurationVar(&cfg.spacing, "spacing", 200*time.Millisecond, "time from one change to the next")
	fs.StringVar(&cfg.kind, "kind", "report", "the change: report (a resident's report: the reports and counts sections) or service (a service's note)")
	fs.BoolVar(&cfg.verbose, "v", false, "print the node's memory statistics at each step")
	fs.StringVar(&cfg.nodeChild, "node-child", "", "")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "")
	fs.StringVar(&cfg.memprofile, "memprofile", "", "")
	bench.Usage(fs, "Usage: boardbench [flags]\n\nOpens many live boards on a node and measures how fast a change reaches them all.")
	fs.Parse(os.Args[1:])
	if cfg.nodeChild != "" {
		if err := serveNode(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "boardbench: node:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.clients < 1 || cfg.changes < 1 || cfg.spacing <= 0 || (cfg.kind != "report" && cfg.kind != "service") {
		fmt.Fprintln(os.Stderr, "boardbench: -clients and -changes must be positive, -kind report or service")
		os.Exit(2)
	}
	if err := bench.Run(func(ctx context.Context) error { return run(ctx, cfg) }); err != nil {
		fmt.Fprintln(os.Stderr, "boardbench:", err)
		os.Exit(1)
	}
}

// ---- The node process ----

// serveNode is the node: boardbench started again with -node-child. It
// prints its URL, then appends one event for every "change K" line on its
// standard input and answers "done K UNIXNANO" once Append has returned;
// it ends when its standard input closes.
func serveNode(cfg config) error {
	ctx := context.Background()
	raiseOpenFiles()
	l, err := eventlog.Open(ctx, filepath.Join(cfg.nodeChild, eventlog.FileName), eventlog.Options{Origin: "sp-boardbench"})
	if err != nil {
		return err
	}
	defer l.Close()
	if err := appendState(ctx, l); err != nil {
		return err
	}
	staff, err := accounts.Open(ctx, l.File(), l.Clock().Wall)
	if err != nil {
		return err
	}
	defer staff.Close()
	if err := staff.Add(ctx, account, accounts.RoleAdmin, os.Getenv("BOARDBENCH_PASSWORD")); err != nil {
		return err
	}
	// In production the account is made by another process (safepoint
	// user add): its password hash's memory is not the node's.
	settle()
	logger := bench.NodeLogger()
	srv := bench.NodeServer(l, staff, logger)
	addr, err := bench.Serve(srv)
	if err != nil {
		return err
	}
	defer srv.Close()

	if cfg.memprofile != "" {
		runtime.MemProfileRate = 4096 // the boards' small allocations too
	}
	if cfg.cpuprofile != "" {
		stop, err := bench.StartCPUProfile(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Printf("http://%s\n", addr)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 1 && f[0] == "settle":
			settle()
			fmt.Println("ok")
		case len(f) == 1 && f[0] == "goroutines":
			fmt.Println(runtime.NumGoroutine())
		case len(f) == 1 && f[0] == "memstats":
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Printf("heap in use %d KiB (allocated %d KiB), stacks %d KiB, runtime %d KiB, %d goroutines, %d GCs\n",
				m.HeapInuse>>10, m.HeapAlloc>>10, m.StackInuse>>10, (m.MSpanSys+m.MCacheSys+m.BuckHashSys+m.GCSys+m.OtherSys)>>10,
				runtime.NumGoroutine(), m.NumGC)
		case len(f) == 1 && f[0] == "memprofile" && cfg.memprofile != "":
			if err := writeHeapProfile(cfg.memprofile); err != nil {
				return err
			}
			fmt.Println("ok")
		case len(f) == 2 && f[0] == "change":
			k, _ := strconv.Atoi(f[1])
			if _, err := l.Append(ctx, change(cfg.kind, k)); err != nil {
				return err
			}
			fmt.Printf("done %d %d\n", k, time.Now().UnixNano())
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return in.Err()
}

// settle collects the garbage and returns the free memory to the system,
// so that the resident set is what the node holds.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

func writeHeapProfile(file string) error {
	runtime.GC() // the profile is as of the last collection: make it now
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// marker is what change k writes, for the boards to find in a delta.
func marker(k int) string { return fmt.Sprintf("[boardbench %04d]", k) }

// change is the k-th measured event.
func change(kind string, k int) node.Draft {
	if kind == "service" {
		return node.Draft{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "charging",
			Status: node.ServiceLimited, Note: "Högst 30 minuter per telefon " + marker(k), By: account}}
	}
	return node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(8),
		Category: "welfare-check", Urgency: "high", Place: "Ekvägen 3",
		Text: "Granne har inte synts sedan i går, bor ensam och har hemtjänst. " + marker(k)}}
}

var reportTexts = []string{
	"Träd över vägen mellan skolan och macken, går inte att köra förbi.",
	"Äldre par utan värme sedan i morse, elementen är kalla och de har ingen kamin.",
	"Vattnet är brunt och luktar konstigt i hela huset.",
	"Behöver ladda syrgasapparat, batteriet räcker till i kväll.",
	"Ledningar nere över gång- och cykelvägen vid ån.",
	"Slut på blöjor och välling, har en bebis på fyra månader.",
	"Grannen har inte svarat i telefon sedan i går kväll.",
	"Källaren har börjat ta in vatten, pumpen går inte utan ström.",
}

// appendState writes a busy point's picture: what a board shows some hours
// into a long power cut.
func appendState(ctx context.Context, l *eventlog.Log) error {
	point := bench.PointState(l.Origin())
	drafts := slices.Clone(point)
	for i, person := range []string{"Anna Berg", "Johan Lind", "Sara Nyström", "Erik Holm", "Lena Ek", "Ali Hassan", "Maria Sund", "Per Åberg"} {
		drafts = append(drafts, node.Draft{Type: node.TypeRosterChanged, Payload: node.RosterChanged{Person: person,
			Role: node.StaffRoles[i%len(node.StaffRoles)], OnDuty: i%3 != 2, By: account}})
	}
	for _, item := range []node.InventoryChanged{{Item: node.FuelItem, Quantity: 180, Unit: "l", Low: 60},
		{Item: "vatten", Quantity: 420, Unit: "l", Low: 100}, {Item: "filtar", Quantity: 35, Unit: "st", Low: 10},
		{Item: "konserver", Quantity: 12, Unit: "kartonger", Low: 5}} {
		item.By = account
		drafts = append(drafts, node.Draft{Type: node.TypeInventoryChanged, Payload: item})
	}
	for i := range 12 {
		drafts = append(drafts, node.Draft{Type: node.TypeJournalEntry, Payload: node.JournalEntry{ID: node.NewID(),
			Text: fmt.Sprintf("Lägesrapport %d: reservkraften går, %d personer i lokalen, inga akuta ärenden.", i+1, 20+3*i), By: account}})
	}
	var reports []string
	for i := range 40 {
		id := node.NewID()
		reports = append(reports, id)
		drafts = append(drafts, node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: id, Receipt: node.NewCode(8),
			Category: node.Categories[i%len(node.Categories)], Urgency: node.Urgencies[i%len(node.Urgencies)],
			Text: reportTexts[i%len(reportTexts)], Place: fmt.Sprintf("Storgatan %d", i+1)}})
	}
	for i, id := range reports[:25] {
		drafts = append(drafts, node.Draft{Type: node.TypeReportStatusChanged, Payload: node.ReportStatusChanged{ID: id,
			Status: node.ReportStatuses[1+i%3], By: account}})
		if i%2 == 0 {
			drafts = append(drafts, node.Draft{Type: node.TypeReportCommented, Payload: node.ReportCommented{ID: id,
				Text: "Ringt upp, åker dit med nästa runda.", By: account}})
		}
	}
	for i := range 120 {
		drafts = append(drafts, node.Draft{Type: node.TypeCheckInCreated, Payload: node.CheckInCreated{ID: node.NewID(),
			Receipt: node.NewCode(8), Household: node.NewCode(6), Size: 1 + i%5,
			Status: node.CheckInStatuses[min(i%7, 1)], Need: node.Needs[i%len(node.Needs)]}})
	}
	// Concurrent appends share transactions (group commit): a quick start.
	var wg sync.WaitGroup
	errs := make(chan error, len(drafts))
	sem := make(chan struct{}, 32)
	if err := bench.Append(ctx, l, point); err != nil { // the point first, in order
		return err
	}
	for _, d := range drafts[len(point):] {
		if d.Type == node.TypeReportStatusChanged || d.Type == node.TypeReportCommented {
			continue // after their reports
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := l.Append(ctx, d)
			errs <- err
		})
	}
	wg.Wait()
	for _, d := range drafts[len(point):] {
		if d.Type == node.TypeReportStatusChanged || d.Type == node.TypeReportCommented {
			if _, err := l.Append(ctx, d); err != nil {
				return err
			}
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ---- The load generator ----

// nodeProcess is the node running in its own process.
type nodeProcess struct {
	*bench.Child
	url string
}

func startNodeProcess(cfg config, dir, password string) (*nodeProcess, error) {
	args := []string{"-node-child", dir, "-clients", strconv.Itoa(cfg.clients), "-kind", cfg.kind}
	if cfg.cpuprofile != "" {
		args = append(args, "-cpuprofile", cfg.cpuprofile)
	}
	if cfg.memprofile != "" {
		args = append(args, "-memprofile", cfg.memprofile)
	}
	c, url, err := bench.StartChild(time.Minute, []string{"BOARDBENCH_PASSWORD=" + password}, args...)
	if err != nil {
		return nil, fmt.Errorf("node process: %w", err)
	}
	return &nodeProcess{Child: c, url: strings.TrimSpace(url)}, nil
}

// command sends one line to the node and returns its answer.
func (p *nodeProcess) command(line string) (string, error) {
	answer, err := p.Command(line, time.Minute)
	return strings.TrimSpace(answer), err
}

// settle has the node collect its garbage and return free memory to the
// system, and waits for it.
func (p *nodeProcess) settle(verbose bool, when string) error {
	if _, err := p.command("settle"); err != nil {
		return err
	}
	if verbose {
		st, err := p.command("memstats")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "boardbench: settled, %s: %s\n", when, st)
	}
	return nil
}

// stop closes the node's standard input, which ends it, and waits; a node
// that does not end in time is killed.
func (p *nodeProcess) stop() { p.Stop(10 * time.Second) }

// board is one open board in the load generator.
type board struct {
	conn     *websocket.Conn
	snapshot int     // bytes
	delta    int     // bytes of the first measured delta
	arrived  []int64 // per change: wall-clock UnixNano its delta arrived, 0 if not
	err      error   // what ended the reader early
}

// tally counts, per change, the boards that have it; done[k] closes when
// all have.
type tally struct {
	want  int64
	count []atomic.Int64
	done  []chan struct{}
}

func (b *board) read(markers [][]byte, t *tally, ended *atomic.Int64) {
	buf := make([]byte, 0, 16<<10) // grows to the largest message
	next := 0
	for {
		_, r, err := b.conn.NextReader()
		if err != nil {
			if next < len(markers) {
				b.err = err
				ended.Add(1)
			}
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, cap(buf))
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.err = err
				ended.Add(1)
				return
			}
		}
		now := time.Now().UnixNano()
		for next < len(markers) && bytes.Contains(buf, markers[next]) {
			b.arrived[next] = now
			if next == 0 {
				b.delta = len(buf)
			}
			if t.count[next].Add(1) == t.want {
				close(t.done[next])
			}
			next++
		}
	}
}

func run(ctx context.Context, cfg config) error {
	raiseOpenFiles()
	tmp, err := os.MkdirTemp("", "boardbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pw := make([]byte, 12)
	rand.Read(pw)
	password := hex.EncodeToString(pw)

	child, err := startNodeProcess(cfg, filepath.Join(tmp, "node"), password)
	if err != nil {
		return err
	}
	defer child.stop()
	pid := child.Pid()

	// Log in once, as a board's browser does; every board uses the cookie.
	cookie, err := login(child.url, password)
	if err != nil {
		return err
	}
	// The node's memory with no board open, as the login left it: its
	// argon2id hash took 19 MiB, which the runtime returns to the system
	// only a while after its next collection. The boards open on that, as
	// they would in production.
	time.Sleep(time.Second)
	rss0, err := bench.ProcStatus(pid, "VmRSS:")
	if err != nil {
		return err
	}
	// The peak from here on is the boards' (Linux: 5 resets VmHWM).
	os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	fmt.Fprintf(os.Stderr, "boardbench: node %s (pid %d), VmRSS %.1f MiB after the login; opening %d boards\n",
		child.url, pid, mib(rss0), cfg.clients)

	markers := make([][]byte, cfg.changes)
	for k := range markers {
		markers[k] = []byte(marker(k))
	}
	t := &tally{want: int64(cfg.clients), count: make([]atomic.Int64, cfg.changes), done: make([]chan struct{}, cfg.changes)}
	for k := range t.done {
		t.done[k] = make(chan struct{})
	}
	var ended atomic.Int64

	// Open the boards, 16 handshakes at a time; each reads its snapshot.
	wsURL := "ws" + strings.TrimPrefix(child.url, "http") + "/board/ws"
	hdr := http.Header{"Origin": {child.url}, "Cookie": {cookie}}
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 256}
	boards := make([]*board, cfg.clients)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var openErr atomic.Value
	for i := range boards {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, resp, err := dialer.DialContext(ctx, wsURL, hdr)
			if err != nil {
				if resp != nil {
					err = fmt.Errorf("%v (%s)", err, resp.Status)
				}
				openErr.CompareAndSwap(nil, err)
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, msg, err := c.ReadMessage()
			if err == nil && !bytes.HasPrefix(msg, []byte(`{"type":"snapshot"`)) {
				err = fmt.Errorf("first message %.40s…, want a snapshot", msg)
			}
			if err != nil {
				c.Close()
				openErr.CompareAndSwap(nil, err)
				return
			}
			c.SetReadDeadline(time.Time{})
			boards[i] = &board{conn: c, snapshot: len(msg), arrived: make([]int64, cfg.changes)}
		})
	}
	wg.Wait()
	defer func() {
		for _, b := range boards {
			if b != nil {
				b.conn.Close()
			}
		}
	}()
	if err, _ := openErr.Load().(error); err != nil {
		return fmt.Errorf("opening the boards: %w", err)
	}
	opened := time.Since(start)
	for _, b := range boards {
		go b.read(markers, t, &ended)
	}
	time.Sleep(2 * time.Second) // the connection storm's garbage settles as it would
	rssN, err := bench.ProcStatus(pid, "VmRSS:")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "boardbench: %d boards open in %v, snapshot %d bytes; node VmRSS %.1f MiB\n",
		cfg.clients, opened.Round(time.Millisecond), boards[0].snapshot, mib(rssN))
	if cfg.memprofile != "" {
		if _, err := child.command("memprofile"); err != nil {
			return err
		}
	}
	if cfg.verbose {
		st, _ := child.command("memstats")
		fmt.Fprintf(os.Stderr, "boardbench: %d boards open: %s\n", cfg.clients, st)
	}
	// The changes, one at a time.
	changed := make([]int64, cfg.changes)
	nodeCPU0, _ := bench.CPUTime(pid)
	genCPU0, _ := bench.CPUTime(os.Getpid())
	phase := time.Now()
	for k := range cfg.changes {
		sent := time.Now()
		answer, err := child.command("change " + strconv.Itoa(k))
		if err != nil {
			return fmt.Errorf("change %d: %w", k, err)
		}
		f := strings.Fields(answer)
		if len(f) != 3 || f[0] != "done" || f[1] != strconv.Itoa(k) {
			return fmt.Errorf("change %d: the node answered %q", k, answer)
		}
		changed[k], _ = strconv.ParseInt(f[2], 10, 64)
		select {
		case <-t.done[k]:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(os.Stderr, "boardbench: change %d: %d of %d boards had it after 10 s\n", k, t.count[k].Load(), cfg.clients)
		case <-ctx.Done():
			return ctx.Err()
		}
		time.Sleep(time.Until(sent.Add(cfg.spacing)))
	}
	window := time.Since(phase)
	nodeCPU1, _ := bench.CPUTime(pid)
	genCPU1, _ := bench.CPUTime(os.Getpid())
	rssAfter, err := bench.ProcStatus(pid, "VmRSS:")
	if err != nil {
		return err
	}
	hwm, _ := bench.ProcStatus(pid, "VmHWM:")
	endedEarly := int(ended.Load()) // before the boards are closed below
	if err := child.settle(cfg.verbose, fmt.Sprintf("%d boards open", cfg.clients)); err != nil {
		return err
	}
	rssSettled, err := bench.ProcStatus(pid, "VmRSS:")
	if err != nil {
		return err
	}
	// What the boards hold: close them, and settle the node again.
	for _, b := range boards {
		b.conn.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, err := child.command("goroutines"); err != nil {
			return err
		} else if g, _ := strconv.Atoi(n); g < 20 {
			break
		}
	}
	if err := child.settle(cfg.verbose, "all boards closed"); err != nil {
		return err
	}
	rssClosed, err := bench.ProcStatus(pid, "VmRSS:")
	if err != nil {
		return err
	}

	// The figures.
	var all []time.Duration
	slowest := make([]time.Duration, cfg.changes)
	missing := 0
	for k := range cfg.changes {
		for _, b := range boards {
			if b.arrived[k] == 0 {
				missing++
				continue
			}
			d := time.Duration(b.arrived[k] - changed[k])
			all = append(all, d)
			slowest[k] = max(slowest[k], d)
		}
		fmt.Fprintf(os.Stderr, "boardbench: change %2d: all %d boards in %v\n", k, t.count[k].Load(), slowest[k].Round(10*time.Microsecond))
	}
	slices.Sort(all)
	bySlowest := slices.Sorted(slices.Values(slowest))
	res := result{cfg: cfg, opened: opened, snapshot: boards[0].snapshot, delta: boards[0].delta,
		rss0: rss0, rssN: rssN, rssAfter: rssAfter, rssSettled: rssSettled, rssClosed: rssClosed, hwm: hwm, missing: missing, ended: endedEarly,
		allP50: bench.Percentile(bySlowest, 50), allP99: bench.Percentile(bySlowest, 99), allMax: bySlowest[len(bySlowest)-1],
		p50: bench.Percentile(all, 50), p90: bench.Percentile(all, 90), p99: bench.Percentile(all, 99), p999: bench.Percentile(all, 99.9), maxLat: bench.Percentile(all, 100),
		deliveries: len(all), window: window}
	res.nodeCPU = (nodeCPU1 - nodeCPU0) / time.Duration(cfg.changes)
	res.genCores = (genCPU1 - genCPU0).Seconds() / window.Seconds()
	res.print(os.Stdout)
	if missing > 0 || res.ended > 0 {
		return fmt.Errorf("%d deliveries missing, %d boards ended early", missing, res.ended)
	}
	return nil
}

type result struct {
	cfg                         config
	opened                      time.Duration
	snapshot, delta             int
	rss0, rssN, rssAfter, hwm   int64
	rssSettled, rssClosed       int64
	missing, ended              int
	allP50, allP99, allMax      time.Duration
	p50, p90, p99, p999, maxLat time.Duration
	deliveries                  int
	window, nodeCPU             time.Duration
	genCores                    float64
}

func (r result) print(w io.Writer) {
	what := "a resident's report (the reports and counts sections)"
	if r.cfg.kind == "service" {
		what = "a service's note (the services section)"
	}
	fmt.Fprintf(w, "\n%s boards on /board/ws, %d changes %v apart, each %s; %s, GOMAXPROCS %d on %d CPUs, node in its own process.\n\n",
		bench.Thousands(float64(r.cfg.clients)), r.cfg.changes, r.cfg.spacing, what, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintln(w, "| figure | measured | goal |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| a change reaches all %s boards (slowest board per change): p50 / p99 / max | %s / **%s** / %s | p99 < 100 ms |\n",
		bench.Thousands(float64(r.cfg.clients)), bench.Ms(r.allP50), bench.Ms(r.allP99), bench.Ms(r.allMax))
	fmt.Fprintf(w, "| per board (%s deliveries): p50 / p90 / p99 / p99.9 / max | %s / %s / %s / %s / %s | |\n",
		bench.Thousands(float64(r.deliveries)), bench.Ms(r.p50), bench.Ms(r.p90), bench.Ms(r.p99), bench.Ms(r.p999), bench.Ms(r.maxLat))
	fmt.Fprintf(w, "| node VmRSS, no board open (after the login) | %.1f MiB | |\n", mib(r.rss0))
	fmt.Fprintf(w, "| node VmRSS, %s boards open: 2 s after they opened / after the changes / peak (VmHWM) | %.1f MiB / **%.1f MiB** / %.1f MiB | ≤ 60 MB |\n",
		bench.Thousands(float64(r.cfg.clients)), mib(r.rssN), mib(r.rssAfter), mib(r.hwm))
	fmt.Fprintf(w, "| node VmRSS settled (garbage collected and returned): %s boards open / all closed again; per board | %.1f MiB / %.1f MiB; %.1f KiB | |\n",
		bench.Thousands(float64(r.cfg.clients)), mib(r.rssSettled), mib(r.rssClosed), float64(r.rssSettled-r.rssClosed)/1024/float64(r.cfg.clients))
	fmt.Fprintf(w, "| node CPU per change (all boards) | %s | |\n", bench.Ms(r.nodeCPU))
	fmt.Fprintf(w, "| message sizes: snapshot / delta | %s / %s bytes | |\n", bench.Thousands(float64(r.snapshot)), bench.Thousands(float64(r.delta)))
	fmt.Fprintf(w, "| %s boards opened (16 handshakes at a time) | %s | |\n", bench.Thousands(float64(r.cfg.clients)), bench.Ms(r.opened))
	fmt.Fprintf(w, "| boards dropped / deliveries missing | %d / %d | 0 / 0 |\n", r.ended, r.missing)
	fmt.Fprintf(w, "| load generator CPU while changing | %.2f cores | |\n\n", r.genCores)
}

// login posts the account's name and password and returns the session
// cookie as a Cookie header value.
func login(base, password string) (string, error) {
	body, _ := json.Marshal(web.LoginRequest{Name: account, Password: password})
	resp, err := http.Post(base+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		return c.Name + "=" + c.Value, nil
	}
	return "", errors.New("login: no cookie")
}

// raiseOpenFiles lifts the limit on open files: every board is a socket
// on each side.
func raiseOpenFiles() {
	if err := bench.RaiseOpenFiles(); err != nil {
		fmt.Fprintln(os.Stderr, "boardbench: raising the open-file limit:", err)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
