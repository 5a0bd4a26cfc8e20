package main

// Process-level tests of the node's life: its first start and identity,
// its configuration's layers, a clean stop, and kill -9 at any moment.

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// TestFirstStartIdentity: a first start without --id makes up the point id;
// restarts keep it without writing; another --id is refused.
func TestFirstStartIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "notyet") // does not exist; its parent does
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
				t.Logf("  %s", e.Raw)
			}
		}
	}

	// The same id, given explicitly, is fine.
	p = startNode(t, nil, append(plain, "--id", id)...)
	p.terminate()

	other := "sp-other1"
	p = start(t, nil, "node", "--data", dir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--id", other)
	if code := p.wait(10 * time.Second); code == 0 {
		t.Fatalf("start with --id %s on the log of %s succeeded; stderr:\n%s", other, id, p.Stderr)
	}
	msg := p.Stderr.String()
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
		if !hasLogMsg(p.Stderr.String(), "Serving") {
			t.Errorf("log_format from the file not used; stderr:\n%s", p.Stderr)
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
			t.Fatalf("%v succeeded; stderr:\n%s", args, p.Stderr)
		}
		if p.served.Load() {
			t.Errorf("node served despite a bad configuration")
		}
		return p.Stderr.String()
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
					code, c, b, err := postReport(ctx, client, p.base, text, "x")
					switch {
					case err != nil:
						mu.Lock()
						failed++
						mu.Unlock()
						time.Sleep(time.Millisecond) // no hot loop on a dead node
					case code == http.StatusCreated:
						if c.ID == "" || c.Receipt == "" {
							mu.Lock()
							other = append(other, fmt.Sprintf("201 with unreadable body %q", b))
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
		case <-p.Done():
			t.Fatalf("cycle %d: node exited by itself (%v); stderr:\n%s", cycle, p.Err(), p.Stderr)
		default:
		}
		p.kill()
		stop.Store(true)
		wg.Wait()
		cancel()
		if cycleAcks.Load() == 0 {
			t.Fatalf("cycle %d: no report acknowledged within %v; stderr:\n%s", cycle, time.Since(began), p.Stderr)
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
	if !hasLogMsg(p.Stderr.String(), "Stopped") {
		t.Errorf(`no "Stopped" message in stderr:\n%s`, p.Stderr)
	}
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
			case <-p.Done():
				t.Fatalf("node exited by itself (%v); stderr:\n%s", p.Err(), p.Stderr)
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

// TestOneDaemonPerDataDirectory: a second daemon (node or central) on a
// data directory a node runs on exits at once, non-zero, naming the
// directory and the running node's pid, and writes nothing; the running
// node goes on storing; dump and user add work beside it, through
// SQLite's own locking.
func TestOneDaemonPerDataDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	first := startNode(t, nil, nodeArgs(dir)...)
	if code, _, body, err := postReport(ctx, httpClient, first.base, "Träd över vägen", "Bron"); err != nil || code != http.StatusCreated {
		t.Fatalf("report to the first node: %d %s %v", code, body, err)
	}
	pid := strconv.Itoa(first.Cmd.Process.Pid)
	for _, second := range [][]string{
		append([]string{"node"}, nodeArgs(dir)...),
		{"central", "--data", dir, "--http", "127.0.0.1:0", "--staff-tls", "off", "--embedded-broker", "127.0.0.1:0"},
	} {
		p := start(t, nil, second...)
		if code := p.wait(10 * time.Second); code == 0 {
			t.Errorf("%s on a held data directory exited 0", second[0])
		}
		if log := p.Stderr.String(); !strings.Contains(log, dir) || !strings.Contains(log, "process "+pid) {
			t.Errorf("%s's refusal does not name the directory and pid %s:\n%s", second[0], pid, log)
		}
	}
	// The first node is unharmed: it stores, and says it is healthy.
	if code, _, body, err := postReport(ctx, httpClient, first.base, "Ingen ström på Ekbacken", "Ekbacken"); err != nil || code != http.StatusCreated {
		t.Fatalf("report after the second daemons: %d %s %v", code, body, err)
	}
	first.waitHealthy(t)
	// Short commands beside the daemon.
	addUser(t, dir, "eva", "staff", "eva-password-1")
	var reports int
	for _, e := range runDumpProc(t, dir) {
		if e.Type == "report.created" {
			reports++
		}
	}
	if reports != 2 {
		t.Errorf("dump beside the node: %d reports, want 2", reports)
	}
	first.terminate()
	// Once it is gone, the directory is free again.
	startNode(t, nil, nodeArgs(dir)...).terminate()
}

// TestEmptiedDatabaseRefused: a node whose database was truncated to 0
// bytes, or deleted, while its certificate is still there does not start
// as a new point: it exits non-zero saying what happened and how to
// restore or start over, and writes nothing.
func TestEmptiedDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, nil, nodeArgs(dir)...)
	id := first.getStatus(t).Point.ID
	first.terminate()
	db := filepath.Join(dir, eventlog.FileName)
	for _, c := range []struct {
		name  string
		harm  func() error
		state string
	}{
		{"truncated", func() error { return os.Truncate(db, 0) }, "is empty (0 bytes)"},
		{"deleted", func() error { return os.Remove(db) }, "is missing"},
	} {
		if err := c.harm(); err != nil {
			t.Fatal(err)
		}
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
		p := start(t, nil, append([]string{"node"}, nodeArgs(dir)...)...)
		if code := p.wait(10 * time.Second); code == 0 {
			t.Fatalf("%s: the node started on an emptied data directory", c.name)
		}
		log := p.Stderr.String()
		for _, want := range []string{db + " " + c.state, "tls/cert.pem", "Restore", "move " + dir + " aside"} {
			if !strings.Contains(log, want) {
				t.Errorf("%s: the refusal does not say %q:\n%s", c.name, want, log)
			}
		}
		if fi, err := os.Stat(db); c.name == "deleted" && err == nil || c.name == "truncated" && (err != nil || fi.Size() != 0) {
			t.Errorf("%s: the refused start wrote the database", c.name)
		}
	}
	// Moved aside as told, the directory starts a new point.
	fresh := filepath.Join(t.TempDir(), "new")
	p := startNode(t, nil, nodeArgs(fresh)...)
	if got := p.getStatus(t).Point.ID; got == id || !madeUpID.MatchString(got) {
		t.Errorf("a fresh directory's point %q (the old was %q)", got, id)
	}
	p.terminate()
}

// TestDataDirectoryParentMustExist: --data with a missing parent (a typo)
// is refused, naming the parent, and makes nothing; a missing last
// directory is made, and the log says so.
func TestDataDirectoryParentMustExist(t *testing.T) {
	root := t.TempDir()
	typo := filepath.Join(root, "safepoitn", "node")
	p := start(t, nil, append([]string{"node"}, nodeArgs(typo)...)...)
	if code := p.wait(10 * time.Second); code == 0 || !strings.Contains(p.Stderr.String(), filepath.Join(root, "safepoitn")+" does not exist") {
		t.Errorf("a missing parent: exit %d; stderr:\n%s", code, p.Stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "safepoitn")); !os.IsNotExist(err) {
		t.Error("the missing parent was made")
	}
	if r := userCmd(t, typo, "", "list"); r.Code == 0 {
		t.Errorf("user list on a missing parent: %s", r)
	}
	n := startNode(t, nil, nodeArgs(filepath.Join(root, "node"))...)
	n.terminate()
	if !hasLogMsg(n.Stderr.String(), "Made the data directory") {
		t.Errorf("the node did not say it made its directory:\n%s", n.Stderr)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory until the
// test ends: a real filesystem the test can fill. It needs root; without
// it the test skips loudly, or fails under REQUIRE_PEERS=1.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		synctest.NeedPeer(t, "a tmpfs to fill (mount as root): "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem has no room left.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return // ENOSPC: full
		}
	}
}

// TestStartOnFullDisk: a node started on a full disk says so: it exits
// non-zero naming the full disk, the data directory and the free bytes,
// not a bare "disk I/O error"; with room again it starts, its data intact.
func TestStartOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	dir := filepath.Join(mnt, "node")
	first := startNode(t, nil, nodeArgs(dir)...)
	id := first.getStatus(t).Point.ID
	first.terminate()
	fill(t, mnt)
	p := start(t, nil, append([]string{"node"}, nodeArgs(dir)...)...)
	if code := p.wait(15 * time.Second); code == 0 {
		t.Fatal("the node started on a full disk without a word")
	}
	log := p.Stderr.String()
	if !strings.Contains(log, "the disk holding "+dir+" is full (") || !strings.Contains(log, "bytes free") {
		t.Errorf("the refusal does not name the full disk, the directory and the free bytes:\n%s", log)
	}
	if err := os.Remove(filepath.Join(mnt, "ballast")); err != nil {
		t.Fatal(err)
	}
	again := startNode(t, nil, nodeArgs(dir)...)
	if got := again.getStatus(t).Point.ID; got != id {
		t.Errorf("after space returned: point %q, was %q", got, id)
	}
	again.terminate()
}
