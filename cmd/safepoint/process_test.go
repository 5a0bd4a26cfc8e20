package main

// Process-level tests: they build the real binary once and run it as a
// separate process, the way it runs on a safety point, including kill -9.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// binPath is the binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "safepoint-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "process tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "safepoint")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "process tests: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// childEnv is the test's environment without any SAFEPOINT_* variable, plus
// extra: the binary must see only what a test gives it.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SAFEPOINT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer collects a child's output. Write is called by the copying
// goroutine of os/exec; it also watches complete lines for the address the
// node serves on.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
	sent    bool
}

var textAddr = regexp.MustCompile(`(?:^|\s)msg=Serving\s.*\baddr=(\S+)`)

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		line := b.partial[:i]
		if !b.sent && b.addr != nil {
			if a := servingAddr(line); a != "" {
				b.sent = true
				b.addr <- a // buffered, capacity 1
			}
		}
		b.partial = b.partial[i+1:]
	}
	return len(p), nil
}

func (b *lockedBuffer) served() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// servingAddr finds the listen address in a "Serving" log line, JSON or text.
func servingAddr(line []byte) string {
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &rec) == nil {
		if rec.Msg == "Serving" {
			return rec.Addr
		}
		return ""
	}
	if m := textAddr.FindSubmatch(line); m != nil {
		return string(m[1])
	}
	return ""
}

// proc is one running safepoint process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stderr *lockedBuffer
	stdout *lockedBuffer
	base   string // http://127.0.0.1:PORT, once serving
	done   chan struct{}
	err    error // Wait's result, after done is closed
}

// start runs the binary with args and env (added to a clean environment);
// it does not wait for anything.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stderr: &lockedBuffer{addr: make(chan string, 1)}, stdout: &lockedBuffer{},
		done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = childEnv(env...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("process %d did not die after SIGKILL", p.cmd.Process.Pid)
			}
		}
	})
	return p
}

// startNode starts `safepoint node` and waits until it serves /healthz.
func startNode(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := start(t, env, append([]string{"node"}, args...)...)
	select {
	case addr := <-p.stderr.addr:
		p.base = "http://" + addr
	case <-p.done:
		t.Fatalf("node exited before serving (%v); stderr:\n%s", p.err, p.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("node did not log Serving within 15 s; stderr:\n%s", p.stderr)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(p.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz never answered 200: %v; stderr:\n%s", err, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeArgs are the flags every node of these tests runs with.
func nodeArgs(data string, extra ...string) []string {
	return append([]string{"--data", data, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--log-format", "json",
		"--log-level", "debug", "--municipality", "2161",
		"--post-rate", "1000000", "--post-burst", "1000000"}, extra...)
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("process did not exit within %v; stderr:\n%s", d, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL and waits for the process.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill: %v", err)
	}
	p.wait(10 * time.Second)
}

// terminate sends SIGTERM and expects a clean exit within 5 s.
func (p *proc) terminate() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		p.t.Fatalf("exit status %d after SIGTERM (%v); stderr:\n%s", code, p.err, p.stderr)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func (p *proc) getStatus(t testing.TB) statusResp {
	t.Helper()
	resp, err := httpClient.Get(p.base + "/api/status")
	if err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/status: %d %s", resp.StatusCode, body)
	}
	var st statusResp
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("GET /api/status: %v in %s", err, body)
	}
	return st
}

type statusResp struct {
	Point struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		Municipality string `json:"municipality"`
	} `json:"point"`
	Counts struct {
		Reports    int `json:"reports"`
		Households int `json:"households"`
	} `json:"counts"`
}

type created struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	Household string `json:"household"`
}

// post sends a JSON body and returns the status and body.
func post(ctx context.Context, client *http.Client, url, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// dumpLine is one event as `safepoint dump` prints it.
type dumpLine struct {
	raw        string
	Origin     string
	Seq        uint64
	HLC        node.HLC
	Type       string
	OccurredAt *time.Time
	Payload    map[string]any
}

// runDumpProc runs `safepoint dump --data dir` and parses its output
// strictly: every line one object with exactly the event's fields.
func runDumpProc(t testing.TB, dir string) []dumpLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "dump", "--data", dir)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("safepoint dump: %v; stderr:\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("safepoint dump wrote to stderr: %s", stderr.String())
	}
	return parseDump(t, stdout.Bytes())
}

func parseDump(t testing.TB, out []byte) []dumpLine {
	t.Helper()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("dump output does not end in a newline: %q", out[max(0, len(out)-80):])
	}
	var lines []dumpLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			t.Fatalf("dump line %d is not a JSON object: %v: %s", n, err, raw)
		}
		want := []string{"origin", "seq", "hlc", "type", "occurred_at", "payload"}
		if len(fields) != len(want) {
			t.Fatalf("dump line %d has fields %v, want exactly %v", n, keys(fields), want)
		}
		for _, k := range want {
			if _, ok := fields[k]; !ok {
				t.Fatalf("dump line %d lacks %q: %s", n, k, raw)
			}
		}
		var e struct {
			Origin     string         `json:"origin"`
			Seq        uint64         `json:"seq"`
			HLC        string         `json:"hlc"`
			Type       string         `json:"type"`
			OccurredAt *time.Time     `json:"occurred_at"`
			Payload    map[string]any `json:"payload"`
		}
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatalf("dump line %d: %v: %s", n, err, raw)
		}
		h, err := node.ParseHLC(e.HLC)
		if err != nil {
			t.Fatalf("dump line %d: %v", n, err)
		}
		if e.Origin == "" || e.Type == "" || e.Payload == nil {
			t.Fatalf("dump line %d: empty origin, type or payload: %s", n, raw)
		}
		lines = append(lines, dumpLine{raw: raw, Origin: e.Origin, Seq: e.Seq, HLC: h, Type: e.Type,
			OccurredAt: e.OccurredAt, Payload: e.Payload})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading dump output: %v", err)
	}
	return lines
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkLogOrder checks that the events of each origin have seqs 1..N
// exactly, in order, with strictly increasing HLCs.
func checkLogOrder(t testing.TB, events []dumpLine) {
	t.Helper()
	next := map[string]uint64{}
	last := map[string]node.HLC{}
	for _, e := range events {
		want := next[e.Origin] + 1
		if e.Seq != want {
			t.Errorf("origin %s: seq %d where %d was due (gap or duplicate)", e.Origin, e.Seq, want)
		}
		next[e.Origin] = e.Seq
		if prev, ok := last[e.Origin]; ok && e.HLC <= prev {
			t.Errorf("origin %s seq %d: hlc %s does not exceed the previous %s", e.Origin, e.Seq, e.HLC, prev)
		}
		last[e.Origin] = e.HLC
	}
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestCrashKeepsAcknowledged kills the node with SIGKILL while residents'
// reports are in flight, over and over on the same data directory: every
// report answered 201 must be in the log exactly once, and the log must stay
// gap-free and ordered.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped under -short")
	}
	const (
		cycles  = 20
		workers = 8
		dumpAt  = cycles / 2 // the cycle that also dumps while the node runs
	)
	dir := filepath.Join(t.TempDir(), "data")
	var (
		mu        sync.Mutex
		acked     = map[string]created{} // report id → answer
		ackedText = map[string]string{}  // report id → text sent
		failed    int                    // requests that got no answer
		other     []string               // answers other than 201
		seqText   atomic.Int64
	)
	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	testStart := time.Now()

	for cycle := 0; cycle < cycles; cycle++ {
		p := startNode(t, nil, nodeArgs(dir)...)
		var stop atomic.Bool
		var wg sync.WaitGroup
		var cycleAcks atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() && ctx.Err() == nil {
					text := fmt.Sprintf("crash test %d", seqText.Add(1))
					body := fmt.Sprintf(`{"category":"road","text":%q,"place":"x","urgency":"normal"}`, text)
					code, b, err := post(ctx, client, p.base+"/api/reports", body)
					switch {
					case err != nil:
						mu.Lock()
						failed++
						mu.Unlock()
						time.Sleep(time.Millisecond) // no hot loop on a dead node
					case code == http.StatusCreated:
						var c created
						if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.Receipt == "" {
							mu.Lock()
							other = append(other, fmt.Sprintf("201 with unreadable body %q: %v", b, err))
							mu.Unlock()
							continue
						}
						mu.Lock()
						if _, dup := acked[c.ID]; dup {
							other = append(other, "id answered twice: "+c.ID)
						}
						acked[c.ID] = c
						ackedText[c.ID] = text
						mu.Unlock()
						cycleAcks.Add(1)
					default:
						mu.Lock()
						other = append(other, fmt.Sprintf("%d %s", code, b))
						mu.Unlock()
					}
				}
			}()
		}

		window := time.Duration(30+mrand.IntN(171)) * time.Millisecond
		began := time.Now()
		if cycle == dumpAt {
			// A dump beside the running daemon, with writes under way.
			events := runDumpProc(t, dir)
			if len(events) == 0 {
				t.Errorf("dump while running printed no events")
			}
			checkLogOrder(t, events)
			t.Logf("dump while running: %d events, valid", len(events))
		}
		// Kill only once requests are going: at least one answered, so the
		// kill lands among requests in flight, not before the first.
		for cycleAcks.Load() == 0 && time.Since(began) < 5*time.Second {
			time.Sleep(time.Millisecond)
		}
		if d := window - time.Since(began); d > 0 {
			time.Sleep(d)
		}
		select {
		case <-p.done:
			t.Fatalf("cycle %d: node exited by itself (%v); stderr:\n%s", cycle, p.err, p.stderr)
		default:
		}
		p.kill()
		stop.Store(true)
		wg.Wait()
		cancel()
		if cycleAcks.Load() == 0 {
			t.Fatalf("cycle %d: no report acknowledged within %v; stderr:\n%s", cycle, time.Since(began), p.stderr)
		}
		client.CloseIdleConnections()
	}

	if len(other) > 0 {
		t.Errorf("%d unexpected answers, first: %s", len(other), other[0])
	}

	// One more start: the node must come up on what the kills left.
	p := startNode(t, nil, nodeArgs(dir)...)
	st := p.getStatus(t)
	p.terminate()
	events := runDumpProc(t, dir)
	checkLogOrder(t, events)

	reports := map[string]int{}
	texts := map[string]int{}
	for _, e := range events {
		if e.Origin != st.Point.ID {
			t.Errorf("event of origin %q in a log of %q", e.Origin, st.Point.ID)
		}
		if e.Type != node.TypeReportCreated {
			continue
		}
		id, _ := e.Payload["id"].(string)
		text, _ := e.Payload["text"].(string)
		reports[id]++
		texts[text]++
		if c, ok := acked[id]; ok && e.Payload["receipt"] != c.Receipt {
			t.Errorf("report %s: receipt %v in the log, %s answered", id, e.Payload["receipt"], c.Receipt)
		}
		if want, ok := ackedText[id]; ok && text != want {
			t.Errorf("report %s: text %q in the log, %q sent", id, text, want)
		}
	}
	nReports := 0
	for id, n := range reports {
		nReports += n
		if n != 1 {
			t.Errorf("report id %s appears %d times", id, n)
		}
	}
	for text, n := range texts {
		if n != 1 {
			t.Errorf("report text %q stored %d times", text, n)
		}
	}
	missing := 0
	for id := range acked {
		if reports[id] != 1 {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged report %s (receipt %s) is not in the log exactly once (%d)",
					id, acked[id].Receipt, reports[id])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged reports lost", missing, len(acked))
	}
	if st.Counts.Reports != nReports {
		t.Errorf("status counts.reports = %d, the log holds %d report.created", st.Counts.Reports, nReports)
	}
	if len(acked) == 0 {
		t.Fatal("no report was acknowledged: the test proved nothing")
	}
	t.Logf("%d cycles in %v: %d reports acknowledged, %d report.created in the log (%d stored but unanswered), "+
		"%d requests cut off, %d events in all",
		cycles, time.Since(testStart).Round(time.Millisecond), len(acked), nReports, nReports-len(acked),
		failed, len(events))
}

// TestGracefulShutdown: SIGTERM stops the node cleanly, with status 0,
// within 5 s.
func TestGracefulShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	began := time.Now()
	p.terminate()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	if !hasLogMsg(p.stderr.String(), "Stopped") {
		t.Errorf(`no "Stopped" message in stderr:\n%s`, p.stderr)
	}
}

// hasLogMsg reports whether a JSON log holds a record with msg.
func hasLogMsg(log, msg string) bool {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return true
		}
	}
	return false
}

// TestPersonalDataStaysOut: what a resident says about themselves goes to
// the personal table beside the log, never into the log, a log line or the
// debug log, on success and on error paths.
func TestPersonalDataStaysOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	name, contact, details := "Namnmarkör-"+randHex(t, 8), "Kontaktmarkör-"+randHex(t, 8), "Detaljmarkör-"+randHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	body, _ := json.Marshal(map[string]any{"size": 2, "status": "needs_help", "need": "medical",
		"name": name, "contact": contact, "details": details})
	code, resp, err := post(ctx, httpClient, p.base+"/api/checkins", string(body))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/checkins: %d %s %v", code, resp, err)
	}
	var c created
	if err := json.Unmarshal(resp, &c); err != nil || c.ID == "" {
		t.Fatalf("POST /api/checkins: answer %s: %v", resp, err)
	}

	// Bad bodies that carry personal data: each must be refused without
	// storing or logging any of it.
	rejected := []string{} // markers sent only in refused requests
	bad := []func(m string) map[string]any{
		func(m string) map[string]any { // size out of range
			return map[string]any{"size": 0, "status": "needs_help", "name": m}
		},
		func(m string) map[string]any { // unknown status
			return map[string]any{"size": 1, "status": "lost", "contact": m}
		},
		func(m string) map[string]any { // name too long
			return map[string]any{"size": 1, "status": "ok", "name": strings.Repeat("x", 101) + m}
		},
		func(m string) map[string]any { // unknown field
			return map[string]any{"size": 1, "status": "ok", "nam": m}
		},
		func(m string) map[string]any { // wrong type
			return map[string]any{"size": m, "status": "ok"}
		},
		func(m string) map[string]any { // a control character in details
			return map[string]any{"size": 1, "status": "ok", "details": m + "\x07"}
		},
	}
	for i, mk := range bad {
		m := fmt.Sprintf("Felmarkör%d-%s", i, randHex(t, 8))
		rejected = append(rejected, m)
		b, _ := json.Marshal(mk(m))
		code, resp, err := post(ctx, httpClient, p.base+"/api/checkins", string(b))
		if err != nil || code != http.StatusBadRequest {
			t.Errorf("bad check-in %d %s: %d %s %v, want 400", i, b, code, resp, err)
		}
	}
	// A report that fails validation with a marker in it.
	m := "Rapportmarkör-" + randHex(t, 8)
	rejected = append(rejected, m)
	b, _ := json.Marshal(map[string]any{"category": "nonsense", "text": m})
	if code, resp, err := post(ctx, httpClient, p.base+"/api/reports", string(b)); err != nil || code != http.StatusBadRequest {
		t.Errorf("bad report: %d %s %v, want 400", code, resp, err)
	}

	p.terminate()
	stderr := p.stderr.String()
	// The debug log was on: it logged the requests, so its silence about
	// the markers means something.
	if n := strings.Count(stderr, `"path":"/api/checkins"`); n < 1+len(bad) {
		t.Errorf("debug log holds %d check-in request lines, want %d; stderr:\n%s", n, 1+len(bad), stderr)
	}

	ctxDump, cancelDump := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelDump()
	cmd := exec.CommandContext(ctxDump, binPath, "dump", "--data", dir)
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	events := parseDump(t, out)
	checkLogOrder(t, events)

	markers := append([]string{name, contact, details}, rejected...)
	for _, mk := range markers {
		if strings.Contains(string(out), mk) {
			t.Errorf("marker %q is in the dump", mk)
		}
		if strings.Contains(stderr, mk) {
			t.Errorf("marker %q is in the node's log", mk)
		}
		// Also the marker's tail alone, should an encoder have escaped
		// the "ö".
		tail := mk[strings.Index(mk, "-"):]
		if strings.Contains(string(out), tail) || strings.Contains(stderr, tail) {
			t.Errorf("marker %q (as %q) is in the dump or the log", mk, tail)
		}
	}

	var found bool
	for _, e := range events {
		if e.Type != node.TypeCheckInCreated {
			continue
		}
		if e.Payload["id"] != c.ID {
			t.Errorf("unexpected check-in in the log: %s", e.raw)
			continue
		}
		found = true
		if e.Payload["personal"] != true {
			t.Errorf(`check-in event lacks "personal":true: %s`, e.raw)
		}
		if e.Payload["status"] != "needs_help" || e.Payload["need"] != "medical" || e.Payload["size"] != 2.0 {
			t.Errorf("check-in event does not say what was sent: %s", e.raw)
		}
	}
	if !found {
		t.Fatalf("check-in %s is not in the dump", c.ID)
	}

	// The personal data was stored, beside the log: the test is not
	// passing merely because nothing was kept.
	file := filepath.Join(dir, eventlog.FileName)
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		t.Fatalf("open the log: %v", err)
	}
	defer l.Close()
	got, ok, err := l.Personal(ctx, c.ID)
	if err != nil || !ok {
		t.Fatalf("personal data of %s: %v %v", c.ID, ok, err)
	}
	if want := (node.Personal{Name: name, Contact: contact, Details: details}); got != want {
		t.Errorf("personal data = %+v, want %+v", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Refused data never reached the disk at all.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, mk := range rejected {
			if bytes.Contains(raw, []byte(mk)) {
				t.Errorf("refused marker %q is in %s", mk, filepath.Base(f))
			}
		}
	}
}

var madeUpID = regexp.MustCompile(`^sp-[a-z0-9]{6}$`)

// TestFirstStartIdentity: a first start without --id makes up the point id;
// restarts keep it without writing; another --id is refused.
func TestFirstStartIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet") // does not exist
	plain := []string{"--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"}

	p := startNode(t, nil, plain...)
	if _, err := os.Stat(filepath.Join(dir, eventlog.FileName)); err != nil {
		t.Fatalf("first start made no log: %v", err)
	}
	st := p.getStatus(t)
	id := st.Point.ID
	if !madeUpID.MatchString(id) {
		t.Fatalf("made-up point id %q does not match %s", id, madeUpID)
	}
	p.terminate()
	before := runDumpProc(t, dir)
	if len(before) == 0 {
		t.Fatal("first start wrote no event (point.configured expected)")
	}
	for _, e := range before {
		if e.Origin != id {
			t.Errorf("event of origin %q, point id %q", e.Origin, id)
		}
	}

	for i := 0; i < 2; i++ {
		p = startNode(t, nil, plain...)
		if got := p.getStatus(t).Point.ID; got != id {
			t.Errorf("restart %d: point id %q, was %q", i+1, got, id)
		}
		p.terminate()
		after := runDumpProc(t, dir)
		if len(after) != len(before) {
			t.Errorf("restart %d with the same configuration wrote %d event(s):", i+1, len(after)-len(before))
			for _, e := range after[min(len(before), len(after)):] {
				t.Logf("  %s", e.raw)
			}
		}
	}

	// The same id, given explicitly, is fine.
	p = startNode(t, nil, append(plain, "--id", id)...)
	p.terminate()

	other := "sp-other1"
	p = start(t, nil, "node", "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--id", other)
	if code := p.wait(10 * time.Second); code == 0 {
		t.Fatalf("start with --id %s on the log of %s succeeded; stderr:\n%s", other, id, p.stderr)
	}
	msg := p.stderr.String()
	if !strings.Contains(msg, "another origin") || !strings.Contains(msg, id) || !strings.Contains(msg, other) {
		t.Errorf("error does not explain the origin mismatch (%s vs %s):\n%s", id, other, msg)
	}
	if after := runDumpProc(t, dir); len(after) != len(before) {
		t.Errorf("refused start changed the log: %d events, were %d", len(after), len(before))
	}
}

// TestConfigPrecedence: flag beats environment beats file beats default;
// an unknown file key and a bad environment value are clear errors.
func TestConfigPrecedence(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	conf := filepath.Join(tmp, "safepoint.toml")
	writeFile := func(s string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(fmt.Sprintf(`name = "FromFile"
municipality = "0180"
http = "127.0.0.1:0"
https = "127.0.0.1:0"
data = %q
log_format = "json"
opening_hours = "08-20"
`, dir))

	t.Run("layers", func(t *testing.T) {
		env := []string{"SAFEPOINT_NAME=FromEnv", "SAFEPOINT_MUNICIPALITY=0581"}
		p := startNode(t, env, "--config", conf, "--municipality", "2161")
		st := p.getStatus(t)
		p.terminate()
		if st.Point.Name != "FromEnv" {
			t.Errorf("name %q, want FromEnv (environment beats file)", st.Point.Name)
		}
		if st.Point.Municipality != "2161" {
			t.Errorf("municipality %q, want 2161 (flag beats environment and file)", st.Point.Municipality)
		}
		// Keys only the file sets are taken from it.
		if _, err := os.Stat(filepath.Join(dir, eventlog.FileName)); err != nil {
			t.Errorf("data from the file not used: %v", err)
		}
		if !hasLogMsg(p.stderr.String(), "Serving") {
			t.Errorf("log_format from the file not used; stderr:\n%s", p.stderr)
		}
		if !strings.HasPrefix(p.base, "http://127.0.0.1:") {
			t.Errorf("http from the file not used: %s", p.base)
		}
		events := runDumpProc(t, dir)
		var hours any
		for _, e := range events {
			if e.Type == node.TypePointConfigured {
				hours = e.Payload["opening_hours"]
			}
		}
		if hours != "08-20" {
			t.Errorf("opening_hours from the file: %v, want 08-20", hours)
		}
	})

	t.Run("config from environment", func(t *testing.T) {
		p := startNode(t, []string{"SAFEPOINT_CONFIG=" + conf})
		st := p.getStatus(t)
		p.terminate()
		if st.Point.Name != "FromFile" || st.Point.Municipality != "0180" {
			t.Errorf("point %+v, want FromFile/0180 from the file named by SAFEPOINT_CONFIG", st.Point)
		}
	})

	// fails runs the binary, which must exit non-zero quickly, and returns
	// its stderr.
	fails := func(t *testing.T, env []string, args ...string) string {
		t.Helper()
		p := start(t, env, args...)
		code := p.wait(10 * time.Second)
		if code == 0 {
			t.Fatalf("%v succeeded; stderr:\n%s", args, p.stderr)
		}
		if p.stderr.served() {
			t.Errorf("node served despite a bad configuration")
		}
		return p.stderr.String()
	}

	t.Run("unknown key", func(t *testing.T) {
		bad := filepath.Join(tmp, "typo.toml")
		if err := os.WriteFile(bad, []byte(fmt.Sprintf("data = %q\nhttp = \"127.0.0.1:0\"\nnmae = \"x\"\n", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		msg := fails(t, nil, "node", "--config", bad)
		if !strings.Contains(msg, "nmae") || !strings.Contains(msg, "unknown key") {
			t.Errorf("error does not name the unknown key nmae:\n%s", msg)
		}
		msg = fails(t, nil, "dump", "--config", bad)
		if !strings.Contains(msg, "nmae") {
			t.Errorf("dump: error does not name the unknown key nmae:\n%s", msg)
		}
	})

	t.Run("bad environment value", func(t *testing.T) {
		msg := fails(t, []string{"SAFEPOINT_POST_RATE=abc"}, "node", "--config", conf)
		if !strings.Contains(msg, "SAFEPOINT_POST_RATE") {
			t.Errorf("error does not name SAFEPOINT_POST_RATE:\n%s", msg)
		}
		// An explicit flag overrides the environment, bad value and all.
		p := startNode(t, []string{"SAFEPOINT_POST_RATE=abc"}, "--config", conf, "--post-rate", "5")
		p.terminate()
	})
}

// TestCrashDuringFirstStart: a power cut during the very first start, while
// the log file is being made, must not leave a data directory the node can
// no longer start on without help.
func TestCrashDuringFirstStart(t *testing.T) {
	const tries = 8
	cut := 0 // kills that left a log file behind
	for i := 0; i < tries; i++ {
		dir := filepath.Join(t.TempDir(), "data")
		file := filepath.Join(dir, eventlog.FileName)
		p := start(t, nil, "node", "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0")
		// Kill as soon as the log file exists: mid-creation.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(file); err == nil || time.Now().After(deadline) {
				break
			}
			select {
			case <-p.done:
				t.Fatalf("node exited by itself (%v); stderr:\n%s", p.err, p.stderr)
			default:
			}
			time.Sleep(50 * time.Microsecond)
		}
		p.kill()
		if _, err := os.Stat(file); err != nil {
			continue
		}
		cut++
		p = startNode(t, nil, "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0")
		id := p.getStatus(t).Point.ID
		p.terminate()
		if !madeUpID.MatchString(id) {
			t.Errorf("point id %q after a cut first start", id)
		}
		p = startNode(t, nil, "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0")
		if got := p.getStatus(t).Point.ID; got != id {
			t.Errorf("point id changed from %q to %q across a restart", id, got)
		}
		p.terminate()
		checkLogOrder(t, runDumpProc(t, dir))
	}
	if cut == 0 {
		t.Fatal("no kill landed after the log file was made: the test proved nothing")
	}
	t.Logf("%d of %d first starts cut short with a log file on disk", cut, tries)
}
