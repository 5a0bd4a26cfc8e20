package nut

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// hangUp, at the end of an answer, makes the fake close the connection
// after sending the rest.
const hangUp = "\x00hang up"

// fakeUPSD is a scripted upsd behind net.Pipe: handle gets each command
// line and returns the raw text to send back ("" sends nothing).
type fakeUPSD struct {
	handle func(cmd string) string

	mu    sync.Mutex
	cmds  []string
	dials int
	wg    sync.WaitGroup
}

func newFake(t *testing.T, handle func(cmd string) string) *fakeUPSD {
	f := &fakeUPSD{handle: handle}
	t.Cleanup(f.wg.Wait) // runs after the clients' cleanups have closed them
	return f
}

func (f *fakeUPSD) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" || addr != "fake:3493" {
		return nil, fmt.Errorf("fake dial %s %s", network, addr)
	}
	client, server := net.Pipe()
	f.mu.Lock()
	f.dials++
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.serve(server)
	}()
	return client, nil
}

func (f *fakeUPSD) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSuffix(line, "\n")
		f.mu.Lock()
		f.cmds = append(f.cmds, cmd)
		f.mu.Unlock()
		answer, hang := strings.CutSuffix(f.handle(cmd), hangUp)
		if _, err := io.WriteString(conn, answer); err != nil || hang {
			return
		}
	}
}

func (f *fakeUPSD) sent() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...), f.dials
}

func (f *fakeUPSD) client(t *testing.T, opts Opts) *Client {
	opts.Dial = f.dial
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	c := New(Addr{Host: "fake", UPS: "test"}, &opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// list answers LIST VAR test with name, value pairs.
func list(kv ...string) string {
	var b strings.Builder
	b.WriteString("BEGIN LIST VAR test\n")
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "VAR test %s %s\n", kv[i], quote(kv[i+1]))
	}
	b.WriteString("END LIST VAR test\n")
	return b.String()
}

// upsd answers like a real upsd holding vars for ups test, with user mon
// and password "pass word".
func upsd(vars ...string) func(string) string {
	return func(cmd string) string {
		switch cmd {
		case "LIST VAR test":
			return list(vars...)
		case "USERNAME mon", `PASSWORD "pass word"`, "LOGOUT":
			return "OK\n"
		case "LOGIN test":
			return "OK\n"
		}
		return "ERR UNKNOWN-COMMAND\n"
	}
}

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestReadAnonymous(t *testing.T) {
	f := newFake(t, upsd("ups.status", "OB DISCHRG", "battery.charge", "60", "battery.runtime", "1800",
		"battery.voltage", "12.4", "battery.current", "-3.5", "ups.model", `Smart "UPS" 1500`))
	c := f.client(t, Opts{Now: func() time.Time { return at }})
	for range 2 {
		r, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := power.Reading{At: at, Volts: 12.4, Amps: 3.5, Percent: 60, Runtime: 30 * time.Minute}
		if r != want {
			t.Fatalf("Read = %+v\nwant   %+v", r, want)
		}
	}
	vars, err := c.Vars(context.Background())
	if err != nil || vars["ups.model"] != `Smart "UPS" 1500` || len(vars) != 6 {
		t.Fatalf("Vars = %q, %v", vars, err)
	}
	cmds, dials := f.sent()
	if want := []string{"LIST VAR test", "LIST VAR test", "LIST VAR test"}; !equal(cmds, want) || dials != 1 {
		t.Fatalf("sent %q over %d connections, want %q over one", cmds, dials, want)
	}
}

func TestReadLogsIn(t *testing.T) {
	f := newFake(t, upsd("ups.status", "OL"))
	c := f.client(t, Opts{User: "mon", Password: "pass word"})
	for range 2 {
		if _, err := c.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cmds, _ := f.sent()
	want := []string{"USERNAME mon", `PASSWORD "pass word"`, "LOGIN test", "LIST VAR test", "LIST VAR test", "LOGOUT"}
	if !equal(cmds, want) {
		t.Fatalf("sent %q, want %q", cmds, want)
	}
}

func TestNewDoesNoIO(t *testing.T) {
	c := New(Addr{Host: "fake", UPS: "test"}, &Opts{Dial: func(context.Context, string, string) (net.Conn, error) {
		t.Error("New dialled")
		return nil, errors.New("no")
	}})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestMapping(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		vars map[string]string
		want power.Reading
	}{
		{"on mains full", map[string]string{"ups.status": "OL", "battery.charge": "100", "battery.voltage": "13.5", "battery.runtime": "3600"},
			power.Reading{OnMains: true, Percent: 100, Volts: 13.5, Amps: nan, Runtime: time.Hour}},
		{"on battery", map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "60", "battery.runtime": "1800.5"},
			power.Reading{Percent: 60, Volts: nan, Amps: nan, Runtime: 1800*time.Second + 500*time.Millisecond}},
		{"low battery", map[string]string{"ups.status": "OB LB", "battery.charge": "15"},
			power.Reading{LowBattery: true, Percent: 15, Volts: nan, Amps: nan, Runtime: -1}},
		{"charging", map[string]string{"ups.status": "OL CHRG", "battery.current": "2.5"},
			power.Reading{OnMains: true, Charging: true, Percent: nan, Volts: nan, Amps: -2.5, Runtime: -1}},
		{"discharging with a negative current", map[string]string{"ups.status": "OB DISCHRG", "battery.current": "-4"},
			power.Reading{Percent: nan, Volts: nan, Amps: 4, Runtime: -1}},
		{"current without direction keeps its sign", map[string]string{"ups.status": "OL", "battery.current": "-0.2"},
			power.Reading{OnMains: true, Percent: nan, Volts: nan, Amps: -0.2, Runtime: -1}},
		{"forced shutdown", map[string]string{"ups.status": "FSD OB LB"},
			power.Reading{LowBattery: true, Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"bypass", map[string]string{"ups.status": "OL BYPASS"},
			power.Reading{OnMains: true, Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"no status, input present", map[string]string{"input.voltage": "229.8"},
			power.Reading{OnMains: true, Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"no status, input gone", map[string]string{"input.voltage": "0.0", "ups.status": " "},
			power.Reading{Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"status wins over input", map[string]string{"ups.status": "OB", "input.voltage": "230"},
			power.Reading{Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"odd numbers", map[string]string{"ups.status": "OL", "battery.charge": "n/a", "battery.voltage": "24,84", "battery.runtime": "-1", "battery.current": "Inf"},
			power.Reading{OnMains: true, Percent: nan, Volts: 24.84, Amps: nan, Runtime: -1}},
		{"absurd runtime", map[string]string{"ups.status": "OL", "battery.runtime": "1e300", "battery.charge": "NaN"},
			power.Reading{OnMains: true, Percent: nan, Volts: nan, Amps: nan, Runtime: -1}},
		{"padded numbers", map[string]string{"ups.status": "OL", "battery.charge": "097", "battery.voltage": " 027.30 "},
			power.Reading{OnMains: true, Percent: 97, Volts: 27.3, Amps: nan, Runtime: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toReading(tt.vars, at)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.At = at
			if !same(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	if _, err := toReading(map[string]string{"ups.status": "WAIT"}, at); !errors.Is(err, ErrStale) {
		t.Errorf("status WAIT: err = %v, want ErrStale", err)
	}
	if _, err := toReading(map[string]string{"battery.charge": "50"}, at); err == nil {
		t.Error("no status and no input voltage: no error")
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		answer map[string]string // command → answer; others get OK
		want   error             // sentinel, or nil for none
		code   string
	}{
		{name: "stale", answer: map[string]string{"LIST VAR test": "ERR DATA-STALE\n"}, want: ErrStale, code: "DATA-STALE"},
		{name: "no driver", answer: map[string]string{"LIST VAR test": "ERR DRIVER-NOT-CONNECTED\n"}, want: ErrNoDriver, code: "DRIVER-NOT-CONNECTED"},
		{name: "unknown ups", answer: map[string]string{"LIST VAR test": "ERR UNKNOWN-UPS\n"}, want: ErrUnknownUPS, code: "UNKNOWN-UPS"},
		{name: "unknown ups at login", user: "mon", answer: map[string]string{"LOGIN test": "ERR UNKNOWN-UPS\n"}, want: ErrUnknownUPS, code: "UNKNOWN-UPS"},
		{name: "wrong password", user: "mon", answer: map[string]string{"LOGIN test": "ERR ACCESS-DENIED\n"}, want: ErrAccessDenied, code: "ACCESS-DENIED"},
		{name: "username twice", user: "mon", answer: map[string]string{"USERNAME mon": "ERR ALREADY-SET-USERNAME\n"}, code: "ALREADY-SET-USERNAME"},
		{name: "with detail", answer: map[string]string{"LIST VAR test": "ERR FEATURE-NOT-CONFIGURED maybe later\n"}, code: "FEATURE-NOT-CONFIGURED"},
		{name: "bare ERR", answer: map[string]string{"LIST VAR test": "ERR\n"}, code: "UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(cmd string) string {
				if a, ok := tt.answer[cmd]; ok {
					return a
				}
				if cmd == "LIST VAR test" {
					return list("ups.status", "OL")
				}
				return "OK\n"
			})
			c := f.client(t, Opts{User: tt.user, Password: "pw"})
			_, err := c.Read(context.Background())
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want ERR %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), "ERR "+tt.code) || !strings.HasPrefix(err.Error(), "nut: ") {
				t.Errorf("message %q", err)
			}
			for _, s := range []error{ErrStale, ErrNoDriver, ErrAccessDenied, ErrUnknownUPS} {
				if errors.Is(err, s) != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !(s == tt.want))
				}
			}
			// Any error drops the connection: the next call dials again.
			_, _ = c.Read(context.Background())
			if _, dials := f.sent(); dials != 2 {
				t.Errorf("%d connections after an error, want 2", dials)
			}
		})
	}
}

func TestMissingPassword(t *testing.T) {
	f := newFake(t, func(cmd string) string {
		if cmd == "LOGIN test" {
			return "ERR PASSWORD-REQUIRED\n"
		}
		return "OK\n"
	})
	c := f.client(t, Opts{User: "mon"})
	if _, err := c.Read(context.Background()); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	if cmds, _ := f.sent(); !equal(cmds, []string{"USERNAME mon", "LOGIN test"}) {
		t.Fatalf("sent %q", cmds)
	}
}

func TestBadAnswers(t *testing.T) {
	many := func(n int) string {
		var kv []string
		for i := range n {
			kv = append(kv, fmt.Sprintf("x.%d", i), "1")
		}
		return list(append(kv, "ups.status", "OL")...)
	}
	tests := []struct {
		name   string
		answer string
		want   error // nil: any error
	}{
		{"oversized line", "BEGIN LIST VAR test\nVAR test x \"" + strings.Repeat("A", 5000) + "\"\nEND LIST VAR test\n", ErrProtocol},
		{"oversized first line", strings.Repeat("B", 70000) + "\n", ErrProtocol},
		{"garbage first line", "HELLO\n", ErrProtocol},
		{"OK instead of a list", "OK\n", ErrProtocol},
		{"list of another ups", "BEGIN LIST VAR other\nEND LIST VAR other\n", ErrProtocol},
		{"garbage in the list", "BEGIN LIST VAR test\nVAR test ups.status \"OL\"\n%$#!\nEND LIST VAR test\n", ErrProtocol},
		{"VAR of another ups", "BEGIN LIST VAR test\nVAR other ups.status \"OL\"\nEND LIST VAR test\n", ErrProtocol},
		{"VAR without a value", "BEGIN LIST VAR test\nVAR test ups.status\nEND LIST VAR test\n", ErrProtocol},
		{"unterminated quote", "BEGIN LIST VAR test\nVAR test ups.status \"OL\nEND LIST VAR test\n", ErrProtocol},
		{"binary", "BEGIN LIST VAR test\n\x00\x01\x02\n", ErrProtocol},
		{"too many variables", many(maxVars), ErrProtocol},
		{"closed mid-list", "BEGIN LIST VAR test\nVAR test ups.status \"OL\"\n" + hangUp, io.EOF},
		{"closed mid-line", "BEGIN LIST VAR test\nVAR test ups.st" + hangUp, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(string) string { return tt.answer })
			c := f.client(t, Opts{})
			_, err := c.Read(context.Background())
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "nut: ") || len(err.Error()) > 300 {
				t.Errorf("message %q", truncate(err.Error()))
			}
		})
	}

	t.Run("exactly the limit", func(t *testing.T) {
		f := newFake(t, func(string) string { return many(maxVars - 1) })
		if _, err := f.client(t, Opts{}).Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("longest legal line", func(t *testing.T) {
		value := strings.Repeat("v", maxLine-len(`VAR test ups.model ""`)-1)
		f := newFake(t, func(string) string { return list("ups.status", "OL", "ups.model", value) })
		vars, err := f.client(t, Opts{}).Vars(context.Background())
		if err != nil || vars["ups.model"] != value {
			t.Fatalf("Vars: %v", err)
		}
	})
}

func TestHangingServer(t *testing.T) {
	silent := func(string) string { return "" }

	t.Run("timeout", func(t *testing.T) {
		c := newFake(t, silent).client(t, Opts{Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := c.Read(context.Background())
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Read took %v with a 200ms timeout", d)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		c := newFake(t, silent).client(t, Opts{Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Read(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Read took %v", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c := newFake(t, silent).client(t, Opts{Timeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Read(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Read took %v", d)
		}
	})
	t.Run("close waits for a bounded read", func(t *testing.T) {
		c := newFake(t, silent).client(t, Opts{Timeout: 300 * time.Millisecond})
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(context.Background())
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Close took %v", d)
		}
		if err := <-done; err == nil {
			t.Fatal("Read on a silent server succeeded")
		}
	})
}

func TestReconnect(t *testing.T) {
	var mu sync.Mutex
	hangup := false
	f := newFake(t, func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		if hangup {
			hangup = false
			return hangUp
		}
		return list("ups.status", "OL")
	})
	c := f.client(t, Opts{})
	if _, err := c.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hangup = true
	mu.Unlock()
	if _, err := c.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("Read from a closed connection: %v, want EOF", err)
	}
	if r, err := c.Read(context.Background()); err != nil || !r.OnMains {
		t.Fatalf("Read after reconnecting = %+v, %v", r, err)
	}
	if _, dials := f.sent(); dials != 2 {
		t.Fatalf("%d connections, want 2", dials)
	}
}

func TestDialError(t *testing.T) {
	refused := errors.New("refused")
	c := New(Addr{Host: "fake", UPS: "test"}, &Opts{Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, refused
	}})
	_, err := c.Read(context.Background())
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "fake:3493") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoInjection(t *testing.T) {
	f := newFake(t, upsd("ups.status", "OL"))
	for _, opts := range []Opts{{User: "mon\nFSD test"}, {User: "mon", Password: "x\r\nFSD test"}} {
		if _, err := f.client(t, opts).Read(context.Background()); err == nil {
			t.Errorf("Read with %q/%q succeeded", opts.User, opts.Password)
		}
	}
	c := New(Addr{Host: "fake", UPS: "test\nFSD test"}, &Opts{Dial: f.dial})
	if _, err := c.Read(context.Background()); err == nil {
		t.Error("Read with a line break in the ups name succeeded")
	}
	if cmds, _ := f.sent(); len(cmds) != 0 {
		t.Fatalf("sent %q", cmds)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// same compares readings, NaN equal to NaN.
func same(a, b power.Reading) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.At.Equal(b.At) && a.OnMains == b.OnMains && a.Generator == b.Generator &&
		a.LowBattery == b.LowBattery && a.Charging == b.Charging &&
		eq(a.Volts, b.Volts) && eq(a.Amps, b.Amps) && eq(a.Percent, b.Percent) && a.Runtime == b.Runtime
}
