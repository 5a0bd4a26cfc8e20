package systemd_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/systemd"
	"github.com/safepoint-se/safepoint/internal/systemd/systemdtest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run starts n.Run and returns a stop that ends it and waits.
func run(t *testing.T, n *systemd.Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not end within 5 s of its context")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func setSystemd(t *testing.T, sock *systemdtest.Socket, watchdog time.Duration) {
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_PID", "")
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	} else {
		t.Setenv("WATCHDOG_USEC", "")
	}
}

// TestNoSocket: without NOTIFY_SOCKET nothing is sent and Run returns at
// once, whatever the check says.
func TestNoSocket(t *testing.T) {
	sock := systemdtest.Listen(t)
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000000")
	n, err := systemd.New(systemd.Options{Logger: quiet(),
		Check: func(context.Context) error { return errors.New("never") }})
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() {
		t.Error("enabled without NOTIFY_SOCKET")
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run without NOTIFY_SOCKET did not return")
	}
	time.Sleep(50 * time.Millisecond)
	if m := sock.Messages(); len(m) != 0 {
		t.Errorf("sent %q without NOTIFY_SOCKET", m)
	}
}

// TestReadyAfterCheck: READY=1 only once the check passes, with the
// status; nothing before.
func TestReadyAfterCheck(t *testing.T) {
	sock := systemdtest.Listen(t)
	setSystemd(t, sock, 0)
	var calls atomic.Int32
	n, err := systemd.New(systemd.Options{Logger: quiet(), Retry: 20 * time.Millisecond,
		Status: func() string { return "på nät; länk uppe, 0 i kö" },
		Check: func(context.Context) error {
			if calls.Add(1) < 4 {
				return errors.New("store not open yet")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, n)
	m, i, ok := sock.Wait(0, 5*time.Second, func(m systemdtest.Message) bool { return m.Has("READY=1") })
	if !ok {
		t.Fatalf("no READY=1; got %q", sock.Messages())
	}
	if i != 0 {
		t.Errorf("%d messages before READY=1: %q", i, sock.Messages()[:i])
	}
	if c := calls.Load(); c < 4 {
		t.Errorf("READY=1 after %d checks, want after the 4th (the first that passed)", c)
	}
	if st, _ := m.Value("STATUS"); st != "på nät; länk uppe, 0 i kö" {
		t.Errorf("READY's STATUS = %q", st)
	}
	if m.Has("WATCHDOG") {
		t.Errorf("a watchdog ping without WATCHDOG_USEC: %q", m.State)
	}
}

// TestWatchdogOnlyWhileHealthy: pings come at half of WATCHDOG_USEC while
// the check passes, stop while it fails (the status says why), and come
// back when it passes again.
func TestWatchdogOnlyWhileHealthy(t *testing.T) {
	sock := systemdtest.Listen(t)
	setSystemd(t, sock, 200*time.Millisecond)
	var sick atomic.Bool
	n, err := systemd.New(systemd.Options{Logger: quiet(),
		Check: func(ctx context.Context) error {
			if sick.Load() {
				<-ctx.Done() // a stuck store: the check waits out its deadline
				return ctx.Err()
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Watchdog() != 100*time.Millisecond {
		t.Errorf("ping interval %v, want half of 200 ms", n.Watchdog())
	}
	run(t, n)
	if _, _, ok := sock.Wait(0, 5*time.Second, func(m systemdtest.Message) bool { return m.Has("READY=1") }); !ok {
		t.Fatalf("no READY=1: %q", sock.Messages())
	}
	time.Sleep(600 * time.Millisecond)
	if c := sock.Count(0, "WATCHDOG=1"); c < 3 || c > 8 {
		t.Errorf("%d pings in 600 ms at a 100 ms interval", c)
	}

	sick.Store(true)
	time.Sleep(250 * time.Millisecond) // a check under way may still ping
	from := len(sock.Messages())
	time.Sleep(800 * time.Millisecond)
	if c := sock.Count(from, "WATCHDOG=1"); c != 0 {
		t.Errorf("%d pings while the check failed", c)
	}
	if _, _, ok := sock.Wait(0, time.Second, func(m systemdtest.Message) bool {
		st, _ := m.Value("STATUS")
		return strings.HasPrefix(st, "ohälsosam: ")
	}); !ok {
		t.Errorf("the status never said the daemon is unhealthy: %q", sock.Messages())
	}

	sick.Store(false)
	from = len(sock.Messages())
	if _, _, ok := sock.Wait(from, 2*time.Second, func(m systemdtest.Message) bool { return m.Has("WATCHDOG=1") }); !ok {
		t.Errorf("no ping once the check passed again: %q", sock.Since(from))
	}
}

// TestStatusAndStopping: STATUS= goes out when the words change and not
// again while they stay; STOPPING=1 when the context ends.
func TestStatusAndStopping(t *testing.T) {
	sock := systemdtest.Listen(t)
	setSystemd(t, sock, 0)
	var mu sync.Mutex
	status := "på nät"
	set := func(s string) { mu.Lock(); status = s; mu.Unlock() }
	n, err := systemd.New(systemd.Options{Logger: quiet(), StatusEvery: 20 * time.Millisecond,
		Status: func() string { mu.Lock(); defer mu.Unlock(); return status }})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, n)
	if _, _, ok := sock.Wait(0, 5*time.Second, func(m systemdtest.Message) bool { return m.Has("READY=1") }); !ok {
		t.Fatalf("no READY=1: %q", sock.Messages())
	}
	set("på batteri 62 %, 3 h kvar;\nlänk uppe")
	m, _, ok := sock.Wait(1, 2*time.Second, func(m systemdtest.Message) bool { return m.Has("STATUS") })
	if !ok {
		t.Fatalf("no STATUS after a change: %q", sock.Messages())
	}
	if st, _ := m.Value("STATUS"); st != "på batteri 62 %, 3 h kvar; länk uppe" {
		t.Errorf("STATUS = %q, want the words on one line", st)
	}
	time.Sleep(200 * time.Millisecond)
	if c := sock.Count(1, "STATUS"); c != 1 {
		t.Errorf("STATUS sent %d times for one change: %q", c, sock.Messages())
	}
	stop()
	if _, _, ok := sock.Wait(0, 2*time.Second, func(m systemdtest.Message) bool { return m.Has("STOPPING=1") }); !ok {
		t.Errorf("no STOPPING=1: %q", sock.Messages())
	}
}

// TestWatchdogEnvironment: the watchdog is another process's when
// WATCHDOG_PID names it; a malformed WATCHDOG_USEC is an error.
func TestWatchdogEnvironment(t *testing.T) {
	sock := systemdtest.Listen(t)
	setSystemd(t, sock, time.Second)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	n, err := systemd.New(systemd.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if n.Watchdog() != 0 {
		t.Errorf("watchdog %v for another process's WATCHDOG_PID", n.Watchdog())
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if n, err := systemd.New(systemd.Options{Logger: quiet()}); err != nil || n.Watchdog() != 500*time.Millisecond {
		t.Errorf("own WATCHDOG_PID: %v, %v", n.Watchdog(), err)
	}
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, err := systemd.New(systemd.Options{Logger: quiet()}); err == nil {
		t.Error("a malformed WATCHDOG_USEC was taken")
	}
}
