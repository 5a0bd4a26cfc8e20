// Package systemd tells systemd's service manager how the daemon is, over
// the notify protocol (sd_notify(3), through go-systemd's daemon package):
// READY=1 once the daemon's liveness check first passes, WATCHDOG=1 at half
// of WATCHDOG_USEC and only after a check has passed, STATUS= in words
// whenever they change, and STOPPING=1 when it stops. Without NOTIFY_SOCKET
// (not started by systemd, or not Type=notify) it sends nothing.
//
// The watchdog is no blind ticker: a ping follows a check that a stuck
// daemon cannot pass (the node's store taking its write lock through its
// writer, its HTTP server answering /healthz). A store that hangs stops
// the pings, and systemd restarts the service after WatchdogSec.
package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Options configure a Notifier. Zero fields mean defaults.
type Options struct {
	// Check is the daemon's liveness check: READY=1 waits for its first
	// pass, and every WATCHDOG=1 for a pass. It is given a deadline; nil
	// always passes.
	Check func(ctx context.Context) error
	// Status says in words how the daemon is, sent as STATUS= when it
	// changes. Nil sends none.
	Status func() string
	// StatusEvery is how often Status is asked: 5 s.
	StatusEvery time.Duration
	// Retry is how soon a failed check is tried again: 1 s, or a quarter
	// of the ping interval when that is shorter.
	Retry time.Duration
	// Timeout bounds one check: 5 s, or half the ping interval when that
	// is shorter, so a check that passes still pings in time.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Notifier sends the daemon's state to systemd.
type Notifier struct {
	opts     Options
	socket   bool          // NOTIFY_SOCKET is set
	interval time.Duration // between watchdog pings; 0: no watchdog
	status   string        // the last STATUS= sent
}

// New reads NOTIFY_SOCKET and the watchdog's WATCHDOG_USEC (for this
// process: WATCHDOG_PID) from the environment. A malformed WATCHDOG_USEC
// is an error: systemd would kill a daemon that ignored it.
func New(opts Options) (*Notifier, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = 5 * time.Second
	}
	n := &Notifier{opts: opts}
	n.socket = notifySocket() != ""
	if !n.socket {
		return n, nil
	}
	usec, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return nil, fmt.Errorf("systemd watchdog: %w", err)
	}
	n.interval = usec / 2
	if n.opts.Retry <= 0 {
		n.opts.Retry = time.Second
		if n.interval > 0 {
			n.opts.Retry = min(n.opts.Retry, n.interval/4)
		}
	}
	if n.opts.Timeout <= 0 {
		n.opts.Timeout = 5 * time.Second
		if n.interval > 0 {
			n.opts.Timeout = min(n.opts.Timeout, n.interval/2)
		}
	}
	return n, nil
}

// Enabled reports whether systemd listens: NOTIFY_SOCKET is set.
func (n *Notifier) Enabled() bool { return n.socket }

// Watchdog is the time between pings, half of WATCHDOG_USEC; 0 without a
// watchdog.
func (n *Notifier) Watchdog() time.Duration { return n.interval }

// Run waits for the first check to pass and sends READY=1 with the status,
// then pings the watchdog after each passing check, refreshes the status,
// and sends STOPPING=1 when ctx ends. Without NOTIFY_SOCKET it returns at
// once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.socket {
		return nil
	}
	for {
		err := n.check(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			n.stopping()
			return nil
		}
		n.opts.Logger.Debug("Not ready yet", "err", err)
		if !sleep(ctx, n.opts.Retry) {
			n.stopping()
			return nil
		}
	}
	msg := daemon.SdNotifyReady
	if n.opts.Status != nil {
		n.status = n.opts.Status()
		msg += "\nSTATUS=" + oneLine(n.status)
	}
	if n.interval > 0 {
		msg += "\n" + daemon.SdNotifyWatchdog // the check just passed
	}
	n.send(msg)
	n.opts.Logger.Info("Told systemd: ready", "watchdog", n.interval*2)

	statusTick := time.NewTicker(n.opts.StatusEvery)
	defer statusTick.Stop()
	var ping <-chan time.Time
	var pingTimer *time.Timer
	if n.interval > 0 {
		pingTimer = time.NewTimer(n.interval)
		defer pingTimer.Stop()
		ping = pingTimer.C
	}
	var failing error // the check's error while it fails
	for {
		select {
		case <-ctx.Done():
			n.stopping()
			return nil
		case <-statusTick.C:
			if failing == nil {
				n.refresh()
			}
		case <-ping:
			err := n.check(ctx)
			if ctx.Err() != nil {
				continue // stopping: say so, not that the check failed
			}
			if err != nil {
				if failing == nil {
					n.opts.Logger.Warn("Liveness check failed: not pinging the systemd watchdog", "err", err)
					n.sendStatus("ohälsosam: " + err.Error())
				}
				failing = err
				pingTimer.Reset(n.opts.Retry)
				continue
			}
			if failing != nil {
				n.opts.Logger.Info("Liveness check passes again: pinging the systemd watchdog")
				failing = nil
				n.refresh()
			}
			n.send(daemon.SdNotifyWatchdog)
			pingTimer.Reset(n.interval)
		}
	}
}

// check runs the liveness check under its timeout.
func (n *Notifier) check(ctx context.Context) error {
	if n.opts.Check == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	return n.opts.Check(ctx)
}

// refresh sends the status when it has changed.
func (n *Notifier) refresh() {
	if n.opts.Status == nil {
		return
	}
	n.sendStatus(n.opts.Status())
}

func (n *Notifier) sendStatus(s string) {
	if s == n.status {
		return
	}
	n.status = s
	n.send("STATUS=" + oneLine(s))
}

func (n *Notifier) stopping() {
	n.send(daemon.SdNotifyStopping + "\nSTATUS=stoppar")
	n.opts.Logger.Debug("Told systemd: stopping")
}

// send writes one datagram; a failure is logged, never fatal: the daemon
// serves its residents whether systemd hears or not.
func (n *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.opts.Logger.Warn("Telling systemd failed", "err", err)
	}
}

// oneLine keeps a status on its line: a newline would start another
// assignment in the datagram.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// notifySocket is where systemd listens, as daemon.SdNotify reads it.
func notifySocket() string { return os.Getenv("NOTIFY_SOCKET") }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
