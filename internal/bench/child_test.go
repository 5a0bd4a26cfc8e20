package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain makes the test binary a child for TestChild when
// BENCH_TEST_CHILD is set. As "echo" it says "ready", answers every line
// with "echo LINE", and ends when its standard input closes; as "quit" it
// ends at once.
func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_TEST_CHILD") {
	case "quit":
		os.Exit(0)
	case "echo":
		fmt.Println("ready")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("echo " + sc.Text())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestChild(t *testing.T) {
	c, first, err := StartChild(time.Minute, []string{"BENCH_TEST_CHILD=echo"})
	if err != nil || first != "ready" {
		t.Fatalf("first line %q, %v", first, err)
	}
	if c.Pid() <= 0 || c.Pid() == os.Getpid() {
		t.Errorf("pid %d", c.Pid())
	}
	for _, cmd := range []string{"stats", "change 7"} {
		if got, err := c.Command(cmd, time.Minute); err != nil || got != "echo "+cmd {
			t.Errorf("Command(%q) = %q, %v", cmd, got, err)
		}
	}
	c.Stop(time.Minute)
	if _, err := c.Next(time.Minute); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("after Stop: %v", err)
	}

	// A child that ends before its first line.
	if _, _, err := StartChild(time.Minute, []string{"BENCH_TEST_CHILD=quit"}); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("a child that quits at once: %v", err)
	}
}

func TestPeer(t *testing.T) {
	ctx := context.Background()
	// Ready once ready says so.
	p, err := StartPeer("sleeper", "", "/bin/sleep", "60")
	if err != nil {
		t.Skipf("no /bin/sleep: %v", err)
	}
	calls := 0
	err = p.Ready(ctx, time.Minute, time.Millisecond, syscall.SIGTERM, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Ready: %v after %d calls", err, calls)
	}
	p.Stop(syscall.SIGTERM, time.Minute)

	// A peer that never answers is stopped, and its error says why.
	p, err = StartPeer("sleeper", "", "/bin/sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Ready(ctx, 0, time.Millisecond, syscall.SIGTERM, func() error { return errors.New("connection refused") })
	if err == nil || !strings.Contains(err.Error(), "sleeper does not answer: connection refused") {
		t.Errorf("never ready: %v", err)
	}
	select {
	case <-p.exited:
	default:
		t.Error("a peer that never answered is still running")
	}

	// A peer that exits at start: its output and log file are in the error.
	logFile := t.TempDir() + "/error.log"
	if err := os.WriteFile(logFile, []byte("from the log file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = StartPeer("quitter", logFile, "/bin/sh", "-c", "echo bad configuration; exit 1")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Ready(ctx, time.Minute, time.Millisecond, syscall.SIGTERM, func() error { return errors.New("refused") })
	if err == nil || !strings.Contains(err.Error(), "quitter exited at start:\nbad configuration\nfrom the log file") {
		t.Errorf("exited: %v", err)
	}
}

func TestVersion(t *testing.T) {
	if got := Version("/bin/echo", "nginx version: nginx/1.22.1", "nginx version: "); got != "nginx/1.22.1" {
		t.Errorf("echo: %q", got)
	}
	if got := Version("/no/such/program", "-v", ""); got != "" {
		t.Errorf("a missing program: %q", got)
	}
}

func TestPeerMissing(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	var out strings.Builder
	if missing, code := PeerMissing(&out, getenv, "sh", "/bin/sh"); missing || code != 0 || out.Len() != 0 {
		t.Errorf("/bin/sh: missing %v, code %d, said %q", missing, code, out.String())
	}
	if missing, code := PeerMissing(&out, getenv, "nginx", "/no/such/nginx"); !missing || code != 0 ||
		out.String() != "SKIP: nginx not installed (/no/such/nginx missing)\n" {
		t.Errorf("missing: %v, code %d, said %q", missing, code, out.String())
	}
	out.Reset()
	env["REQUIRE_PEERS"] = "1"
	if missing, code := PeerMissing(&out, getenv, "nginx", "/no/such/nginx"); !missing || code != 1 ||
		out.String() != "FAIL: nginx not installed (/no/such/nginx missing) and REQUIRE_PEERS=1\n" {
		t.Errorf("required: %v, code %d, said %q", missing, code, out.String())
	}
	out.Reset()
	if missing, _ := PeerMissing(&out, getenv, "tmp", os.TempDir()); !missing {
		t.Error("a directory counted as a program")
	}
}

// TestChildren: a process this test starts is among its children.
func TestChildren(t *testing.T) {
	p, err := StartPeer("sleeper", "", "/bin/sleep", "60")
	if err != nil {
		t.Skipf("no /bin/sleep: %v", err)
	}
	defer p.Stop(syscall.SIGKILL, time.Minute)
	found := false
	for _, pid := range Children(os.Getpid()) {
		found = found || pid == p.Pid()
	}
	if !found {
		t.Errorf("pid %d not among %v", p.Pid(), Children(os.Getpid()))
	}
}
