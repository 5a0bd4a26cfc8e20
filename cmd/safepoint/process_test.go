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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
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
	p.waitServing(t, "node", 15*time.Second)
	p.waitHealthy(t)
	return p
}

// waitServing waits up to d for the process (which names it in a failure)
// to log the address it serves on, and sets p.base to it.
func (p *proc) waitServing(t testing.TB, which string, d time.Duration) {
	t.Helper()
	select {
	case addr := <-p.stderr.addr:
		p.base = "http://" + addr
	case <-p.done:
		t.Fatalf("%s exited before serving (%v); stderr:\n%s", which, p.err, p.stderr)
	case <-time.After(d):
		t.Fatalf("%s did not log Serving within %.0f s; stderr:\n%s", which, d.Seconds(), p.stderr)
	}
}

// waitHealthy waits up to 10 s for GET /healthz to answer 200.
func (p *proc) waitHealthy(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(p.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
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

var madeUpID = regexp.MustCompile(`^sp-[a-z0-9]{6}$`)
