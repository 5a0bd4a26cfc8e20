package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/web"
)

// central is `safepoint central` running as a process of its own.
type central struct {
	proc   *proctest.Proc
	dir    string
	base   string // http://127.0.0.1:PORT, staff included (staff TLS off)
	broker string // 127.0.0.1:PORT, the embedded broker
	cookie string // a staff session, as a Cookie header value
}

func (c *central) pid() int { return c.proc.Cmd.Process.Pid }

// stop ends central as systemd does (SIGTERM: it writes its picture out
// and closes its log), killing it if it takes over a minute.
func (c *central) stop() {
	c.proc.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.proc.Done():
	case <-time.After(time.Minute):
		c.proc.Kill(10 * time.Second)
	}
}

// startResult is one measured start.
type startResult struct {
	refold bool
	// From the exec: central says it serves (its log open, the picture
	// folded); GET /healthz answers 200; a login answers 200; GET
	// /api/central/points answers 200 with every point.
	serving, healthy, login, points time.Duration
	rss, hwm                        int64         // after the start, once the points were served
	cpu                             time.Duration // central's CPU time until then
}

func (s startResult) kind() string {
	if s.refold {
		return "folding every event (point_snapshots emptied)"
	}
	return "from the snapshots"
}

// measureStart copies the seeded directory to dir, empties its snapshots
// if refold, starts central on it and times it until it serves every
// point.
func measureStart(ctx context.Context, bin, seedDir, dir string, refold bool, points int) (startResult, *central, error) {
	res := startResult{refold: refold}
	if err := copyDir(seedDir, dir); err != nil {
		return res, nil, err
	}
	if refold {
		if err := emptySnapshots(ctx, filepath.Join(dir, eventlog.FileName)); err != nil {
			return res, nil, err
		}
	}
	c := &central{dir: dir}
	serving := make(chan string, 1)
	brokerAddr := make(chan string, 1)
	var stale atomic.Bool // central refolded points whose snapshots it could not use
	c.proc = proctest.Command(bin, nil, "central", "--data", dir, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	c.proc.Stderr.Line = func(line []byte) {
		var l struct {
			Msg, Addr string
		}
		if json.Unmarshal(line, &l) != nil {
			return
		}
		switch l.Msg {
		case "Serving":
			select {
			case serving <- l.Addr:
			default:
			}
		case "Embedded MQTT broker":
			select {
			case brokerAddr <- l.Addr:
			default:
			}
		case "Picture snapshots of other fold rules: folding those points again":
			stale.Store(true)
		}
	}
	start := time.Now()
	if err := c.proc.Start(); err != nil {
		return res, nil, err
	}
	fail := func(err error) (startResult, *central, error) {
		c.stop()
		return res, nil, fmt.Errorf("%w\n%s", err, tail(c.proc.Stderr.String(), 2000))
	}
	select {
	case addr := <-serving:
		res.serving = time.Since(start)
		c.base = "http://" + addr
	case <-c.proc.Done():
		return fail(errors.New("central exited at start"))
	case <-time.After(5 * time.Minute):
		return fail(errors.New("central does not serve after 5 minutes"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	select {
	case addr := <-brokerAddr:
		c.broker = addr
	default:
		return fail(errors.New("central named no embedded broker"))
	}
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := proctest.WaitHealthy(hctx, c.base); err != nil {
		return fail(err)
	}
	res.healthy = time.Since(start)
	cookie, err := login(c.base)
	if err != nil {
		return fail(err)
	}
	c.cookie = cookie
	res.login = time.Since(start)
	client := &http.Client{Timeout: time.Minute}
	for {
		n, err := countPoints(client, c.base, c.cookie)
		if err == nil && n == points {
			break
		}
		if time.Since(start) > 5*time.Minute {
			return fail(fmt.Errorf("GET %s: %d points (%v), want %d", pointsPath, n, err, points))
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.points = time.Since(start)
	if stale.Load() && !refold {
		return fail(errors.New("central could not use the seed's snapshots (other fold rules): remove the cached seed"))
	}
	res.cpu, _ = bench.CPUTime(c.pid())
	res.rss, _ = bench.ProcStatus(c.pid(), "VmRSS:")
	res.hwm, _ = bench.ProcStatus(c.pid(), "VmHWM:")
	return res, c, nil
}

// emptySnapshots deletes every point's snapshot in the database at file:
// central then folds every event at its start.
func emptySnapshots(ctx context.Context, file string) error {
	db, err := sqlitedb.OpenWriter(file)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `DELETE FROM point_snapshots`)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errors.New("no snapshots to empty")
	}
	return nil
}

// login logs the bench account in and returns its session cookie as a
// Cookie header value.
func login(base string) (string, error) {
	body, _ := json.Marshal(web.LoginRequest{Name: account, Password: staffPassword})
	resp, err := http.Post(base+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login: %s", resp.Status)
	}
	var cookies []string
	for _, c := range resp.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	if len(cookies) == 0 {
		return "", errors.New("login: no cookie")
	}
	return strings.Join(cookies, "; "), nil
}

// get sends an authenticated GET and returns the body of a 200.
func get(client *http.Client, base, path, cookie string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cookie", cookie)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// countPoints is how many points GET /api/central/points lists.
func countPoints(client *http.Client, base, cookie string) (int, error) {
	b, err := get(client, base, pointsPath, cookie)
	if err != nil {
		return 0, err
	}
	var body struct {
		Points []json.RawMessage `json:"points"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return 0, fmt.Errorf("GET %s: %w", pointsPath, err)
	}
	return len(body.Points), nil
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
