package powermon

import (
	"strings"
	"time"
)

// Power state tokens, after NUT's ups.status words. A state holds exactly one
// supply token (OL, GEN or OB) and any of the flags LB and CHRG.
const (
	TokenOnline     = "OL"   // on mains
	TokenGenerator  = "GEN"  // a generator supplies the point
	TokenOnBattery  = "OB"   // on battery
	TokenLowBattery = "LB"   // battery low
	TokenCharging   = "CHRG" // battery charging
)

// State is a set of tokens, rendered in a fixed order: "OB LB".
type State struct {
	Supply   string // OL, GEN or OB; empty while nothing is known
	Low      bool
	Charging bool
}

// String renders the tokens: supply first, then LB, then CHRG.
func (s State) String() string {
	var t []string
	if s.Supply != "" {
		t = append(t, s.Supply)
	}
	if s.Low {
		t = append(t, TokenLowBattery)
	}
	if s.Charging {
		t = append(t, TokenCharging)
	}
	return strings.Join(t, " ")
}

// ParseState reads the form String writes; unknown tokens are ignored.
func ParseState(s string) State {
	var p State
	for _, t := range strings.Fields(s) {
		switch t {
		case TokenOnline, TokenGenerator, TokenOnBattery:
			p.Supply = t
		case TokenLowBattery:
			p.Low = true
		case TokenCharging:
			p.Charging = true
		}
	}
	return p
}

// Critical reports whether the state is on battery and low.
func (s State) Critical() bool { return s.Supply == TokenOnBattery && s.Low }

// Holds are how long a raw change must last before it counts (debouncing,
// as apcupsd's ONBATTERYDELAY). Zero fields take the defaults.
type Holds struct {
	OnBattery  time.Duration // mains or generator lost → OB; 10 s
	OnSupply   time.Duration // back to OL or GEN; 30 s: returning mains often flickers
	LowBattery time.Duration // LB set or cleared; 10 s
	Charging   time.Duration // CHRG set or cleared; 30 s
	Critical   time.Duration // OB LB held this long is critical; 60 s
}

func (h Holds) withDefaults() Holds {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&h.OnBattery, 10*time.Second)
	def(&h.OnSupply, 30*time.Second)
	def(&h.LowBattery, 10*time.Second)
	def(&h.Charging, 30*time.Second)
	def(&h.Critical, 60*time.Second)
	return h
}

// debounced is one token's committed value and the candidate waiting to
// replace it.
type debounced[T comparable] struct {
	value     T
	candidate T
	since     time.Time
}

// update offers a raw value at now; it commits when the raw value has held
// for hold. A value that flips back resets the wait, so flapping commits
// nothing.
func (d *debounced[T]) update(raw T, now time.Time, hold time.Duration) bool {
	if raw == d.value {
		d.candidate, d.since = raw, time.Time{}
		return false
	}
	if raw != d.candidate || d.since.IsZero() {
		d.candidate, d.since = raw, now
	}
	if now.Sub(d.since) >= hold {
		d.value, d.since = raw, time.Time{}
		return true
	}
	return false
}

// Machine debounces raw power states into committed ones. Each token
// has its own hold time; the first state seen commits at once, since there
// is nothing to debounce against. It is not safe for concurrent use.
type Machine struct {
	holds    Holds
	started  bool
	supply   debounced[string]
	low      debounced[bool]
	charging debounced[bool]
	critFrom time.Time // when the committed state became OB LB
}

// NewMachine returns a machine with the given hold times.
func NewMachine(h Holds) *Machine { return &Machine{holds: h.withDefaults()} }

// State is the committed state.
func (m *Machine) State() State {
	return State{Supply: m.supply.value, Low: m.low.value, Charging: m.charging.value}
}

// Update offers a raw state observed at now and reports whether the
// committed state changed.
func (m *Machine) Update(raw State, now time.Time) bool {
	if !m.started {
		m.started = true
		m.supply.value, m.low.value, m.charging.value = raw.Supply, raw.Low, raw.Charging
		m.noteCritical(now)
		return true
	}
	toBattery := raw.Supply == TokenOnBattery || raw.Supply == ""
	hold := m.holds.OnSupply
	if toBattery {
		hold = m.holds.OnBattery
	}
	if m.supply.update(raw.Supply, now, hold) {
		// The supply has changed for good: its flags come with it, as they
		// are now ("OB LB" becomes "OL CHRG", not "OL LB" and then "OL").
		m.low = debounced[bool]{value: raw.Low}
		m.charging = debounced[bool]{value: raw.Charging}
		m.noteCritical(now)
		return true
	}
	if raw.Supply != m.supply.value {
		// While the supply may be changing, the flags wait for it: the
		// battery does not stop being low because mains flickered back.
		return false
	}
	changed := m.low.update(raw.Low, now, m.holds.LowBattery)
	changed = m.charging.update(raw.Charging, now, m.holds.Charging) || changed
	if changed {
		m.noteCritical(now)
	}
	return changed
}

func (m *Machine) noteCritical(now time.Time) {
	if m.State().Critical() {
		if m.critFrom.IsZero() {
			m.critFrom = now
		}
	} else {
		m.critFrom = time.Time{}
	}
}

// Critical reports whether the committed state has been OB LB for the
// critical hold time at now.
func (m *Machine) Critical(now time.Time) bool {
	return !m.critFrom.IsZero() && now.Sub(m.critFrom) >= m.holds.Critical
}
