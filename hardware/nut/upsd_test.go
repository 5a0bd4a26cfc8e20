//go:build linux

package nut

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// This file runs the client against Debian's upsd (package nut-server)
// with the dummy-ups driver, both started by the test on a free loopback
// port with their state in a temporary directory.

// needPeer skips a test whose external peer is missing, or fails it when
// REQUIRE_PEERS=1 says the peer must be there (CI images that install it).
func needPeer(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("REQUIRE_PEERS") == "1" {
		t.Fatalf("%s, and REQUIRE_PEERS=1", what)
	}
	t.Skip("SKIP: " + what)
}

// findBinary returns the first candidate that is an executable binary.
// Debian's /usr/sbin/upsd is a shell wrapper that obeys /etc/nut/nut.conf,
// so scripts do not count.
func findBinary(candidates ...string) string {
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if err != nil || len(b) < 4 || string(b[:4]) != "\x7fELF" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

const (
	awaitLimit = 15 * time.Second // for upsd to show a change
	upsName    = "test"
	monUser    = "mon"
	monPass    = "s3cret pass" // the space makes the client quote it
)

// nutServer is one upsd and one dummy-ups driver serving ups "test".
type nutServer struct {
	t               *testing.T
	dir             string
	port            int
	upsdBin, drvBin string
	upsd, driver    *proc
	devWrites       int
	devBase         time.Time
}

func startNUT(t *testing.T) *nutServer {
	t.Helper()
	if testing.Short() {
		t.Skip("starts upsd and dummy-ups; skipped with -short")
	}
	s := &nutServer{
		t:       t,
		upsdBin: findBinary("/lib/nut/upsd", "/usr/lib/nut/upsd", "/usr/sbin/upsd", "/sbin/upsd", "/usr/local/ups/sbin/upsd"),
		drvBin:  findBinary("/lib/nut/dummy-ups", "/usr/lib/nut/dummy-ups", "/usr/local/ups/bin/dummy-ups"),
		devBase: time.Now().Add(-time.Hour).Truncate(time.Second),
	}
	if s.upsdBin == "" || s.drvBin == "" {
		needPeer(t, "nut-server not installed")
	}
	s.dir = t.TempDir()
	s.port = freePort(t)

	files := map[string]string{
		// pollinterval 1: dummy-ups checks its file once a second.
		"ups.conf": fmt.Sprintf("[%s]\n driver = dummy-ups\n port = test.dev\n desc = \"test\"\n pollinterval = 1\n", upsName),
		// MAXAGE 3 so a frozen driver goes stale within the test's patience.
		"upsd.conf":  fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXAGE 3\n", s.port),
		"upsd.users": fmt.Sprintf("[%s]\n password = %q\n upsmon secondary\n[viewer]\n password = view\n", monUser, monPass),
		"nut.conf":   "MODE=standalone\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.writeDev("ups.status: OL\nbattery.charge: 100\nbattery.voltage: 13.5\nbattery.runtime: 3600\n")

	s.startDriver()
	s.startUpsd()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dummy-ups output:\n%s", s.driver.output())
			t.Logf("upsd output:\n%s", s.upsd.output())
		}
	})
	return s
}

// asRoot is -u root when running as root: the default user nut could not
// enter the 0700 temporary directory.
func asRoot() []string {
	if os.Geteuid() == 0 {
		return []string{"-u", "root"}
	}
	return nil
}

func (s *nutServer) startDriver() {
	s.t.Helper()
	sock := filepath.Join(s.dir, "dummy-ups-"+upsName)
	s.driver = s.start(s.drvBin, append([]string{"-a", upsName, "-F"}, asRoot()...)...)
	// upsd should find the driver's socket at once, or it waits a while
	// before trying again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		if s.driver.exited() || time.Now().After(deadline) {
			s.t.Fatalf("dummy-ups made no socket %s; output:\n%s", sock, s.driver.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *nutServer) startUpsd() {
	s.t.Helper()
	s.upsd = s.start(s.upsdBin, append([]string{"-F"}, asRoot()...)...)
}

func (s *nutServer) start(bin string, args ...string) *proc {
	s.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NUT_CONFPATH="+s.dir, "NUT_STATEPATH="+s.dir, "NUT_ALTPIDPATH="+s.dir)
	// If the test binary dies, so do they.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.t.Cleanup(func() { p.signal(s.t, syscall.SIGKILL) })
	return p
}

// writeDev replaces dummy-ups' data file. dummy-ups re-reads it only when
// its mtime changes, compared in whole seconds, so each write gets a
// fresh second of its own rather than the wall clock's.
func (s *nutServer) writeDev(text string) {
	s.t.Helper()
	tmp := filepath.Join(s.dir, "test.dev.tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
	mtime := s.devBase.Add(time.Duration(s.devWrites) * time.Second)
	s.devWrites++
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "test.dev")); err != nil {
		s.t.Fatal(err)
	}
}

func (s *nutServer) addr(ups string) Addr {
	return Addr{Host: "127.0.0.1", Port: s.port, UPS: ups}
}

// await polls Read until done accepts its result, and returns that with
// the distinct outcomes seen on the way (the last one included).
func (s *nutServer) await(c *Client, what string, done func(power.Reading, error) bool) (trail []string, r power.Reading, err error) {
	s.t.Helper()
	deadline := time.Now().Add(awaitLimit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err = c.Read(ctx)
		cancel()
		seen := fmt.Sprintf("%+v", r)
		if err != nil {
			seen = err.Error()
		}
		if len(trail) == 0 || trail[len(trail)-1] != seen {
			trail = append(trail, seen)
		}
		if done(r, err) {
			return trail, r, err
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v still not %s; seen:\n%s", awaitLimit, what, strings.Join(trail, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proc is a child process the test owns.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  lockedBuffer
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and, if it is a killing one, waits for the exit.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s ignored %v for 5s", p.cmd.Path, sig)
	}
}

func (p *proc) output() string { return p.out.String() }

// lockedBuffer collects a child's output, which os/exec copies from
// another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestUpsd(t *testing.T) {
	s := startNUT(t)
	now := time.Date(2026, 1, 15, 3, 0, 0, 0, time.UTC)
	c := New(s.addr(upsName), &Opts{User: monUser, Password: monPass, Timeout: 2 * time.Second,
		Now: func() time.Time { return now }})
	t.Cleanup(func() { c.Close() })

	nan := power.Unknown(now)
	steps := []struct {
		name string
		dev  string // "" keeps the file startNUT wrote
		want power.Reading
	}{
		{"on mains", "",
			power.Reading{At: now, OnMains: true, Percent: 100, Volts: 13.5, Amps: nan.Amps, Runtime: time.Hour}},
		{"on battery", "ups.status: OB DISCHRG\nbattery.charge: 60\nbattery.voltage: 12.4\nbattery.runtime: 1800\n",
			power.Reading{At: now, Percent: 60, Volts: 12.4, Amps: nan.Amps, Runtime: 30 * time.Minute}},
		{"low battery", "ups.status: OB LB\nbattery.charge: 15\nbattery.voltage: 11.6\nbattery.runtime: 240\n",
			power.Reading{At: now, LowBattery: true, Percent: 15, Volts: 11.6, Amps: nan.Amps, Runtime: 4 * time.Minute}},
		{"charging", "ups.status: OL CHRG\nbattery.charge: 20\nbattery.voltage: 13.8\nbattery.runtime: 300\nbattery.current: 2.5\n",
			power.Reading{At: now, OnMains: true, Charging: true, Percent: 20, Volts: 13.8, Amps: -2.5, Runtime: 5 * time.Minute}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.dev != "" {
				s.writeDev(st.dev)
			}
			start := time.Now()
			trail, _, _ := s.await(c, st.name, func(r power.Reading, err error) bool { return err == nil && same(r, st.want) })
			t.Logf("after %v, seen:\n%s", time.Since(start).Round(10*time.Millisecond), strings.Join(trail, "\n"))
		})
	}

	t.Run("vars", func(t *testing.T) {
		vars, err := c.Vars(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if vars["driver.name"] != "dummy-ups" || vars["ups.status"] != "OL CHRG" || vars["battery.current"] != "2.5" {
			t.Fatalf("Vars = %q", vars)
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		anon := New(s.addr(upsName), nil)
		defer anon.Close()
		if r, err := anon.Read(context.Background()); err != nil || !r.OnMains || !r.Charging {
			t.Fatalf("Read = %+v, %v", r, err)
		}
	})

	// What the real upsd answers to refused logins and unknown names.
	refusals := []struct {
		name string
		addr Addr
		opts Opts
		want error
		code string
	}{
		{"wrong password", s.addr(upsName), Opts{User: monUser, Password: "wrong"}, ErrAccessDenied, "ACCESS-DENIED"},
		{"unknown user", s.addr(upsName), Opts{User: "nobody", Password: monPass}, ErrAccessDenied, "ACCESS-DENIED"},
		{"user without upsmon", s.addr(upsName), Opts{User: "viewer", Password: "view"}, ErrAccessDenied, "ACCESS-DENIED"},
		{"no password", s.addr(upsName), Opts{User: monUser}, ErrAccessDenied, "PASSWORD-REQUIRED"},
		{"unknown ups", s.addr("nope"), Opts{}, ErrUnknownUPS, "UNKNOWN-UPS"},
		{"unknown ups at login", s.addr("nope"), Opts{User: monUser, Password: monPass}, ErrUnknownUPS, "UNKNOWN-UPS"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			rc := New(tt.addr, &tt.opts)
			defer rc.Close()
			_, err := rc.Read(context.Background())
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want ERR %s (%v)", err, tt.code, tt.want)
			}
			t.Logf("upsd: %v", err)
		})
	}

	t.Run("upsd restart", func(t *testing.T) {
		s.upsd.signal(t, syscall.SIGKILL)
		for i := range 2 { // the old connection, then a refused one
			_, err := c.Read(context.Background())
			var e *Error
			if err == nil || errors.As(err, &e) {
				t.Fatalf("Read %d with upsd killed = %v, want a network error", i, err)
			}
			t.Logf("upsd gone: %v", err)
		}
		s.startUpsd()
		start := time.Now()
		trail, _, _ := s.await(c, "back after the restart", func(r power.Reading, err error) bool { return err == nil && r.OnMains })
		t.Logf("reconnected after %v, seen:\n%s", time.Since(start).Round(10*time.Millisecond), strings.Join(trail, "\n"))
	})

	t.Run("driver frozen", func(t *testing.T) {
		s.driver.signal(t, syscall.SIGSTOP)
		start := time.Now()
		trail, _, _ := s.await(c, "stale", func(_ power.Reading, err error) bool { return errors.Is(err, ErrStale) })
		t.Logf("after %v, seen:\n%s", time.Since(start).Round(10*time.Millisecond), strings.Join(trail, "\n"))
		s.driver.signal(t, syscall.SIGCONT)
		trail, _, _ = s.await(c, "fresh again", func(r power.Reading, err error) bool { return err == nil && r.OnMains })
		t.Logf("resumed, seen:\n%s", strings.Join(trail, "\n"))
	})

	t.Run("driver gone", func(t *testing.T) {
		s.driver.signal(t, syscall.SIGKILL)
		trail, _, err := s.await(c, "without a driver", func(_ power.Reading, err error) bool { return errors.Is(err, ErrNoDriver) })
		t.Logf("seen:\n%s", strings.Join(trail, "\n"))
		if !strings.Contains(err.Error(), "ERR DRIVER-NOT-CONNECTED") {
			t.Errorf("message %q lacks the ERR word", err)
		}
	})
}
