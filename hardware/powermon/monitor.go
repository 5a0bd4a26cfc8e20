// Package powermon watches the point's backup power: it polls a source
// (hardware/sim, hardware/nut, the HAT drivers), debounces its state into
// NUT-style tokens with hold times, estimates the time left from the
// battery's chemistry and current, keeps a minute history in its own
// table, appends transitions to the event log and acts at critical.
package powermon

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/node"
)

// Log is what the monitor needs of the event log: transitions are
// appended as events.
type Log interface {
	Append(ctx context.Context, d node.Draft) (node.Event, error)
}

// Source is what the monitor needs of a power source: hardware/sim,
// hardware/nut and the HAT drivers all have it.
type Source interface {
	Read(ctx context.Context) (power.Reading, error)
}

// Options configure a Monitor. Zero fields mean defaults.
type Options struct {
	Source  Source // required
	Kind    string // "sim", "nut", …: shown, never a credential
	Battery Battery
	Holds   Holds
	// Interval between readings: 5 s; in low-power mode (on battery)
	// LowPowerInterval: 30 s.
	Interval, LowPowerInterval time.Duration
	// LowPercent and LowRuntime make the battery low (LB) below them when
	// the source does not say so itself: 20 % and 15 min.
	LowPercent float64
	LowRuntime time.Duration
	// LostAfter consecutive failed reads report the source as lost: 3.
	// A lost source is tried again after twice Interval, then twice that,
	// up to RetryMax (1 min), each wait jittered by ±20 %.
	LostAfter int
	RetryMax  time.Duration
	// FlushEvery writes the sample history in one transaction this often:
	// 5 min. Keep is how long history is kept: 7 days.
	FlushEvery, Keep time.Duration
	// OnCritical runs once when the state has been OB LB for the critical
	// hold time, after the power.critical event is on disk: the configured
	// shutdown command. Nil only logs.
	OnCritical func(ctx context.Context) error
	// BurnRate of the generator in litres an hour, and Fuel, the litres on
	// hand when they were last counted (the inventory's fuel item), give
	// generator hours: the count less what the generator has burnt since.
	// Either unset: unknown.
	BurnRate float64
	Fuel     func() (litres float64, counted time.Time, ok bool)
	// History stores the minute samples; nil keeps them in memory only.
	History *History
	// Now is the clock for hold times and samples; time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
}

// Status is the power picture other parts read: GET /api/status, the
// portal, the board.
type Status struct {
	State          string   `json:"state"` // tokens, "OB LB"; "" until the first reading
	Alert          bool     `json:"alert"` // on battery or low: tell central and staff
	Critical       bool     `json:"critical"`
	LowPower       bool     `json:"low_power"`
	BatteryPercent *float64 `json:"battery_percent"`
	Runtime        *float64 `json:"runtime_minutes"`
	RuntimeLow     *float64 `json:"runtime_minutes_low"`
	RuntimeHigh    *float64 `json:"runtime_minutes_high"`
	Method         string   `json:"runtime_method,omitempty"` // "source" or "coulomb"
	GeneratorHours *float64 `json:"generator_hours,omitempty"`
	Source         string   `json:"source"`
	SourceOK       bool     `json:"source_ok"`
	// SourceProblem is why the source does not answer, while it does not:
	// the driver's error ("hat x728: no I2C bus /dev/i2c-1 …"). It may name
	// an address (a NUT server's), never a credential.
	SourceProblem string     `json:"source_problem,omitempty"`
	Updated       *time.Time `json:"updated"`
}

// Sample is one minute of history.
type Sample struct {
	At      time.Time `json:"at"`
	State   string    `json:"state"`
	Volts   float64   `json:"volts"`
	Amps    float64   `json:"amps"`
	Percent float64   `json:"percent"`
	Runtime float64   `json:"runtime_minutes"` // NaN when unknown
}

// Monitor polls a power source, debounces its state, estimates the
// time left, keeps the history, and acts.
type Monitor struct {
	log  Log
	opts Options
	fsm  *Machine
	est  *Estimator

	mu       sync.RWMutex
	status   Status
	lastRead power.Reading
	history  []Sample // ring, oldest first once full
	pending  []Sample // not yet written
	minute   minuteAgg
	failures int
	lost     bool
	acted    bool

	// What the last power.changed said, so a long outage reports its
	// battery as it falls: since the state began, the percent, and whether
	// under ShortRuntime was left.
	since    time.Time
	reported *float64
	short    bool
}

// ShortRuntime is the time left under which central raises an alert: a
// point on battery reports crossing it, and every ReportStep of battery,
// in a power.changed of the same state.
const (
	ShortRuntime = 120.0 // minutes
	ReportStep   = 10.0  // percent
)

// minuteAgg averages the readings of the current minute.
type minuteAgg struct {
	start                 time.Time
	n                     int
	volts, amps, pct, rtm float64
	nv, na, np, nr        int
	state                 string
}

// New builds a monitor that writes its events into log.
func New(log Log, opts Options) *Monitor {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.LowPowerInterval <= 0 {
		opts.LowPowerInterval = 30 * time.Second
	}
	if opts.LowPercent <= 0 {
		opts.LowPercent = 20
	}
	if opts.LowRuntime <= 0 {
		opts.LowRuntime = 15 * time.Minute
	}
	if opts.LostAfter <= 0 {
		opts.LostAfter = 3
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Minute
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 5 * time.Minute
	}
	if opts.Keep <= 0 {
		opts.Keep = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Monitor{log: log, opts: opts, fsm: NewMachine(opts.Holds), est: NewEstimator(opts.Battery)}
	m.status.Source = opts.Kind
	return m
}

// historyLen is the history kept in memory: one sample a minute.
func (m *Monitor) historyLen() int { return int(m.opts.Keep / time.Minute) }

// Status is the present power picture.
func (m *Monitor) Status() Status {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.status
}

// LowPower reports whether the node should save energy: on battery.
func (m *Monitor) LowPower() bool { return m.Status().LowPower }

// History returns the samples since t, oldest first.
func (m *Monitor) History(since time.Time) []Sample {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Sample
	for _, s := range m.history {
		if !s.At.Before(since) {
			out = append(out, s)
		}
	}
	return out
}

// Run polls until ctx ends, then writes what history it holds.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.loadHistory(ctx); err != nil {
		return err
	}
	flush := time.NewTicker(m.opts.FlushEvery)
	defer flush.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			m.closeMinute(time.Time{})
			// A last flush on the way down: the context is gone, so give the
			// write its own short deadline.
			fctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := m.Flush(fctx)
			cancel()
			if err != nil {
				m.opts.Logger.Error("Power history flush failed", "err", err)
			}
			return nil
		case <-flush.C:
			if err := m.Flush(ctx); err != nil {
				m.opts.Logger.Error("Power history flush failed", "err", err)
			}
		case <-timer.C:
			m.Poll(ctx)
			timer.Reset(m.next())
		}
	}
}

// next is the wait before the next reading: longer on battery (low-power
// mode), and growing while the source is lost, so a missing HAT or a
// stopped upsd is asked less and less often, but still asked.
func (m *Monitor) next() time.Duration {
	switch {
	case m.lost:
		d := m.opts.RetryMax
		if n := m.failures - m.opts.LostAfter; n < 16 {
			d = min(m.opts.Interval<<(n+1), m.opts.RetryMax)
		}
		return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	case m.LowPower():
		return m.opts.LowPowerInterval
	}
	return m.opts.Interval
}

// Poll takes one reading and acts on it. Run calls it; tests call it with
// a fake clock.
func (m *Monitor) Poll(ctx context.Context) {
	now := m.opts.Now()
	r, err := m.opts.Source.Read(ctx)
	if err != nil {
		m.failed(ctx, now, err)
		return
	}
	// The estimator integrates in the source's own time (a simulator runs
	// faster than the wall clock); hold times and samples use the monitor's.
	if r.At.IsZero() {
		r.At = now
	}
	if m.lost {
		m.lost = false
		m.append(ctx, node.TypePowerSource, node.PowerSource{Source: m.opts.Kind, State: "restored"})
		m.opts.Logger.Info("Power source restored", "source", m.opts.Kind)
	}
	m.failures = 0
	m.est.Update(r)
	est := m.est.Estimate(r)

	raw := State{Supply: TokenOnBattery, Charging: r.Charging || (power.Known(r.Amps) && r.Amps < -0.05)}
	switch {
	case r.OnMains:
		raw.Supply = TokenOnline
	case r.Generator:
		raw.Supply = TokenGenerator
	}
	raw.Low = raw.Supply == TokenOnBattery && (r.LowBattery ||
		(!math.IsNaN(est.Percent) && est.Percent < m.opts.LowPercent) ||
		(est.Runtime >= 0 && est.Runtime < m.opts.LowRuntime))

	previous := m.fsm.State()
	changed := m.fsm.Update(raw, now)
	state := m.fsm.State()
	critical := m.fsm.Critical(now)

	m.mu.Lock()
	m.lastRead = r
	st := &m.status
	st.State, st.SourceOK, st.Critical = state.String(), true, critical
	st.SourceProblem = ""
	st.Alert = state.Supply == TokenOnBattery || state.Low
	st.LowPower = state.Supply == TokenOnBattery
	st.BatteryPercent = optional(est.Percent, 1)
	st.Runtime, st.RuntimeLow, st.RuntimeHigh, st.Method = nil, nil, nil, est.Method
	if est.Runtime >= 0 && (state.Supply != TokenOnline || est.Method == "source") {
		st.Runtime = optional(est.Runtime.Minutes(), 0)
		st.RuntimeLow = optional(est.RuntimeLow.Minutes(), 0)
		st.RuntimeHigh = optional(est.RuntimeHigh.Minutes(), 0)
	}
	st.GeneratorHours = nil
	if m.opts.BurnRate > 0 && m.opts.Fuel != nil {
		if litres, counted, ok := m.opts.Fuel(); ok {
			left := math.Max(0, litres-m.opts.BurnRate*m.generatorHoursSince(counted, now, state))
			st.GeneratorHours = optional(left/m.opts.BurnRate, 1)
		}
	}
	t := now.UTC().Truncate(time.Second)
	st.Updated = &t
	status := *st
	m.addSample(now, r, est, status.State)
	m.mu.Unlock()

	if report, prev := m.worthReporting(changed && status.State != previous.String(), status, previous.String(), now); report {
		since := m.since
		m.append(ctx, node.TypePowerChanged, node.PowerChanged{State: status.State, Previous: prev,
			Percent: status.BatteryPercent, Runtime: status.Runtime, Source: m.opts.Kind,
			GeneratorHours: status.GeneratorHours, Since: &since})
	}
	if critical && !m.acted {
		m.acted = true
		m.actCritical(ctx, status)
	} else if !critical {
		m.acted = false
	}
}

// worthReporting decides whether a poll is a power.changed: a change of
// state always; and, off the mains, the battery ReportStep away from what
// was last reported, or the time left crossing ShortRuntime (back above
// it only 10 minutes over, so a wavering estimate is not a stream of
// events). It returns the Previous to write.
func (m *Monitor) worthReporting(changed bool, st Status, previous string, now time.Time) (bool, string) {
	short := st.Runtime != nil && (*st.Runtime < ShortRuntime || m.short && *st.Runtime < ShortRuntime+10)
	report := changed
	if changed {
		m.since = now.UTC().Truncate(time.Second)
	} else if st.LowPower || strings.HasPrefix(st.State, TokenGenerator) {
		previous = st.State
		moved := st.BatteryPercent != nil && (m.reported == nil || math.Abs(*st.BatteryPercent-*m.reported) >= ReportStep)
		report = moved || short != m.short
	}
	if report {
		m.reported, m.short = st.BatteryPercent, short
	}
	return report, previous
}

func (m *Monitor) failed(ctx context.Context, now time.Time, err error) {
	m.failures++
	if m.failures < m.opts.LostAfter || m.lost {
		m.mu.Lock()
		if !m.status.SourceOK { // never read yet, or lost: say why, as it is now
			m.status.SourceProblem = err.Error()
		}
		m.mu.Unlock()
		return
	}
	m.lost = true
	m.mu.Lock()
	st := &m.status
	st.SourceOK, st.SourceProblem = false, err.Error()
	// What the node cannot read it does not show: the state is unknown
	// until the source answers again, not the last one it read.
	st.State, st.Alert, st.Critical, st.LowPower = "", false, false, false
	st.BatteryPercent, st.Runtime, st.RuntimeLow, st.RuntimeHigh, st.Method = nil, nil, nil, nil, ""
	m.mu.Unlock()
	// The error may name a host, never a password: the sources do not
	// put credentials in errors.
	m.opts.Logger.Warn("Power source lost", "source", m.opts.Kind, "err", err)
	m.append(ctx, node.TypePowerSource, node.PowerSource{Source: m.opts.Kind, State: "lost", Reason: err.Error()})
}

// actCritical makes the critical moment durable, then runs the action.
func (m *Monitor) actCritical(ctx context.Context, st Status) {
	m.opts.Logger.Warn("Power critical: on battery and low", "state", st.State)
	m.append(ctx, node.TypePowerCritical, node.PowerChanged{State: st.State, Percent: st.BatteryPercent, Runtime: st.Runtime, Source: m.opts.Kind})
	if err := m.Flush(ctx); err != nil {
		m.opts.Logger.Error("Power history flush failed", "err", err)
	}
	if m.opts.OnCritical == nil {
		m.opts.Logger.Warn("No shutdown command configured: staying up")
		return
	}
	if err := m.opts.OnCritical(ctx); err != nil {
		m.opts.Logger.Error("Shutdown command failed", "err", err)
	}
}

func (m *Monitor) append(ctx context.Context, typ string, payload any) {
	if _, err := m.log.Append(ctx, node.Draft{Type: typ, Payload: payload}); err != nil {
		m.opts.Logger.Error("Append failed", "type", typ, "err", err)
	}
}

// generatorHoursSince is how long the generator has supplied the point since
// t, from the minute history and the minute under way. Called with mu held.
func (m *Monitor) generatorHoursSince(t, now time.Time, state State) float64 {
	var minutes float64
	for _, s := range m.history {
		if !s.At.Before(t.Truncate(time.Minute)) && ParseState(s.State).Supply == TokenGenerator {
			minutes++
		}
	}
	if state.Supply == TokenGenerator && !m.minute.start.IsZero() {
		from := m.minute.start
		if t.After(from) {
			from = t
		}
		minutes += now.Sub(from).Minutes()
	}
	return minutes / 60
}

// addSample folds a reading into the minute under way; a finished minute
// becomes a history sample. Called with mu held.
func (m *Monitor) addSample(now time.Time, r power.Reading, est Estimate, state string) {
	start := now.Truncate(time.Minute)
	if !m.minute.start.IsZero() && !start.Equal(m.minute.start) {
		m.closeMinuteLocked()
	}
	if m.minute.start.IsZero() {
		m.minute = minuteAgg{start: start}
	}
	a := &m.minute
	a.n++
	a.state = state
	add := func(sum *float64, n *int, x float64) {
		if !math.IsNaN(x) {
			*sum += x
			*n++
		}
	}
	add(&a.volts, &a.nv, r.Volts)
	add(&a.amps, &a.na, r.Amps)
	add(&a.pct, &a.np, est.Percent)
	if est.Runtime >= 0 {
		add(&a.rtm, &a.nr, est.Runtime.Minutes())
	}
}

func (m *Monitor) closeMinute(time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeMinuteLocked()
}

func (m *Monitor) closeMinuteLocked() {
	a := m.minute
	if a.start.IsZero() || a.n == 0 {
		return
	}
	avg := func(sum float64, n int) float64 {
		if n == 0 {
			return math.NaN()
		}
		return sum / float64(n)
	}
	s := Sample{At: a.start, State: a.state, Volts: avg(a.volts, a.nv), Amps: avg(a.amps, a.na),
		Percent: avg(a.pct, a.np), Runtime: avg(a.rtm, a.nr)}
	m.history = append(m.history, s)
	if over := len(m.history) - m.historyLen(); over > 0 {
		m.history = append(m.history[:0:0], m.history[over:]...)
	}
	m.pending = append(m.pending, s)
	if len(m.pending) > m.historyLen() {
		m.pending = m.pending[len(m.pending)-m.historyLen():]
	}
	m.minute = minuteAgg{}
}

// Flush writes the pending history in one transaction and drops rows older
// than Keep.
func (m *Monitor) Flush(ctx context.Context) error {
	m.mu.Lock()
	pending := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	err := m.writeSamples(ctx, pending)
	if err != nil {
		m.mu.Lock()
		m.pending = append(pending, m.pending...) // try again next time
		m.mu.Unlock()
	}
	return err
}

func (m *Monitor) writeSamples(ctx context.Context, samples []Sample) error {
	if m.opts.History == nil {
		return nil
	}
	return m.opts.History.Write(ctx, samples, samples[len(samples)-1].At.Add(-m.opts.Keep))
}

// loadHistory reads the stored history into memory at start.
func (m *Monitor) loadHistory(ctx context.Context) error {
	if m.opts.History == nil {
		return nil
	}
	hist, err := m.opts.History.Since(ctx, m.opts.Now().Add(-m.opts.Keep))
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.history = hist
	m.mu.Unlock()
	return nil
}

func optional(x float64, decimals int) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	p := math.Pow(10, float64(decimals))
	v := math.Round(x*p) / p
	return &v
}

func nullable(x float64) sql.NullFloat64 {
	return sql.NullFloat64{Float64: x, Valid: !math.IsNaN(x)}
}

func nullableInt(x float64) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(math.Round(x)), Valid: !math.IsNaN(x)}
}

func fromNull(n sql.NullFloat64) float64 {
	if !n.Valid {
		return math.NaN()
	}
	return n.Float64
}

// MarshalJSON writes unknown numbers as null: JSON has no NaN.
func (s Sample) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		At      time.Time `json:"at"`
		State   string    `json:"state"`
		Volts   *float64  `json:"volts"`
		Amps    *float64  `json:"amps"`
		Percent *float64  `json:"percent"`
		Runtime *float64  `json:"runtime_minutes"`
	}{s.At, s.State, optional(s.Volts, 3), optional(s.Amps, 3), optional(s.Percent, 1), optional(s.Runtime, 0)})
}
