// Command portalbench measures the residents' status page (GET /) under
// load and compares it, in the same run, with nginx serving the same bytes
// as a static file. `make bench` runs it; the figures go to
// docs/BENCHMARKS.md.
//
// It is a development tool, not part of the safepoint binary. What it does:
//
//  1. opens a node's event log in a temporary directory, appends a
//     realistic state (the point's identity, some services, two
//     announcements) and serves the node's site (bench.NodeServer: web,
//     portal, board on web.NewServer) on
//     127.0.0.1, set up as cmd/safepoint sets up its own. The node runs in
//     a process of its own (portalbench started again with -node-child),
//     as nginx does, so that the load generator's goroutines, garbage and
//     scheduling are not counted as the node's; -inprocess serves it from
//     the load generator's process instead;
//  2. fetches GET / once (Accept-Language: sv) and writes those exact bytes
//     as index.html for nginx, which it starts as a child process with its
//     own configuration on another free loopback port;
//  3. runs the same Go load generator against both, alternating node,
//     nginx, node, nginx… so that both see the same machine state, and
//     prints a Markdown table: requests/s, p50 and p99 latency and errors
//     per target (medians over the rounds), and the ratio node/nginx.
//
// Without nginx (/usr/sbin/nginx) it prints "SKIP: nginx not installed" and
// exits 0, or fails when REQUIRE_PEERS=1, like the tests that need peers.
//
// The hidden flag -cpuprofile FILE writes a CPU profile of the node: of its
// whole process (it idles while nginx is loaded), or with -inprocess of the
// first node round, load generator included. Read it with
// `go tool pprof -top FILE`.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// nginxBin is where Debian's nginx package puts the server.
const nginxBin = "/usr/sbin/nginx"

// config is what the flags set.
type config struct {
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	conns      int
	inprocess  bool   // the node in the load generator's process
	cpuprofile string // hidden: a CPU profile of the node
	nodeChild  string // hidden: be the node process, with its data in this directory
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("portalbench", flag.ExitOnError)
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds; each runs the node, then nginx")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time per target and round")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured time before each measurement")
	fs.IntVar(&cfg.conns, "conns", 256, "concurrent keep-alive connections")
	fs.BoolVar(&cfg.inprocess, "inprocess", false, "serve the node from the load generator's own process (default: a process of its own)")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "")
	fs.StringVar(&cfg.nodeChild, "node-child", "", "")
	// -cpuprofile is left out: it is for whoever tunes the hot path;
	// -node-child is how portalbench starts the node's process.
	bench.Usage(fs, "Usage: portalbench [flags]\n\nLoads the node's status page and nginx with the same bytes, side by side.")
	fs.Parse(os.Args[1:])
	if cfg.nodeChild != "" {
		if err := serveNode(cfg.nodeChild, cfg.cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "portalbench: node:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.rounds < 1 || cfg.conns < 1 || cfg.duration <= 0 || cfg.warmup < 0 {
		fmt.Fprintln(os.Stderr, "portalbench: -rounds, -conns and -duration must be positive")
		os.Exit(2)
	}

	if missing, code := bench.PeerMissing(os.Stdout, os.Getenv, "nginx", nginxBin); missing {
		os.Exit(code)
	}

	// Ctrl-C stops the run but still stops nginx and removes the temp dir.
	if err := bench.Run(func(ctx context.Context) error { return run(ctx, cfg) }); err != nil {
		fmt.Fprintln(os.Stderr, "portalbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "portalbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// --- The node: a real log on disk, a realistic state, a real server. ---
	var nodeURL string
	var nodePids []int // none in-process: its CPU time cannot be told from the load generator's
	if cfg.inprocess {
		url, stop, err := startNode(ctx, filepath.Join(tmp, "node"))
		if err != nil {
			return err
		}
		defer stop()
		nodeURL = url
	} else {
		child, err := startNodeProcess(filepath.Join(tmp, "node"), cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer child.Stop(10 * time.Second)
		nodeURL, nodePids = child.url, []int{child.Pid()}
	}

	// --- The bytes nginx will serve: the node's own answer. ---
	page, hdr, err := fetch(nodeURL)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}

	// --- nginx: its own configuration, port and directory. ---
	ngx, err := startNginx(ctx, filepath.Join(tmp, "nginx"), page)
	if err != nil {
		return err
	}
	defer ngx.stop()
	got, ngxHdr, err := fetch(ngx.url)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	if !bytes.Equal(got, page) || ngxHdr.Get("Content-Type") != hdr.Get("Content-Type") {
		return fmt.Errorf("nginx serves %d bytes as %q, the node %d bytes as %q",
			len(got), ngxHdr.Get("Content-Type"), len(page), hdr.Get("Content-Type"))
	}

	where := "its own process"
	if cfg.inprocess {
		where = "the load generator's process"
	}
	fmt.Fprintf(os.Stderr, "portalbench: status page %d bytes; node %s in %s, %s %s; %d conns, %d rounds × %v (+%v warm-up), GOMAXPROCS %d\n",
		len(page), nodeURL, where, ngx.version, ngx.url, cfg.conns, cfg.rounds, cfg.duration, cfg.warmup, runtime.GOMAXPROCS(0))

	// --- The rounds: node, nginx, node, nginx… ---
	targets := []string{"node", "nginx"}
	urls := []string{nodeURL, ngx.url}
	pids := [][]int{nodePids, append([]int{ngx.Pid()}, bench.Children(ngx.Pid())...)}
	res := make([][]result, len(targets)) // [target][round]
	for round := 0; round < cfg.rounds; round++ {
		for t := range targets {
			// In-process, the profile covers the first node round (and the
			// load generator, which shares the process); a node process
			// profiles itself from start to end instead.
			profile := cfg.inprocess && cfg.cpuprofile != "" && round == 0 && targets[t] == "node"
			r, err := measure(ctx, urls[t], len(page), cfg, pids[t], profile)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "portalbench: round %d %-5s %6.0f req/s  p50 %v  p99 %v  errors %d  connections %d (warm-up errors %d)  server CPU %s/request  load generator %.2f cores\n",
				round+1, targets[t], r.rps, bench.Ms(r.p50), bench.Ms(r.p99), r.errors, r.dials, r.warmupErrors, us(r.cpuPerReq), r.genCores)
			res[t] = append(res[t], r)
		}
	}
	printTable(os.Stdout, cfg, len(page), ngx.version, res)
	return nil
}

// startNode opens a node's log in dir, appends a realistic state and serves
// the node's routes on a free loopback port, set up as cmd/safepoint sets
// up its own servers. stop shuts it down.
func startNode(ctx context.Context, dir string) (url string, stop func(), err error) {
	l, err := eventlog.Open(ctx, filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "sp-bench"})
	if err != nil {
		return "", nil, err
	}
	if err := bench.Append(ctx, l, bench.PointState(l.Origin())); err != nil {
		l.Close()
		return "", nil, err
	}
	staff, err := accounts.Open(ctx, l.File(), l.Clock().Wall)
	if err != nil {
		l.Close()
		return "", nil, err
	}
	logger := bench.NodeLogger()
	srv := bench.NodeServer(l, staff, logger)
	addr, err := bench.Serve(srv)
	if err != nil {
		staff.Close()
		l.Close()
		return "", nil, err
	}
	return "http://" + addr.String() + "/", func() { srv.Close(); staff.Close(); l.Close() }, nil
}

// serveNode is the node process: portalbench started again with the hidden
// -node-child flag. It serves until its standard input closes (the parent
// is done, or gone), then writes its CPU profile if asked to.
func serveNode(dir, cpuprofile string) error {
	url, stop, err := startNode(context.Background(), dir)
	if err != nil {
		return err
	}
	defer stop()
	if cpuprofile != "" {
		// Idle while nginx is loaded, the node adds no samples then: the
		// profile is the node serving every node round.
		stop, err := bench.StartCPUProfile(cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Println(url) // the parent waits for this line
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// nodeProcess is the node running in its own process.
type nodeProcess struct {
	*bench.Child
	url string
}

// startNodeProcess starts portalbench again as the node, like nginx in its
// own process, so that the load generator's goroutines, garbage and
// scheduling are not the node's. It returns once the node has said where
// it listens.
func startNodeProcess(dir, cpuprofile string) (*nodeProcess, error) {
	args := []string{"-node-child", dir}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	c, url, err := bench.StartChild(time.Minute, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("node process: %w", err)
	}
	return &nodeProcess{Child: c, url: strings.TrimSpace(url)}, nil
}

// fetch gets a page once, as a Swedish phone would, and wants a 200.
func fetch(url string) ([]byte, http.Header, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Language", "sv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, resp.Header, err
}

// nginx is the running reference server.
type nginx struct {
	*bench.Peer
	url, version string
}

// nginxConf keeps nginx in its own directory and port: it never reads
// /etc/nginx and never touches a system-wide nginx on port 80. Keep-alive
// connections are not closed after keepalive_requests' default of 1000
// requests, since the node's server does not close them either.
const nginxConf = `daemon off;
master_process on;
worker_processes auto;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    client_body_temp_path {{dir}}/tmp/body;
    proxy_temp_path {{dir}}/tmp/proxy;
    fastcgi_temp_path {{dir}}/tmp/fastcgi;
    uwsgi_temp_path {{dir}}/tmp/uwsgi;
    scgi_temp_path {{dir}}/tmp/scgi;
    server {
        listen 127.0.0.1:{{port}};
        root {{dir}}/www;
        location = / {
            types { }
            default_type "text/html; charset=utf-8";
            try_files /index.html =404;
        }
    }
}
`

// startNginx writes page and a configuration into dir, starts nginx and
// waits until it answers.
func startNginx(ctx context.Context, dir string, page []byte) (*nginx, error) {
	// nginx's workers run as nobody when started by root: they must be able
	// to reach the page, so these directories are world-readable (the
	// node's directory beside them stays private).
	for _, d := range []string{dir, filepath.Join(dir, "www"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Dir(dir), 0o711)
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), page, 0o644); err != nil {
		return nil, err
	}
	port, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port)).Replace(nginxConf)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}

	p, err := bench.StartPeer("nginx", filepath.Join(dir, "error.log"), nginxBin, "-p", dir, "-c", confFile)
	if err != nil {
		return nil, err
	}
	n := &nginx{Peer: p, url: "http://127.0.0.1:" + strconv.Itoa(port) + "/",
		version: bench.Version(nginxBin, "-v", "nginx version: ")} // "nginx/1.22.1"
	if err := p.Ready(ctx, 10*time.Second, 50*time.Millisecond, syscall.SIGQUIT, func() error {
		_, _, err := fetch(n.url)
		return err
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// stop asks nginx to finish gracefully (SIGQUIT), then kills it.
func (n *nginx) stop() { n.Stop(syscall.SIGQUIT, 5*time.Second) }

// result is one target's round.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
	// dials counts the connections opened, warm-up included: conns when
	// keep-alive holds. A few more on a saturated machine are Go's client,
	// not the server: it drops a connection whose writer goroutine has not
	// reported the request written within 50 ms of the response, and the
	// next request opens a new one.
	dials int64
	// warmupErrors failed during the warm-up: a connection that failed
	// is opened again, and shows in dials.
	warmupErrors int
	// cpuPerReq is the server's CPU time (user and system, all its
	// processes) in the window per request served; 0 when unknown.
	cpuPerReq time.Duration
	// genCores is the load generator's CPU time in the window over the
	// window's length: how many of the machine's cores it took.
	genCores float64
}

// worker is one connection's load loop. Each keeps its own samples, so the
// hot path takes no lock.
type worker struct {
	lat          []time.Duration // latencies of the 200s completed in the window
	errors       int             // transport errors, non-200s, wrong lengths in the window
	warmupErrors int
}

// measure loads url from cfg.conns goroutines, each with its own keep-alive
// connection, for cfg.warmup unmeasured and then cfg.duration measured.
// Requests that complete inside the measured window count.
func measure(ctx context.Context, url string, wantLen int, cfg config, pids []int, profile bool) (result, error) {
	runtime.GC() // the previous round's garbage is not this round's cost
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	workers := make([]worker, cfg.conns)
	perConn := int(cfg.duration.Seconds()*500) + 64 // beyond this, append grows the slice: still no lock
	for i := range workers {
		workers[i].lat = make([]time.Duration, 0, perConn)
	}

	if profile {
		stop, err := bench.StartCPUProfile(cfg.cpuprofile)
		if err != nil {
			return result{}, err
		}
		defer stop()
	}

	from := time.Now().Add(cfg.warmup)
	until := from.Add(cfg.duration)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			// One transport per goroutine, allowed one connection: every
			// goroutine really has its own keep-alive connection.
			tr := &http.Transport{DialContext: dial, MaxConnsPerHost: 1, MaxIdleConns: 1, MaxIdleConnsPerHost: 1,
				IdleConnTimeout: time.Minute, DisableCompression: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Accept-Language", "sv")
			buf := make([]byte, wantLen+1)
			for {
				start := time.Now()
				if !start.Before(until) || ctx.Err() != nil {
					return
				}
				n, ok := get(tr, req, buf)
				end := time.Now()
				failed := !ok || n != wantLen
				switch {
				case end.Before(from):
					if failed {
						w.warmupErrors++
					}
					continue
				case !end.Before(until):
					continue // past the window
				case failed:
					w.errors++
					continue
				}
				w.lat = append(w.lat, end.Sub(start))
			}
		})
	}

	// CPU time over the window: the server's, and the load generator's.
	self := []int{os.Getpid()}
	bench.Sleep(ctx, time.Until(from))
	server0, err0 := bench.CPUTime(pids...)
	gen0, errG0 := bench.CPUTime(self...)
	bench.Sleep(ctx, time.Until(until))
	server1, err1 := bench.CPUTime(pids...)
	gen1, errG1 := bench.CPUTime(self...)
	serverOK, genOK, serverOK1, genOK1 := err0 == nil, errG0 == nil, err1 == nil, errG1 == nil

	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}

	total, r := 0, result{dials: dials.Load()}
	for i := range workers {
		total += len(workers[i].lat)
		r.errors += workers[i].errors
		r.warmupErrors += workers[i].warmupErrors
	}
	all := make([]time.Duration, 0, total)
	for i := range workers {
		all = append(all, workers[i].lat...)
	}
	slices.Sort(all)
	r.rps = float64(total) / cfg.duration.Seconds()
	if len(pids) > 0 && serverOK && serverOK1 && total > 0 {
		r.cpuPerReq = (server1 - server0) / time.Duration(total)
	}
	if genOK && genOK1 {
		r.genCores = (gen1 - gen0).Seconds() / cfg.duration.Seconds()
	}
	r.p50, r.p99 = bench.Percentile(all, 50), bench.Percentile(all, 99)
	return r, nil
}

// get does one request and reads the body into buf, which is one byte
// longer than the expected body so that a longer one shows. It returns the
// body's length and whether the request succeeded with a 200.
func get(tr *http.Transport, req *http.Request, buf []byte) (int, bool) {
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	n := 0
	for n < len(buf) {
		m, err := resp.Body.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, resp.StatusCode == http.StatusOK
		}
		if err != nil {
			return n, false
		}
	}
	io.Copy(io.Discard, resp.Body) // too long: drain, to keep the connection
	return n, false
}

// us formats a CPU time per request; "–" when unknown.
func us(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + " µs"
}

// printTable writes the Markdown tables for docs/BENCHMARKS.md.
func printTable(w io.Writer, cfg config, size int, version string, res [][]result) {
	pick := func(t int, f func(result) float64) float64 {
		var xs []float64
		for _, r := range res[t] {
			xs = append(xs, f(r))
		}
		return bench.Median(xs)
	}
	var ratios []float64
	for i := range res[0] {
		ratios = append(ratios, res[0][i].rps/res[1][i].rps)
	}
	fmt.Fprintf(w, "\nGET / (%d bytes, Accept-Language: sv), %d keep-alive connections, %d rounds × %v per target (node, nginx alternating), GOMAXPROCS %d on %d CPUs, %s.\n\n",
		size, cfg.conns, cfg.rounds, cfg.duration, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| server | requests/s | p50 | p99 | errors | server CPU per request | load generator |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	names := []string{"node (`web`+`portal`, cached status page)", version + " (static file)"}
	for t := range res {
		errs := 0
		for _, r := range res[t] {
			errs += r.errors
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %.2f cores |\n", names[t], bench.Thousands(pick(t, func(r result) float64 { return r.rps })),
			bench.Ms(time.Duration(pick(t, func(r result) float64 { return float64(r.p50) }))),
			bench.Ms(time.Duration(pick(t, func(r result) float64 { return float64(r.p99) }))), errs,
			us(time.Duration(pick(t, func(r result) float64 { return float64(r.cpuPerReq) }))),
			pick(t, func(r result) float64 { return r.genCores }))
	}
	fmt.Fprintln(w, "\n| round | node req/s | nginx req/s | node/nginx | CPU per request node/nginx | connections node/nginx |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for i := range res[0] {
		fmt.Fprintf(w, "| %d | %s | %s | %.2f | %s / %s | %d/%d |\n", i+1, bench.Thousands(res[0][i].rps), bench.Thousands(res[1][i].rps),
			ratios[i], us(res[0][i].cpuPerReq), us(res[1][i].cpuPerReq), res[0][i].dials, res[1][i].dials)
	}
	fmt.Fprintf(w, "| median | | | **%.2f** | | |\n\n", bench.Median(ratios))
	if cfg.inprocess {
		fmt.Fprintln(w, "The node ran in the load generator's process (-inprocess): its CPU time cannot be told apart, and the node's load generator figure counts both.")
		fmt.Fprintln(w)
	}
}
