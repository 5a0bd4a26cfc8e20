package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
)

// liveness is the check every systemd watchdog ping waits for: the event
// log's writer takes SQLite's write lock (a stuck writer, or a database
// another connection keeps locked, cannot) and the HTTP server answers
// /healthz. It checks for a hung daemon, which a restart cures, not for a
// failing one: /healthz's 503 for a log whose last commit failed (a full
// disk) passes, since a restart would not make room and the daemon still
// serves what it has; the status says it instead (storeWords).
func liveness(log *eventlog.Log, ln net.Listener) func(ctx context.Context) error {
	url := "http://" + loopback(ln.Addr()) + "/healthz"
	// No proxy from the environment and no idle connection kept between
	// checks: the check asks this process and holds nothing open.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		if err := log.Probe(ctx); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("GET /healthz: %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// loopback is the address to reach a listener at from this host: its own,
// or the loopback when it listens on every address.
func loopback(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// nodeStatus is the node's STATUS= for systemd: power and link in words,
// as `systemctl status` shows them to the municipality's IT staff, after
// the store's trouble when it has some.
func nodeStatus(health func() error, power func() powermon.Status, sync func() link.Status) func() string {
	return func() string {
		return storeWords(health) + powerWords(power) + "; " + linkWords(sync)
	}
}

// storeWords says why the event log cannot store, while it cannot.
func storeWords(health func() error) string {
	if err := health(); err != nil {
		return "lagret sparar inte (" + err.Error() + "); "
	}
	return ""
}

func powerWords(power func() powermon.Status) string {
	if power == nil {
		return "ingen strömkälla bevakas"
	}
	st := power()
	if !st.SourceOK && st.SourceProblem != "" {
		return "strömkällan svarar inte"
	}
	state := powermon.ParseState(st.State)
	var w string
	switch state.Supply {
	case "":
		return "ström: ingen mätning än"
	case powermon.TokenOnBattery:
		w = "på batteri"
		if st.BatteryPercent != nil {
			w += fmt.Sprintf(" %.0f %%", *st.BatteryPercent)
		}
	case powermon.TokenGenerator:
		w = "på generator"
	default:
		w = "på nät"
		if st.BatteryPercent != nil {
			w += fmt.Sprintf(", batteri %.0f %%", *st.BatteryPercent)
		}
	}
	if state.Low {
		w += ", lågt"
	}
	if state.Supply == powermon.TokenOnBattery && st.Runtime != nil {
		w += ", " + minutesWords(*st.Runtime) + " kvar"
	}
	return w
}

// minutesWords says a time left as staff would: minutes under two hours,
// whole hours above.
func minutesWords(m float64) string {
	if m < 120 {
		return fmt.Sprintf("%.0f min", math.Max(m, 0))
	}
	return fmt.Sprintf("%.0f h", m/60)
}

func linkWords(sync func() link.Status) string {
	if sync == nil {
		return "ingen länk till central"
	}
	st := sync()
	switch {
	case st.Problem != "":
		return fmt.Sprintf("länken stoppad, %d i kö", st.Backlog)
	case st.Online:
		return fmt.Sprintf("länk uppe, %d i kö", st.Backlog)
	}
	return fmt.Sprintf("länk nere, %d i kö", st.Backlog)
}

// centralStatus is central's STATUS=: the points and how many are linked.
func centralStatus(health func() error, recv *central.Receiver) func() string {
	return func() string {
		nodes := recv.Nodes()
		online := 0
		for _, n := range nodes {
			if n.Online {
				online++
			}
		}
		w := storeWords(health) + fmt.Sprintf("%d %s, %d uppkopplade", len(nodes), plural(len(nodes), "punkt", "punkter"), online)
		if !recv.Connected() {
			w += "; mäklaren nås inte"
		}
		return w
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// settle gives the system back what starting up used only once: the
// accounts' dummy argon2 hash alone takes 19 MiB, which would otherwise
// stay in the process until the runtime's next forced collection, up to
// two minutes later, and a Pi Zero has 512 MB for everything.
func settle() { debug.FreeOSMemory() }
