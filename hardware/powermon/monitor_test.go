package powermon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// scriptSource is a hand-written fake source: it returns whatever the test
// last set, or an error.
type scriptSource struct {
	mu  sync.Mutex
	r   power.Reading
	err error
}

func (s *scriptSource) set(r power.Reading, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r, s.err = r, err
}

func (s *scriptSource) Read(context.Context) (power.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r, s.err
}

func reading(onMains, low bool, volts, amps, percent float64) power.Reading {
	r := power.Unknown(time.Time{})
	r.OnMains, r.LowBattery, r.Volts, r.Amps, r.Percent = onMains, low, volts, amps, percent
	return r
}

func eventsOfType(t *testing.T, l *eventlog.Log, typ string) []node.Event {
	t.Helper()
	var out []node.Event
	err := l.Events(context.Background(), func(e node.Event) error {
		if e.Type == typ {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openLog opens a real event log for the monitor to write into.
func openLog(t *testing.T, file string) *eventlog.Log {
	t.Helper()
	l, err := eventlog.Open(context.Background(), file, eventlog.Options{Origin: "byhuset"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func openHistory(t *testing.T, file string) *History {
	t.Helper()
	h, err := OpenHistory(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestPowerMonitorOutage(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	now := t0
	var acted []string
	m := New(l, Options{Source: src, Kind: "nut", Now: func() time.Time { return now },
		OnCritical: func(context.Context) error { acted = append(acted, "shutdown"); return nil }})
	step := func(r power.Reading, d time.Duration) {
		src.set(r, nil)
		for end := now.Add(d); now.Before(end); now = now.Add(5 * time.Second) {
			m.Poll(ctx)
		}
	}
	step(reading(true, false, 13.5, -1, 100), 2*time.Minute)
	if st := m.Status(); st.State != "OL CHRG" || st.Alert || st.LowPower || st.Source != "nut" {
		t.Fatalf("on mains: %+v", st)
	}
	step(reading(false, false, 12.4, 5, 70), 3*time.Minute)
	if st := m.Status(); st.State != "OB" || !st.Alert || !st.LowPower {
		t.Fatalf("on battery: %+v", st)
	}
	step(reading(false, true, 11.9, 5, 15), 3*time.Minute)
	if len(acted) != 1 {
		t.Fatalf("critical action ran %d times, want once", len(acted))
	}
	step(reading(true, false, 13.8, -8, 20), 3*time.Minute)

	var states []string
	var changes []node.PowerChanged
	for _, e := range eventsOfType(t, l, node.TypePowerChanged) {
		var p node.PowerChanged
		json.Unmarshal(e.Payload, &p)
		states = append(states, p.State)
		changes = append(changes, p)
	}
	// The battery fell from 70 to 15 % before LB held long enough: one
	// power.changed of the same state says so, with the state's start.
	want := []string{"OL CHRG", "OB", "OB", "OB LB", "OL CHRG"}
	if len(changes) == len(want) {
		if c := changes[2]; c.Previous != "OB" || c.Since == nil || changes[1].Since == nil || !c.Since.Equal(*changes[1].Since) {
			t.Errorf("the same-state report: %+v, want previous OB and the outage's start %v", c, changes[1].Since)
		}
	}
	if len(states) != len(want) {
		t.Fatalf("power.changed states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("power.changed states %v, want %v", states, want)
		}
	}
	if n := len(eventsOfType(t, l, node.TypePowerCritical)); n != 1 {
		t.Errorf("%d power.critical events, want 1", n)
	}
	if v := l.State().View(); v.Power == nil || v.Power.State != "OL CHRG" {
		t.Errorf("folded power = %+v", v.Power)
	}
}

func TestPowerSourceLostAndRestored(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	now := t0
	m := New(l, Options{Source: src, Kind: "nut", Now: func() time.Time { return now }})
	src.set(reading(true, false, 13.5, 0, 100), nil)
	m.Poll(ctx)
	src.set(power.Reading{}, errors.New("nut: dial tcp 127.0.0.1:3493: connection refused"))
	for i := 0; i < 2; i++ {
		m.Poll(ctx)
	}
	if !m.Status().SourceOK {
		t.Fatal("source lost after two failures, want three")
	}
	for i := 0; i < 5; i++ {
		m.Poll(ctx)
	}
	if m.Status().SourceOK {
		t.Fatal("source not reported lost")
	}
	src.set(reading(true, false, 13.5, 0, 100), nil)
	m.Poll(ctx)
	if !m.Status().SourceOK {
		t.Fatal("source not reported restored")
	}
	var states []string
	for _, e := range eventsOfType(t, l, node.TypePowerSource) {
		var p map[string]string
		json.Unmarshal(e.Payload, &p)
		states = append(states, p["state"])
	}
	if len(states) != 2 || states[0] != "lost" || states[1] != "restored" {
		t.Errorf("source events %v, want [lost restored]", states)
	}
}

// TestPowerHistoryBatches: samples become one row a minute, written only
// when flushed, and come back after a restart.
func TestPowerHistoryBatches(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), eventlog.FileName)
	l := openLog(t, file)
	hist := openHistory(t, file)
	src := &scriptSource{}
	now := t0
	m := New(l, Options{Source: src, Kind: "sim", Now: func() time.Time { return now }, History: hist})
	src.set(reading(false, false, 12.3, 4, math.NaN()), nil)
	for i := 0; i < 12*10; i++ { // 10 minutes at 5 s
		m.Poll(ctx)
		now = now.Add(5 * time.Second)
	}
	m.Poll(ctx)
	count := func() int {
		var n int
		if err := hist.r.QueryRow(`SELECT COUNT(*) FROM power_samples`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d rows before a flush: samples must be batched", n)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 10 {
		t.Fatalf("%d rows after 10 minutes, want 10", n)
	}
	h := m.History(t0)
	if len(h) != 10 || math.Abs(h[0].Volts-12.3) > 1e-9 || h[0].State != "OB" {
		t.Fatalf("history %+v", h)
	}
	m2 := New(l, Options{Source: src, Now: func() time.Time { return now }, History: openHistory(t, file)})
	if err := m2.loadHistory(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m2.History(t0); len(got) != 10 {
		t.Fatalf("history after restart: %d samples", len(got))
	}
	// Old rows go: after 8 days only a week remains.
	now = now.Add(8 * 24 * time.Hour)
	m.Poll(ctx)
	now = now.Add(time.Minute)
	m.Poll(ctx)
	m.Flush(ctx)
	if n := count(); n != 1 {
		t.Fatalf("%d rows after a week, want only the new one", n)
	}
}

func TestSourceRuntimeWins(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	now := t0
	m := New(l, Options{Source: src, Kind: "nut", Now: func() time.Time { return now },
		Battery: Battery{Chemistry: power.LeadAcid12V, CapacityAh: 100}})
	r := reading(false, false, 12.2, 5, 55)
	r.Runtime = 95 * time.Minute
	src.set(r, nil)
	m.Poll(ctx)
	st := m.Status()
	if st.Method != "source" || st.Runtime == nil || *st.Runtime != 95 || *st.BatteryPercent != 55 {
		t.Fatalf("status %+v", st)
	}
}

func TestGeneratorHours(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	now := t0
	counted := t0
	m := New(l, Options{Source: src, Kind: "sim", Now: func() time.Time { return now }, BurnRate: 2,
		Fuel: func() (float64, time.Time, bool) { return 20, counted, true }})
	r := reading(false, false, 13.2, -2, math.NaN())
	r.Generator = true
	src.set(r, nil)
	m.Poll(ctx)
	if st := m.Status(); st.GeneratorHours == nil || *st.GeneratorHours != 10 {
		t.Fatalf("at the count: %+v", st.GeneratorHours)
	}
	for i := 0; i < 12*90; i++ { // an hour and a half on the generator
		now = now.Add(5 * time.Second)
		m.Poll(ctx)
	}
	if st := m.Status(); st.GeneratorHours == nil || math.Abs(*st.GeneratorHours-8.5) > 0.05 {
		t.Fatalf("after 1.5 h running: %v h left, want 8.5", *st.GeneratorHours)
	}
	counted = now // staff count the fuel again: 20 L
	m.Poll(ctx)
	if st := m.Status(); math.Abs(*st.GeneratorHours-10) > 0.05 {
		t.Fatalf("after a new count: %v h", *st.GeneratorHours)
	}
}

// TestLongOutageReports: off the mains, the battery is reported as it
// falls, each ReportStep, so central's picture of a long outage is never
// the figure of its first minute; on the mains nothing but changes of
// state is.
func TestLongOutageReports(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	now := t0
	m := New(l, Options{Source: src, Kind: "sim", Now: func() time.Time { return now }})
	for pct := 95.0; pct >= 60; pct-- { // on the mains, charge wavering
		src.set(reading(true, false, 13.5, -1, pct), nil)
		m.Poll(ctx)
		now = now.Add(time.Minute)
	}
	for pct := 90.0; pct >= 35; pct -= 0.5 {
		src.set(reading(false, false, 12.2, 5, pct), nil)
		m.Poll(ctx)
		now = now.Add(time.Minute)
	}
	var got []string
	for _, e := range eventsOfType(t, l, node.TypePowerChanged) {
		var p node.PowerChanged
		json.Unmarshal(e.Payload, &p)
		pct := "-"
		if p.Percent != nil {
			pct = fmt.Sprintf("%.0f", *p.Percent)
		}
		got = append(got, p.State+"@"+pct)
	}
	want := []string{"OL CHRG@95", "OB@90", "OB@80", "OB@70", "OB@60", "OB@50", "OB@40"}
	if !slices.Equal(got, want) {
		t.Fatalf("power.changed %v\nwant %v", got, want)
	}
}

// TestLostSourceBacksOff: a source that stops answering is lost after
// LostAfter failures, shown as unknown with the reason (never its last
// state), asked again less and less often up to RetryMax, and makes one
// power.source_changed when lost and one when back, however long it stays
// away.
func TestLostSourceBacksOff(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, filepath.Join(t.TempDir(), eventlog.FileName))
	src := &scriptSource{}
	m := New(l, Options{Source: src, Kind: "hat:x728", Now: func() time.Time { return t0 }})

	// Never read yet: unknown, with why.
	noBus := errors.New("hat x728: no I2C bus /dev/i2c-1 on this machine: turn I2C on")
	src.set(power.Reading{}, noBus)
	m.Poll(ctx)
	if st := m.Status(); st.SourceOK || st.State != "" || st.SourceProblem != noBus.Error() {
		t.Fatalf("after a first failed read: %+v", st)
	}
	if d := m.next(); d != 5*time.Second {
		t.Errorf("wait after one failure %v, want the interval, 5s", d)
	}

	src.set(reading(true, false, 4.1, 0, 95), nil)
	m.Poll(ctx)
	if st := m.Status(); !st.SourceOK || st.State != "OL" || st.SourceProblem != "" {
		t.Fatalf("after a good read: %+v", st)
	}

	gone := errors.New("hat x728: max1704x at 0x36: read VCELL: sysfs-i2c: remote I/O error")
	src.set(power.Reading{}, gone)
	m.Poll(ctx)
	m.Poll(ctx)
	if st := m.Status(); !st.SourceOK || st.State != "OL" || st.SourceProblem != "" {
		t.Fatalf("two failures after a good read are not yet a loss: %+v", st)
	}
	var waits []time.Duration
	for i := 0; i < 8; i++ {
		m.Poll(ctx)
		waits = append(waits, m.next())
	}
	st := m.Status()
	if st.SourceOK || st.State != "" || st.BatteryPercent != nil || st.Alert || st.SourceProblem != gone.Error() {
		t.Errorf("lost: %+v; want unknown, no numbers, and the reason", st)
	}
	for i, want := range []time.Duration{10, 20, 40, 60, 60, 60, 60, 60} {
		want *= time.Second
		if w := waits[i]; w < want*8/10 || w > want*12/10 {
			t.Errorf("wait %d after the loss %v, want %v ± 20 %%", i+1, w, want)
		}
	}

	src.set(reading(true, false, 4.1, 0, 95), nil)
	m.Poll(ctx)
	if st := m.Status(); !st.SourceOK || st.State != "OL" || st.SourceProblem != "" || m.next() != 5*time.Second {
		t.Errorf("back: %+v, next %v", st, m.next())
	}
	var got []node.PowerSource
	for _, e := range eventsOfType(t, l, node.TypePowerSource) {
		var p node.PowerSource
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	want := []node.PowerSource{{Source: "hat:x728", State: "lost", Reason: gone.Error()}, {Source: "hat:x728", State: "restored"}}
	if !slices.Equal(got, want) {
		t.Errorf("source events %+v, want %+v", got, want)
	}
}
