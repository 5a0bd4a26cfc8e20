package main

// Process-level tests: they build the real binary once and run it as a
// separate process, the way it runs on a safety point, including kill -9.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/node"
)

// binPath is the binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(&binPath, m.Run))
}

var textAddr = regexp.MustCompile(`(?:^|\s)msg=Serving\s.*\baddr=(\S+)`)

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
	*proctest.Proc
	t      testing.TB
	base   string      // http://127.0.0.1:PORT, once serving
	addr   chan string // the address of the first "Serving" line
	served atomic.Bool // whether that line came
}

// start runs the binary with args and env (added to a clean environment);
// it does not wait for anything.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{Proc: proctest.Command(binPath, env, args...), t: t, addr: make(chan string, 1)}
	p.Stderr.Line = func(line []byte) {
		if a := servingAddr(line); a != "" && !p.served.Swap(true) {
			p.addr <- a // buffered, capacity 1
		}
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	t.Cleanup(func() {
		if !p.Kill(10 * time.Second) {
			t.Errorf("process %d did not die after SIGKILL", p.Cmd.Process.Pid)
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
	case addr := <-p.addr:
		p.base = "http://" + addr
	case <-p.Done():
		t.Fatalf("%s exited before serving (%v); stderr:\n%s", which, p.Err(), p.Stderr)
	case <-time.After(d):
		t.Fatalf("%s did not log Serving within %.0f s; stderr:\n%s", which, d.Seconds(), p.Stderr)
	}
}

// waitHealthy waits up to 10 s for GET /healthz to answer 200.
func (p *proc) waitHealthy(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := proctest.WaitHealthy(ctx, p.base); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, p.Stderr)
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
	case <-p.Done():
	case <-time.After(d):
		p.t.Fatalf("process did not exit within %v; stderr:\n%s", d, p.Stderr)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// kill sends SIGKILL and waits for the process.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill: %v", err)
	}
	p.wait(10 * time.Second)
}

// terminate sends SIGTERM and expects a clean exit within 5 s.
func (p *proc) terminate() {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		p.t.Fatalf("exit status %d after SIGTERM (%v); stderr:\n%s", code, p.Err(), p.Stderr)
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

// postReport files a resident's road report through the public API. On 201
// it decodes the answer too; c is empty when that does not decode.
func postReport(ctx context.Context, client *http.Client, base, text, place string) (code int, c created, body []byte, err error) {
	report, _ := json.Marshal(map[string]string{"category": "road", "text": text, "place": place, "urgency": "normal"})
	code, body, err = post(ctx, client, base+"/api/reports", string(report))
	if err == nil && code == http.StatusCreated {
		json.Unmarshal(body, &c)
	}
	return code, c, body, err
}

// runDumpProc runs `safepoint dump --data dir` and parses its output
// strictly: every line one object with exactly the event's fields.
func runDumpProc(t testing.TB, dir string) []proctest.Event {
	t.Helper()
	return proctest.Dump(t, binPath, dir)
}

// runCLI runs the binary to its end with stdin and returns what it said.
func runCLI(t testing.TB, stdin string, args ...string) proctest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := proctest.Run(ctx, binPath, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// userCmd runs `safepoint user ACTION --data dir args…` with the password
// lines on stdin.
func userCmd(t testing.TB, dir, stdin, action string, args ...string) proctest.Result {
	t.Helper()
	return runCLI(t, stdin, append([]string{"user", action, "--data", dir}, args...)...)
}

// addUser adds an account and fails the test unless that works.
func addUser(t testing.TB, dir, name, role, password string) proctest.Result {
	t.Helper()
	r := userCmd(t, dir, password+"\n"+password+"\n", "add", "--name", name, "--role", role)
	if r.Code != 0 {
		t.Fatalf("user add %s: %s", name, r)
	}
	return r
}

// Cookie names, as docs/API.md gives them.
const (
	cookieNameTLS   = "__Host-safepoint"
	cookieNamePlain = "safepoint"
)

// staffClient talks to one node as one staff member: its own cookie jar,
// trusting only the node's certificate.
type staffClient struct {
	*proctest.Client
	t     testing.TB
	token string // the session cookie's value after a login
}

func newStaffClient(t testing.TB, dir, base string) *staffClient {
	t.Helper()
	var tlsCfg *tls.Config
	if strings.HasPrefix(base, "https://") {
		tlsCfg = &tls.Config{RootCAs: nodePool(t, dir), MinVersion: tls.VersionTLS12}
	}
	s := &staffClient{Client: proctest.NewClient(base, tlsCfg), t: t}
	t.Cleanup(s.HTTP.CloseIdleConnections)
	return s
}

// do sends one request and returns the answer with its body read.
func (s *staffClient) do(method, path, body string, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	resp, b, err := s.Do(method, path, body, header)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

// login posts to /api/login; on 200 it keeps the CSRF token and the
// session cookie's value.
func (s *staffClient) login(name, password string) (int, []byte) {
	s.t.Helper()
	resp, b, err := s.Login(name, password)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		var lr struct {
			Role string `json:"role"`
		}
		if err := json.Unmarshal(b, &lr); err != nil || lr.Role == "" {
			s.t.Fatalf("login answer %s without a role: %v", b, err)
		}
		u, _ := url.Parse(s.Base)
		s.token = ""
		for _, c := range s.Jar.Cookies(u) {
			if c.Name == cookieNameTLS || c.Name == cookieNamePlain {
				s.token = c.Value
			}
		}
		if s.token == "" {
			s.t.Fatalf("login answered 200 but set no session cookie (%v)", resp.Header.Values("Set-Cookie"))
		}
	}
	return resp.StatusCode, b
}

// mustLogin logs in and fails the test unless it works.
func (s *staffClient) mustLogin(name, password string) {
	s.t.Helper()
	if code, b := s.login(name, password); code != http.StatusOK {
		s.t.Fatalf("login as %s: %d %s", name, code, b)
	}
}

// state is GET /api/staff/state: its status, and the parts these tests read.
type staffStateResp struct {
	Fingerprint string `json:"fingerprint"`
	Me          struct {
		Name           string   `json:"name"`
		Role           string   `json:"role"`
		Municipalities []string `json:"municipalities"`
	} `json:"me"`
}

func (s *staffClient) state() (int, staffStateResp) {
	s.t.Helper()
	resp, b := s.do(http.MethodGet, "/api/staff/state", "", nil)
	var st staffStateResp
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &st); err != nil {
			s.t.Fatalf("GET /api/staff/state: %v in %s", err, b)
		}
	}
	return resp.StatusCode, st
}

// checkLogOrder checks that the events of each origin have seqs 1..N
// exactly, in order, with strictly increasing HLCs.
func checkLogOrder(t testing.TB, events []proctest.Event) {
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
