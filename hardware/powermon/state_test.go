package powermon

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)

func TestPowerStateString(t *testing.T) {
	for _, s := range []string{"OL", "OB LB", "GEN CHRG", "OL CHRG", "OB LB CHRG", ""} {
		if got := ParseState(s).String(); got != s {
			t.Errorf("round trip %q → %q", s, got)
		}
	}
	if !ParseState("LB OB").Critical() || ParseState("OL LB").Critical() {
		t.Error("Critical is OB with LB only")
	}
}

// TestFlappingMains: mains flapping at 2 Hz for a minute makes at most two
// committed changes (here: none until it settles, then one).
func TestFlappingMains(t *testing.T) {
	m := NewMachine(Holds{})
	now := t0
	m.Update(State{Supply: TokenOnline}, now)
	changes := 0
	for i := 0; i < 120; i++ { // 2 Hz: a flip every 250 ms
		now = now.Add(250 * time.Millisecond)
		supply := TokenOnline
		if i%2 == 0 {
			supply = TokenOnBattery
		}
		if m.Update(State{Supply: supply}, now) {
			changes++
		}
	}
	if changes > 2 {
		t.Fatalf("%d changes while flapping, want at most 2", changes)
	}
	if m.State().Supply != TokenOnline {
		t.Errorf("state after flapping = %v, want OL (never held OB for 10 s)", m.State())
	}
}

func TestSustainedLossIsOneChange(t *testing.T) {
	for _, hold := range []time.Duration{0 /* default 10 s */, 6 * time.Second, 45 * time.Second} {
		m := NewMachine(Holds{OnBattery: hold})
		want := hold
		if want == 0 {
			want = 10 * time.Second
		}
		now := t0
		m.Update(State{Supply: TokenOnline}, now)
		changes, changedAt := 0, time.Duration(-1)
		for d := time.Duration(0); d <= 2*time.Minute; d += time.Second {
			if m.Update(State{Supply: TokenOnBattery}, now.Add(d)) {
				changes++
				changedAt = d
			}
		}
		if changes != 1 || changedAt < want || changedAt > want+time.Second {
			t.Errorf("hold %v: %d changes, the first at %v; want exactly one at %v", hold, changes, changedAt, want)
		}
	}
}

func TestScriptedOutage(t *testing.T) {
	m := NewMachine(Holds{})
	script := []struct {
		until time.Duration
		raw   string
	}{
		{1 * time.Minute, "OL"},
		{3 * time.Minute, "OB"},
		{6 * time.Minute, "OB LB"},
		{10 * time.Minute, "OL CHRG"},
	}
	var seen []string
	criticalAt := time.Duration(-1)
	now := t0
	for d := time.Duration(0); d <= 10*time.Minute; d += time.Second {
		raw := ""
		for _, s := range script {
			if d < s.until {
				raw = s.raw
				break
			}
		}
		if m.Update(ParseState(raw), now.Add(d)) {
			seen = append(seen, m.State().String())
		}
		if criticalAt < 0 && m.Critical(now.Add(d)) {
			criticalAt = d
			seen = append(seen, "critical")
		}
	}
	want := []string{"OL", "OB", "OB LB", "critical", "OL CHRG"}
	if len(seen) != len(want) {
		t.Fatalf("sequence %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("sequence %v, want %v", seen, want)
		}
	}
	// OB LB committed at 3 min + 10 s; critical one hold (60 s) later.
	if criticalAt != 4*time.Minute+10*time.Second {
		t.Errorf("critical at %v", criticalAt)
	}
}
