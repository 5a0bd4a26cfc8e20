package sim

import (
	"math"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// curve is a battery's resting (open-circuit) voltage as a smooth function
// of its state of charge x in [0, 1]:
//
//	OCV(x) = empty + lin·x
//	       + emptyW · (1 − e^(−x/emptyTau)) / (1 − e^(−1/emptyTau))
//	       + kneeW  · (σ((x−kneeAt)/kneeWidth) − σ(−kneeAt/kneeWidth)) / (σ((1−kneeAt)/kneeWidth) − σ(−kneeAt/kneeWidth))
//	       + fullW  · (e^((x−1)/fullTau) − e^(−1/fullTau)) / (1 − e^(−1/fullTau))
//
// with σ the logistic function and lin = full − empty − emptyW − kneeW −
// fullW. Every term is 0 at x = 0 and its weight at x = 1, so the ends are
// exact; every term rises, so the curve is monotonic. The first exponential
// is the steep fall near empty, the logistic the knee of lithium-ion's
// middle, the second exponential the rise near full.
type curve struct {
	empty, full         float64 // V at x = 0 and x = 1
	emptyW, emptyTau    float64
	kneeW, kneeAt, knee float64 // weight, centre, width
	fullW, fullTau      float64
}

func (c curve) ocv(x float64) float64 {
	x = min(max(x, 0), 1)
	lin := c.full - c.empty - c.emptyW - c.kneeW - c.fullW
	v := c.empty + lin*x
	if c.emptyW > 0 {
		v += c.emptyW * -math.Expm1(-x/c.emptyTau) / -math.Expm1(-1/c.emptyTau)
	}
	if c.kneeW > 0 {
		s := func(u float64) float64 { return 1 / (1 + math.Exp(-(u-c.kneeAt)/c.knee)) }
		v += c.kneeW * (s(x) - s(0)) / (s(1) - s(0))
	}
	if c.fullW > 0 {
		e1 := math.Exp(-1 / c.fullTau)
		v += c.fullW * (math.Exp((x-1)/c.fullTau) - e1) / (1 - e1)
	}
	return v
}

// scaled is the curve of n such batteries in series.
func (c curve) scaled(n float64) curve {
	c.empty *= n
	c.full *= n
	c.emptyW *= n
	c.kneeW *= n
	c.fullW *= n
	return c
}

// chemistry holds what a battery chemistry decides when the scenario leaves
// it out. Sources: manufacturers' resting-voltage charts (Victron, Battle
// Born, Panasonic NCR18650B), Peukert exponents as usually quoted, CC-CV
// charge settings of common chargers.
type chemistry struct {
	curve      curve
	peukert    float64       // Peukert exponent k
	ratedHours float64       // H: the discharge time the capacity is rated at
	ohmAh      float64       // internal resistance × capacity, Ω·Ah (resistance scales as 1/capacity)
	relax      time.Duration // time constant of the polarisation (RC) lag
	cutoff     float64       // low-voltage disconnect, V (under load)
	cvVolts    float64       // charger's constant-voltage (absorption) setpoint
	floatVolts float64       // float voltage once charged; 0 means the charger switches off
	taperSoC   float64       // state of charge where constant current gives way to the taper
	termFrac   float64       // charging ends when the current falls below this × charger current
	chargeEff  float64       // coulombic efficiency of charging
	chargeC    float64       // default charger current as a fraction of capacity (C-rate)
}

var liIonCell = curve{
	empty: 3.0, full: 4.2,
	emptyW: 0.55, emptyTau: 0.04,
	kneeW: 0.20, kneeAt: 0.70, knee: 0.08,
	fullW: 0.10, fullTau: 0.05,
}

var chemistries = map[power.Chemistry]chemistry{
	// 12 V lead-acid (AGM/gel/flooded): resting 11.8 V empty, 12.7 V full,
	// nearly linear with a softer fall near empty.
	power.LeadAcid12V: {
		curve: curve{
			empty: 11.8, full: 12.7,
			emptyW: 0.17, emptyTau: 0.10,
			fullW: 0.05, fullTau: 0.06,
		},
		peukert: 1.2, ratedHours: 20, ohmAh: 1.2, relax: 5 * time.Minute,
		cutoff: 10.5, cvVolts: 14.4, floatVolts: 13.6,
		taperSoC: 0.80, termFrac: 0.03, chargeEff: 0.90, chargeC: 0.10,
	},
	// LiFePO4 4S: a steep climb from 10.0 V, the flat 13.1–13.3 V plateau,
	// a short rise to 13.6 V at rest when full.
	power.LiFePO4x4: {
		curve: curve{
			empty: 10.0, full: 13.6,
			emptyW: 3.05, emptyTau: 0.04,
			fullW: 0.30, fullTau: 0.03,
		},
		peukert: 1.03, ratedHours: 5, ohmAh: 0.8, relax: 2 * time.Minute,
		cutoff: 10.0, cvVolts: 14.2,
		taperSoC: 0.95, termFrac: 0.05, chargeEff: 0.99, chargeC: 0.20,
	},
	power.LiIon1S: {
		curve:   liIonCell,
		peukert: 1.05, ratedHours: 5, ohmAh: 0.15, relax: 2 * time.Minute,
		cutoff: 3.0, cvVolts: 4.2,
		taperSoC: 0.85, termFrac: 0.05, chargeEff: 0.99, chargeC: 0.50,
	},
	power.LiIon2S: {
		curve:   liIonCell.scaled(2),
		peukert: 1.05, ratedHours: 5, ohmAh: 0.30, relax: 2 * time.Minute,
		cutoff: 6.0, cvVolts: 8.4,
		taperSoC: 0.85, termFrac: 0.05, chargeEff: 0.99, chargeC: 0.50,
	},
}

// emptyRise is how much the ohmic resistance grows towards empty:
// R0(x) = R·(1 + emptyRise·e^(−x/0.1)), about double at x = 0.
const emptyRise = 1.0

// battery is a scenario's battery with every default filled in.
type battery struct {
	curve      curve
	capacity   float64 // Ah at the rated rate
	peukert    float64
	ratedAmps  float64 // capacity / rated hours
	ohms       float64 // ohmic resistance when full
	polOhms    float64 // polarisation resistance of the RC lag
	tau        float64 // RC time constant, s
	cutoff     float64
	chargeAmps float64
	cvVolts    float64
	floatVolts float64
	taperSoC   float64
	termFrac   float64
	chargeEff  float64
}

// state is the model's state at a simulated time.
type state struct {
	t    time.Duration // since the scenario start
	soc  float64       // 0–1, relative to the capacity at the rated rate
	vrc  float64       // polarisation voltage, V; positive after discharging
	fuel float64       // generator fuel, L
	flat bool          // the low-voltage disconnect is open: the load is unsupplied
	full bool          // the charger has finished and stopped (or floats)
}

// inputs are what the scenario imposes during an interval.
type inputs struct {
	load  float64 // A the point draws
	mains bool
	gen   bool // the generator is scheduled to run (it runs while it has fuel)
}

func (b *battery) r0(soc float64) float64 {
	return b.ohms * (1 + emptyRise*math.Exp(-soc/0.1))
}

// peukertAmps is the current at the rated rate that drains the battery as
// fast as i does: I·(I/I_H)^(k−1). Equivalently, the capacity at current I is
// C·(C/(I·H))^(k−1).
func (b *battery) peukertAmps(i float64) float64 {
	return i * math.Pow(i/b.ratedAmps, b.peukert-1)
}

// chargeCurrent is the charger's current at a state of charge: constant up
// to taperSoC, then falling linearly to zero at full, which makes the state
// of charge approach 1 exponentially as under a constant-voltage charge.
func (b *battery) chargeCurrent(soc float64) float64 {
	return b.chargeAmps * min(1, (1-soc)/(1-b.taperSoC))
}

// drive decides the battery current (positive discharging) for a state and
// inputs, and updates the latches: external power closes the low-voltage
// disconnect and lets the charger run until it finishes; losing external
// power rearms the charger.
func (b *battery) drive(st *state, in inputs) (amps float64, external bool) {
	external = in.mains || (in.gen && st.fuel > 0)
	if !external {
		st.full = false
		if st.flat {
			return 0, false
		}
		return in.load, false
	}
	st.flat = false
	if st.full || b.chargeAmps == 0 {
		return 0, true
	}
	i := b.chargeCurrent(st.soc)
	if i < b.termFrac*b.chargeAmps {
		st.full = true
		return 0, true
	}
	return -i, true
}

// loaded is the terminal voltage with a current flowing:
// OCV − I·R0 − V_rc (I negative while charging).
func (b *battery) loaded(st *state, amps float64) float64 {
	return b.curve.ocv(st.soc) - amps*b.r0(st.soc) - st.vrc
}

// volts is the terminal voltage a meter on the battery would show.
func (b *battery) volts(st *state, amps float64, external bool) float64 {
	switch {
	case !external && st.flat:
		return b.cutoff
	case external && amps < 0:
		// Charging: the voltage climbs towards the charger's setpoint as the
		// bulk phase ends and sits on it during the taper.
		v := b.loaded(st, amps)
		w := smoothstep((st.soc - (b.taperSoC - 0.15)) / 0.15)
		return min(v+(b.cvVolts-v)*w, b.cvVolts)
	case external && st.full && b.floatVolts > 0:
		return b.floatVolts
	}
	return b.loaded(st, amps)
}

func smoothstep(u float64) float64 {
	u = min(max(u, 0), 1)
	return u * u * (3 - 2*u)
}

// integrate advances st by h seconds with constant inputs and a constant
// current. The polarisation lag is integrated exactly; the state of charge
// by the current, which is constant over the step except in the taper,
// where steps are short (at most a second).
func (b *battery) integrate(st *state, h float64, in inputs) {
	amps, external := b.drive(st, in)
	switch {
	case amps > 0:
		st.soc -= b.peukertAmps(amps) * h / 3600 / b.capacity
	case amps < 0:
		st.soc -= b.chargeEff * amps * h / 3600 / b.capacity
	}
	st.soc = min(max(st.soc, 0), 1)
	target := amps * b.polOhms
	st.vrc = target + (st.vrc-target)*math.Exp(-h/b.tau)
	if !external && amps > 0 && (st.soc <= 0 || b.loaded(st, amps) < b.cutoff) {
		st.flat = true
	}
}

// fuelEps is fuel too little to matter, L.
const fuelEps = 1e-9

// step advances st by h seconds of constant inputs, stopping the generator
// within the step if its fuel runs out.
func (b *battery) step(st *state, h, burn float64, in inputs) {
	if in.gen && st.fuel > 0 && burn > 0 {
		// A whisker of fuel left by rounding at an event counts as none.
		if need := burn * h; need >= st.fuel-fuelEps {
			h1 := min(st.fuel/burn, h)
			b.integrate(st, h1, in)
			st.fuel = 0
			if h > h1 {
				b.integrate(st, h-h1, in)
			}
			return
		}
		st.fuel -= burn * h
	}
	b.integrate(st, h, in)
}

// Steps of the forward run that measures the true remaining time, s.
const (
	runtimeFirst = 64.0
	runtimeMax   = 1 << 17 // about 36 h
	runtimeLimit = 365 * 24 * 3600.0
)

// runtime is the true time left on battery alone from st with load held
// constant: a forward run on a copy, with no mains and no generator, until
// the low-voltage disconnect opens. Negative means unbounded (no load, or
// more than a year).
//
// With the current constant, integrate is exact for any step length (the
// state of charge falls linearly, the lag is an exponential), so the run
// takes long strides: it doubles the step while the battery survives it and
// halves it when it would not, which finds the moment to a second in a few
// dozen steps.
func (b *battery) runtime(st state, load float64) time.Duration {
	st.full = false
	if load <= 0 {
		return -1
	}
	if st.flat {
		return 0
	}
	in := inputs{load: load}
	secs, h := 0.0, runtimeFirst
	for secs < runtimeLimit {
		next := st
		b.integrate(&next, h, in)
		if !next.flat {
			st, secs, h = next, secs+h, min(2*h, runtimeMax)
			continue
		}
		if h <= 1 {
			return time.Duration((secs + h) * float64(time.Second))
		}
		h /= 2
	}
	return -1
}
