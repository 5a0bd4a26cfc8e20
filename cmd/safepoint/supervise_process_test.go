package main

// Process-level tests of systemd supervision: the real binary, started as
// systemd starts a Type=notify service (NOTIFY_SOCKET, WATCHDOG_USEC in its
// environment), talks to a fake notify socket the test listens on.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/internal/systemd/systemdtest"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

func isReady(m systemdtest.Message) bool    { return m.Has("READY=1") }
func isPing(m systemdtest.Message) bool     { return m.Has("WATCHDOG=1") }
func isStopping(m systemdtest.Message) bool { return m.Has("STOPPING=1") }

// sdEnv is the environment systemd gives a Type=notify service with
// WatchdogSec=watchdog.
func sdEnv(sock *systemdtest.Socket, watchdog time.Duration) []string {
	return []string{"NOTIFY_SOCKET=" + sock.Path, fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds())}
}

// TestNodeNotifiesSystemd: READY=1 comes once the node serves (its
// /healthz answers at once), with the power and the link in words; the
// watchdog is pinged at half of WATCHDOG_USEC; and the pings stop while
// the store is stuck for real (another connection holds SQLite's write
// lock, so the event log's writer cannot take it), and come back when it
// is let go. SIGTERM brings STOPPING=1.
func TestNodeNotifiesSystemd(t *testing.T) {
	sock := systemdtest.Listen(t)
	dir := filepath.Join(t.TempDir(), "data")
	p := start(t, sdEnv(sock, time.Second), append([]string{"node"},
		nodeArgs(dir, "--power", "sim", "--staff-tls", "off")...)...)
	ready, i, ok := sock.Wait(0, 20*time.Second, isReady)
	if !ok {
		t.Fatalf("no READY=1 within 20 s; got %q; stderr:\n%s", sock.Messages(), p.Stderr)
	}
	if i != 0 {
		t.Errorf("messages before READY=1: %q", sock.Messages()[:i])
	}
	// READY=1 means serving: the address is logged and answers now.
	p.waitServing(t, "node", time.Second)
	resp, err := httpClient.Get(p.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz right after READY=1: %v %v", resp, err)
	}
	resp.Body.Close()
	status, _ := ready.Value("STATUS")
	if !strings.HasPrefix(status, "på nät") && !strings.HasPrefix(status, "ström: ") {
		t.Errorf("READY's STATUS %q does not say the power in words", status)
	}
	if !strings.HasSuffix(status, "; ingen länk till central") {
		t.Errorf("READY's STATUS %q does not say the link", status)
	}

	// Pings every 500 ms while all is well.
	time.Sleep(2 * time.Second)
	if c := sock.Count(0, "WATCHDOG=1"); c < 3 {
		t.Fatalf("%d watchdog pings in the first 2 s at WATCHDOG_USEC=1 s: %q\nstderr:\n%s", c, sock.Messages(), p.Stderr)
	}

	// The store gets stuck: another connection takes the write lock and
	// keeps it.
	db, err := sqlitedb.Open(filepath.Join(dir, eventlog.FileName), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	time.Sleep(700 * time.Millisecond) // a check under way when the lock came may still ping
	from := len(sock.Messages())
	time.Sleep(3 * time.Second)
	if c := sock.Count(from, "WATCHDOG=1"); c != 0 {
		t.Errorf("%d watchdog pings while the store was stuck: %q", c, sock.Since(from))
	}
	var lastPing time.Time
	for _, m := range sock.Messages() {
		if m.Has("WATCHDOG=1") {
			lastPing = m.At
		}
	}
	if gap := time.Since(lastPing); gap < 3*time.Second {
		t.Errorf("last ping %v ago, %v after the lock: systemd (WatchdogSec=1s) would not have noticed", gap, lastPing.Sub(locked))
	}
	sick := false
	for _, m := range sock.Since(from - 2) {
		if st, ok := m.Value("STATUS"); ok && strings.HasPrefix(st, "ohälsosam: ") {
			sick = true
		}
	}
	if !sick {
		t.Errorf("STATUS never said the node is unhealthy: %q", sock.Messages())
	}
	if !hasLogMsg(p.Stderr.String(), "Liveness check failed: not pinging the systemd watchdog") {
		t.Errorf("the failed check is not in the log:\n%s", tail(p.Stderr.String(), 2000))
	}

	// Let go: the pings come back, the status with them.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	from = len(sock.Messages())
	if _, _, ok := sock.Wait(from, 15*time.Second, isPing); !ok {
		t.Fatalf("no ping once the store was free again: %q\nstderr:\n%s", sock.Since(from), tail(p.Stderr.String(), 2000))
	}
	if _, _, ok := sock.Wait(from, 10*time.Second, func(m systemdtest.Message) bool {
		st, ok := m.Value("STATUS")
		return ok && !strings.HasPrefix(st, "ohälsosam")
	}); !ok {
		t.Errorf("the status still says unhealthy: %q", sock.Since(from))
	}

	p.terminate()
	if _, _, ok := sock.Wait(0, time.Second, isStopping); !ok {
		t.Errorf("no STOPPING=1 on SIGTERM: %q", sock.Messages())
	}
}

// TestNodeWithoutSystemd: without NOTIFY_SOCKET the node runs as before
// and says nothing to anyone about systemd.
func TestNodeWithoutSystemd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startNode(t, nil, nodeArgs(dir)...)
	p.terminate()
	if strings.Contains(p.Stderr.String(), "systemd") {
		t.Errorf("the log speaks of systemd without NOTIFY_SOCKET:\n%s", p.Stderr)
	}
}

// TestCentralNotifiesSystemd: central's READY=1 says how many points it
// knows and how many are linked, the status follows a point that links,
// the watchdog is pinged, and SIGTERM brings STOPPING=1.
func TestCentralNotifiesSystemd(t *testing.T) {
	sock := systemdtest.Listen(t)
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", synctest.FreePort(t))
	c := start(t, sdEnv(sock, 2*time.Second), "central", "--data", cdir, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", brokerAddr, "--log-format", "json")
	ready, _, ok := sock.Wait(0, 20*time.Second, isReady)
	if !ok {
		t.Fatalf("no READY=1 within 20 s: %q; stderr:\n%s", sock.Messages(), c.Stderr)
	}
	if st, _ := ready.Value("STATUS"); !strings.HasPrefix(st, "0 punkter, 0 uppkopplade") {
		t.Errorf("central's READY STATUS = %q", st)
	}

	n := linkedNode(t, tmp, "byhuset", "2161", brokerAddr)
	if _, _, ok := sock.Wait(0, 30*time.Second, func(m systemdtest.Message) bool {
		st, _ := m.Value("STATUS")
		return st == "1 punkt, 1 uppkopplade"
	}); !ok {
		t.Errorf("central's status never said the point is linked: %q\ncentral:\n%s\nnode:\n%s",
			sock.Messages(), tail(c.Stderr.String(), 2000), tail(n.Stderr.String(), 2000))
	}
	if c := sock.Count(0, "WATCHDOG=1"); c < 2 {
		t.Errorf("%d watchdog pings", c)
	}
	if err := c.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(10 * time.Second); code != 0 {
		t.Errorf("central exited %d after SIGTERM", code)
	}
	if _, _, ok := sock.Wait(0, time.Second, isStopping); !ok {
		t.Errorf("no STOPPING=1 on SIGTERM: %q", sock.Messages())
	}
}

// TestFullDiskKeepsPinging: a node whose disk fills is failing, not hung:
// a restart would not make room, and it still serves residents what it
// has. So the watchdog is still pinged; the status and the metrics say
// the store cannot store, and say so no more once there is room again.
func TestFullDiskKeepsPinging(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	dir := filepath.Join(mnt, "node")
	sock := systemdtest.Listen(t)
	p := start(t, sdEnv(sock, time.Second), append([]string{"node"},
		nodeArgs(dir, "--staff-tls", "off", "--metrics", "127.0.0.1:0")...)...)
	if _, _, ok := sock.Wait(0, 20*time.Second, isReady); !ok {
		t.Fatalf("no READY=1: %q\nstderr:\n%s", sock.Messages(), p.Stderr)
	}
	p.waitServing(t, "node", time.Second)
	url := p.metricsURL(t)

	fill(t, mnt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	failed := false
	for range 200 { // the WAL has room for a few more frames, then none
		code, _, _, err := postReport(ctx, httpClient, p.base, "Träd över vägen", "Norrby")
		if err != nil {
			t.Fatal(err)
		}
		if code >= 500 {
			failed = true
			break
		}
	}
	if !failed {
		t.Fatal("every report stored on a full disk")
	}
	resp, err := httpClient.Get(p.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with the disk full: %v %v, want 503", resp, err)
	}
	resp.Body.Close()
	if _, _, ok := sock.Wait(0, 10*time.Second, func(m systemdtest.Message) bool {
		st, _ := m.Value("STATUS")
		return strings.HasPrefix(st, "lagret sparar inte (")
	}); !ok {
		t.Errorf("the status never said the store cannot store: %q", sock.Messages())
	}
	from := len(sock.Messages())
	time.Sleep(2 * time.Second)
	if c := sock.Count(from, "WATCHDOG=1"); c < 2 {
		t.Errorf("%d watchdog pings in 2 s with the disk full: a restart would not make room", c)
	}
	if fams, _ := scrape(t, url); fams["safepoint_store_healthy"] == nil {
		t.Error("no safepoint_store_healthy")
	} else if v, _ := value(t, fams, "safepoint_store_healthy"); v != 0 {
		t.Errorf("safepoint_store_healthy = %v with the disk full", v)
	}

	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	if code, _, body, err := postReport(ctx, httpClient, p.base, "Träd över vägen", "Norrby"); err != nil || code != http.StatusCreated {
		t.Fatalf("report with room again: %d %v %s", code, err, body)
	}
	if fams, _ := scrape(t, url); func() float64 { v, _ := value(t, fams, "safepoint_store_healthy"); return v }() != 1 {
		t.Error("safepoint_store_healthy not 1 with room again")
	}
	from = len(sock.Messages())
	if _, _, ok := sock.Wait(from, 10*time.Second, func(m systemdtest.Message) bool {
		st, ok := m.Value("STATUS")
		return ok && !strings.HasPrefix(st, "lagret")
	}); !ok {
		t.Errorf("the status still speaks of the store: %q", sock.Since(from))
	}
	p.terminate()
}
