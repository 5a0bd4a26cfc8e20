package main

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/demo"
	"github.com/safepoint-se/safepoint/internal/proctest"
)

// demoRun is one `safepoint demo` process, in its own process group so
// that its children can be found and killed with it.
type demoRun struct {
	*proc
	cfg demo.Config
}

// demoPorts reports whether every port a demo of n nodes on base needs is
// free right now.
func demoPorts(cfg demo.Config) bool {
	ports := []int{cfg.CentralHTTP(), cfg.CentralHTTPS(), cfg.BrokerPort()}
	for i := range cfg.Nodes {
		ports = append(ports, cfg.NodeHTTP(i), cfg.NodeHTTPS(i))
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", demo.Addr(p))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// startDemoRun starts `safepoint demo` on dir and waits for its banner.
// It uses base, or with base 0 free ports below the ephemeral range, and
// tries other ports if another program took one in between.
func startDemoRun(t *testing.T, dir string, base int) *demoRun {
	t.Helper()
	for attempt := 1; ; attempt++ {
		cfg := demo.Config{Dir: dir, Nodes: 3, BasePort: base}
		for cfg.BasePort == 0 || !demoPorts(cfg) {
			cfg.BasePort = 12000 + 10*mrand.IntN(1500)
		}
		d, taken := tryDemoRun(t, cfg)
		if d != nil {
			return d
		}
		if !taken || attempt == 3 {
			t.FailNow()
		}
		base = 0
	}
}

// tryDemoRun starts the demo once; nil and taken when a port was taken.
func tryDemoRun(t *testing.T, cfg demo.Config) (_ *demoRun, taken bool) {
	t.Helper()
	d := &demoRun{cfg: cfg, proc: &proc{t: t,
		Proc: proctest.Command(binPath, nil, "demo", "--dir", cfg.Dir, "--base-port", fmt.Sprint(cfg.BasePort))}}
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := d.Cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL) // the demo and its children, if any are left
		<-d.Done()
	})
	deadline := time.After(60 * time.Second)
	for !strings.Contains(d.Stdout.String(), "Ctrl-C stops everything") {
		select {
		case <-d.Done():
			if strings.Contains(d.Stderr.String(), "address already in use") {
				t.Logf("a port was taken; stderr:\n%s", tail(d.Stderr.String(), 2000))
				return nil, true
			}
			t.Errorf("demo exited before its banner (%v); stderr:\n%s", d.Err(), d.Stderr)
			return nil, false
		case <-deadline:
			t.Errorf("no banner within 60 s; stdout:\n%s\nstderr:\n%s", d.Stdout, d.Stderr)
			return nil, false
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("demo up in %v on base port %d", time.Since(began).Round(time.Millisecond), cfg.BasePort)
	return d, false
}

// stop sends SIGINT, as Ctrl-C does, and checks that the demo and every
// child have gone.
func (d *demoRun) stop() {
	t := d.t
	t.Helper()
	if err := d.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	if code := d.wait(25 * time.Second); code != 0 {
		t.Fatalf("demo exit status %d after SIGINT (%v); stderr:\n%s", code, d.Err(), tail(d.Stderr.String(), 4000))
	}
	// The demo waits for its children, so none may be left in its group.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-d.Cmd.Process.Pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of the demo's group still there after it exited (kill -0: %v); stderr:\n%s",
				err, tail(d.Stderr.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(d.Stderr.String(), "msg=Stopped"); n != 1+d.cfg.Nodes {
		t.Errorf("%d processes logged Stopped, want %d; stderr:\n%s", n, 1+d.cfg.Nodes, tail(d.Stderr.String(), 4000))
	}
}

// demoStatus is what this test reads of a node's /api/status.
type demoStatus struct {
	Point struct {
		ID string `json:"id"`
	} `json:"point"`
	Services []struct {
		Status string `json:"status"`
	} `json:"services"`
	Announcements []json.RawMessage `json:"announcements"`
	Power         *struct {
		State string `json:"state"`
	} `json:"power"`
}

func getDemoStatus(t *testing.T, url string) demoStatus {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var st demoStatus
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return st
}

// demoLogin logs in as the demo account over HTTPS, trusting only the
// process's own certificate in dir. A login costs an argon2id hash, which
// on a loaded machine can take seconds: it is retried for a minute.
func demoLogin(t *testing.T, dir, base, password string) *staffClient {
	t.Helper()
	s := newStaffClient(t, dir, base)
	s.HTTP.Timeout = 30 * time.Second
	deadline := time.Now().Add(time.Minute)
	for {
		var code int
		resp, b, err := s.Login(demo.User, password)
		if resp != nil {
			code = resp.StatusCode
		}
		if err == nil {
			if code == http.StatusOK {
				return s
			}
			if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
				t.Fatalf("login at %s: %d %s", base, code, b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("login at %s: %d %s %v", base, code, b, err)
		}
		t.Logf("login at %s: %d %s %v; again", base, code, b, err)
		time.Sleep(time.Second)
	}
}

// TestDemo runs `safepoint demo` as `make run` does: every node answers
// with content, central hears from all of them with their events
// acknowledged, the storm changes a node's power, Ctrl-C stops every
// process, and a second run reuses the data.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes: skipped under -short")
	}
	began := time.Now()
	dir := filepath.Join(t.TempDir(), "demo")
	d := startDemoRun(t, dir, 0)
	defer func() {
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr (tail):\n%s", d.Stdout, tail(d.Stderr.String(), 8000))
		}
	}()
	pwBytes, err := os.ReadFile(filepath.Join(dir, "demo-password"))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pwBytes))
	if len(password) < 10 || !strings.Contains(d.Stdout.String(), password) {
		t.Errorf("password %q: not printed, or too short", password)
	}

	points := demo.Points[:d.cfg.Nodes]
	first := make([]string, len(points)) // each node's first power state
	for i, p := range points {
		url := "http://" + demo.Addr(d.cfg.NodeHTTP(i)) + "/api/status"
		if !strings.Contains(d.Stdout.String(), demo.Addr(d.cfg.NodeHTTP(i))) {
			t.Errorf("banner does not name %s's address", p.ID)
		}
		st := getDemoStatus(t, url)
		if st.Point.ID != p.ID || len(st.Announcements) != 1 {
			t.Errorf("%s: point %q, %d announcements; want %q and 1", url, st.Point.ID, len(st.Announcements), p.ID)
		}
		if st.Power != nil {
			first[i] = st.Power.State
		}
	}

	// Central lists every node online, its events acknowledged.
	central := demoLogin(t, filepath.Join(dir, "central"), "https://"+demo.Addr(d.cfg.CentralHTTPS()), password)
	var nodes []struct {
		ID       string `json:"id"`
		Online   bool   `json:"online"`
		AckedSeq uint64 `json:"acked_seq"`
		Backlog  uint64 `json:"backlog"`
	}
	var body []byte
	deadline := time.Now().Add(40 * time.Second)
	for {
		var code int
		resp, b, err := central.Do(http.MethodGet, "/api/nodes", "", nil)
		if resp != nil {
			code = resp.StatusCode
		}
		body = b
		ok := err == nil && code == http.StatusOK && json.Unmarshal(b, &nodes) == nil && len(nodes) == len(points)
		for _, n := range nodes {
			ok = ok && n.Online && n.AckedSeq > 0 && n.Backlog == 0
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central's /api/nodes never listed %d nodes online, acknowledged, nothing queued: %d %s %v",
				len(points), code, b, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("central after %v: %s", time.Since(began).Round(time.Millisecond), body)

	// The storm: mains goes about 10 s into it; the nodes see it on their
	// next readings.
	deadline = time.Now().Add(45 * time.Second)
	changed := ""
	for changed == "" {
		for i := range points {
			st := getDemoStatus(t, "http://"+demo.Addr(d.cfg.NodeHTTP(i))+"/api/status")
			if st.Power == nil || st.Power.State == "" {
				continue
			}
			if first[i] == "" {
				first[i] = st.Power.State
			} else if st.Power.State != first[i] {
				changed = fmt.Sprintf("%s: %s → %s", points[i].ID, first[i], st.Power.State)
			}
		}
		if changed == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no node's power changed within 45 s; first states %q", first)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("power after %v: %s", time.Since(began).Round(time.Millisecond), changed)
	d.stop()

	// A second run on the same directory: the same password, the content
	// not added twice.
	again := startDemoRun(t, dir, d.cfg.BasePort)
	if b, _ := os.ReadFile(filepath.Join(dir, "demo-password")); strings.TrimSpace(string(b)) != password {
		t.Errorf("second run changed the password: %q, was %q", b, password)
	}
	st := getDemoStatus(t, "http://"+demo.Addr(again.cfg.NodeHTTP(0))+"/api/status")
	if len(st.Announcements) != 1 {
		t.Errorf("second run: %d announcements, want 1", len(st.Announcements))
	}
	demoLogin(t, filepath.Join(dir, points[0].ID), "https://"+demo.Addr(again.cfg.NodeHTTPS(0)), password)
	again.stop()
	t.Logf("whole test %v", time.Since(began).Round(time.Millisecond))
}
