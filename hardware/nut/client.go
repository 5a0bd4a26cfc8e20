package nut

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// DefaultTimeout bounds a Read or Vars call when Opts.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Opts configures a Client; the zero value reads anonymously with the
// defaults.
type Opts struct {
	// User and Password log in to upsd. Leave User empty to read
	// anonymously; with a user the client also sends LOGIN, which needs
	// "upsmon secondary" (or primary) in upsd.users.
	User, Password string

	// Timeout bounds each Read, Vars and Close, connecting included.
	// Zero means DefaultTimeout.
	Timeout time.Duration

	// Dial opens the TCP connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Now stamps readings; nil means time.Now.
	Now func() time.Time
}

// Client reads one UPS from one upsd. It keeps its connection between
// calls and is safe for use by several goroutines; calls take turns.
type Client struct {
	addr Addr
	opts Opts

	mu     sync.Mutex
	conn   net.Conn // nil until the first call and after any error
	r      *bufio.Reader
	closed bool
}

// New returns a client for addr. It does no I/O: the first Read connects.
func New(addr Addr, opts *Opts) *Client {
	c := &Client{addr: addr}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	if c.opts.Dial == nil {
		var d net.Dialer
		c.opts.Dial = d.DialContext
	}
	if c.opts.Now == nil {
		c.opts.Now = time.Now
	}
	return c
}

// Addr returns the UPS the client reads.
func (c *Client) Addr() Addr { return c.addr }

// Read fetches the UPS's variables and maps them onto a reading (see the
// package documentation for the table).
func (c *Client) Read(ctx context.Context) (power.Reading, error) {
	vars, err := c.Vars(ctx)
	if err != nil {
		return power.Reading{}, err
	}
	r, err := toReading(vars, c.opts.Now())
	if err != nil {
		return power.Reading{}, fmt.Errorf("nut: %s: %w", c.addr.UPS, err)
	}
	return r, nil
}

// Vars returns the UPS's variables as upsd lists them (LIST VAR), for
// diagnostics.
func (c *Client) Vars(ctx context.Context) (map[string]string, error) {
	var vars map[string]string
	err := c.do(ctx, func() error {
		var err error
		vars, err = c.listVars()
		return err
	})
	return vars, err
}

// Close logs out and closes the connection. A call in progress finishes
// first (it is bounded by Timeout); later calls fail with net.ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.conn == nil {
		return nil
	}
	// LOGOUT lets upsd count the login down now rather than when it
	// notices the closed socket. Its failure changes nothing: the
	// connection is closed either way.
	_ = c.conn.SetDeadline(time.Now().Add(min(c.opts.Timeout, time.Second)))
	if _, err := io.WriteString(c.conn, "LOGOUT\n"); err == nil {
		_, _ = readLine(c.r)
	}
	err := c.conn.Close()
	c.conn, c.r = nil, nil
	if err != nil {
		return fmt.Errorf("nut: close: %w", err)
	}
	return nil
}

// do runs fn on a connected, logged-in session under one deadline: the
// earlier of ctx's and Timeout from now. Any failure drops the connection,
// so the next call starts afresh.
func (c *Client) do(ctx context.Context, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("nut: %s: %w", c.addr, net.ErrClosed)
	}
	if err := checkWord(c.addr.UPS); err != nil {
		return fmt.Errorf("nut: ups name %q: %w", c.addr.UPS, err)
	}
	if err := checkArg("user", c.opts.User); err != nil {
		return err
	}
	if err := checkArg("password", c.opts.Password); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nut: %s: %w", c.addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	err := c.session(ctx, fn)
	if err == nil {
		return nil
	}
	if c.conn != nil {
		_ = c.conn.Close() // already failing; the first error is the one to report
		c.conn, c.r = nil, nil
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		// The connection's deadline can fire a hair before ctx's timer;
		// wait for it, so errors.Is sees context.DeadlineExceeded.
		<-ctx.Done()
	}
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(err, cerr) {
		// The deadline fired inside a read or write; say why as well.
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

func (c *Client) session(ctx context.Context, fn func() error) error {
	fresh := false
	if c.conn == nil {
		conn, err := c.opts.Dial(ctx, "tcp", c.addr.hostPort())
		if err != nil {
			return fmt.Errorf("nut: connect %s: %w", c.addr.hostPort(), err)
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, maxLine)
		fresh = true
	}
	conn := c.conn
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return fmt.Errorf("nut: set deadline: %w", err)
		}
	}
	// Cancelling ctx must interrupt a blocked read, which only a deadline
	// in the past can do.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // do not let it touch the next call's deadline
		}
	}()
	if fresh && c.opts.User != "" {
		if err := c.login(); err != nil {
			return err
		}
	}
	return fn()
}

func (c *Client) login() error {
	if err := c.simple("USERNAME", "USERNAME "+quote(c.opts.User)); err != nil {
		return err
	}
	// Without a password upsd answers LOGIN with PASSWORD-REQUIRED,
	// which says more than an empty one would.
	if c.opts.Password != "" {
		if err := c.simple("PASSWORD", "PASSWORD "+quote(c.opts.Password)); err != nil {
			return err
		}
	}
	return c.simple("LOGIN "+c.addr.UPS, "LOGIN "+c.addr.UPS)
}

// simple sends a command whose answer is one OK line. op names it in
// errors, so a password never reaches a message.
func (c *Client) simple(op, line string) error {
	if err := c.send(op, line); err != nil {
		return err
	}
	words, err := c.recv(op)
	if err != nil {
		return err
	}
	if err := serverError(words); err != nil {
		return fmt.Errorf("nut: %s: %w", op, err)
	}
	if len(words) == 0 || words[0] != "OK" {
		return fmt.Errorf("nut: %s: %w", op, protoError("want OK, got %q", truncate(strings.Join(words, " "))))
	}
	return nil
}

func (c *Client) listVars() (map[string]string, error) {
	ups := c.addr.UPS
	op := "LIST VAR " + ups
	if err := c.send(op, "LIST VAR "+ups); err != nil {
		return nil, err
	}
	words, err := c.recv(op)
	if err != nil {
		return nil, err
	}
	if err := serverError(words); err != nil {
		return nil, fmt.Errorf("nut: %s: %w", op, err)
	}
	if !isListLine(words, "BEGIN", ups) {
		return nil, fmt.Errorf("nut: %s: %w", op, protoError("want BEGIN LIST VAR, got %q", truncate(strings.Join(words, " "))))
	}
	vars := make(map[string]string)
	for n := 0; ; n++ {
		words, err := c.recv(op)
		if err != nil {
			return nil, err
		}
		if isListLine(words, "END", ups) {
			return vars, nil
		}
		if n == maxVars {
			return nil, fmt.Errorf("nut: %s: %w", op, protoError("more than %d variables", maxVars))
		}
		if len(words) != 4 || words[0] != "VAR" || !strings.EqualFold(words[1], ups) {
			return nil, fmt.Errorf("nut: %s: %w", op, protoError("want VAR %s name \"value\", got %q", ups, truncate(strings.Join(words, " "))))
		}
		vars[words[2]] = words[3]
	}
}

// isListLine matches "BEGIN LIST VAR ups" and "END LIST VAR ups". upsd
// echoes the name as the client wrote it, but matches it without case.
func isListLine(words []string, kind, ups string) bool {
	return len(words) == 4 && words[0] == kind && words[1] == "LIST" && words[2] == "VAR" &&
		strings.EqualFold(words[3], ups)
}

func (c *Client) send(op, line string) error {
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		return fmt.Errorf("nut: %s: send: %w", op, err)
	}
	return nil
}

func (c *Client) recv(op string) ([]string, error) {
	line, err := readLine(c.r)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("nut: %s: connection closed by upsd: %w", op, err)
	}
	if err != nil {
		return nil, fmt.Errorf("nut: %s: %w", op, err)
	}
	words, err := splitLine(line)
	if err != nil {
		return nil, fmt.Errorf("nut: %s: %w", op, err)
	}
	return words, nil
}

// toReading maps NUT variables onto a reading taken at at.
func toReading(vars map[string]string, at time.Time) (power.Reading, error) {
	r := power.Unknown(at)
	status := strings.Fields(vars["ups.status"])
	has := func(token string) bool {
		for _, s := range status {
			if s == token {
				return true
			}
		}
		return false
	}
	switch {
	case len(status) > 0:
		// A driver that has not yet heard from its UPS says WAIT; calling
		// that "off mains" would raise a false alarm.
		if has("WAIT") && !has("OL") && !has("OB") {
			return power.Reading{}, fmt.Errorf("ups.status is WAIT, the driver has no data yet: %w", ErrStale)
		}
		r.OnMains = has("OL")
		r.LowBattery = has("LB")
		r.Charging = has("CHRG")
	case power.Known(number(vars["input.voltage"])):
		r.OnMains = number(vars["input.voltage"]) > 100
	default:
		return power.Reading{}, errors.New("neither ups.status nor input.voltage is reported")
	}
	r.Percent = number(vars["battery.charge"])
	r.Volts = number(vars["battery.voltage"])
	if s := number(vars["battery.runtime"]); power.Known(s) && s >= 0 && s < maxRuntime.Seconds() {
		r.Runtime = time.Duration(s * float64(time.Second))
	}
	if a := number(vars["battery.current"]); power.Known(a) {
		// NUT leaves the sign of battery.current to each driver; the
		// status says which way the current flows.
		switch {
		case has("DISCHRG"), has("OB") && !has("CHRG"):
			a = math.Abs(a)
		case has("CHRG"):
			a = -math.Abs(a)
		}
		r.Amps = a
	}
	return r, nil
}

// maxRuntime caps a runtime estimate; larger ones are nonsense and would
// overflow a Duration.
const maxRuntime = 10 * 365 * 24 * time.Hour

// number parses a NUT number, NaN when absent or not a finite number.
// Some drivers write a decimal comma.
func number(s string) float64 {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return math.NaN()
	}
	return x
}
