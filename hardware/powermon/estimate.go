package powermon

import (
	"math"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// Battery describes the point's battery bank, from its datasheet.
type Battery struct {
	Chemistry  power.Chemistry
	CapacityAh float64 // rated capacity (C20 for lead-acid)
	// Peukert is the Peukert exponent: about 1.1–1.3 for lead-acid, 1.02–1.05
	// for lithium. Zero takes the chemistry's typical value.
	Peukert float64
	// RatedHours is the discharge time the capacity is rated at: 20 for
	// lead-acid. Zero takes the chemistry's usual rating.
	RatedHours float64
	// Ohms is the bank's internal resistance, to correct voltage under load
	// to resting voltage. Zero takes a typical value for the chemistry.
	Ohms float64
}

func (b Battery) withDefaults() Battery {
	if b.Peukert <= 0 {
		b.Peukert = 1.03
		if b.Chemistry == power.LeadAcid12V {
			b.Peukert = 1.2
		}
	}
	if b.RatedHours <= 0 {
		b.RatedHours = 20
		if b.Chemistry != power.LeadAcid12V {
			b.RatedHours = 1
		}
	}
	if b.Ohms <= 0 {
		switch b.Chemistry {
		case power.LeadAcid12V:
			b.Ohms = 0.012
		case power.LiFePO4x4:
			b.Ohms = 0.008
		case power.LiIon2S:
			b.Ohms = 0.12
		default:
			b.Ohms = 0.06
		}
	}
	return b
}

// Estimate is the estimator's view of the battery.
type Estimate struct {
	Percent float64 // state of charge, 0–100; NaN when unknown
	// Runtime is the time left on battery at the present load, with a band
	// for its uncertainty; negative when unknown.
	Runtime, RuntimeLow, RuntimeHigh time.Duration
	// Method says where the runtime comes from: "source" (the UPS's own
	// figure, NUT), "coulomb" (counted current, anchored on voltage), or ""
	// when there is none.
	Method string
}

// Estimator turns readings into state of charge and time left. It counts
// charge (coulomb counting) with Peukert's correction, re-anchors on the
// resting voltage whenever the battery rests, and nudges toward the
// voltage-derived charge under load in proportion to how much the voltage
// curve says there. It is not safe for concurrent use.
type Estimator struct {
	bat Battery

	soc     float64 // 0–1; NaN until anchored
	sigma   float64 // standard deviation of soc
	load    float64 // smoothed Peukert-effective discharge current, A
	lastAt  time.Time
	restFor time.Duration // how long the current has been near zero
}

// Estimator time constants and limits.
const (
	loadTau      = 30 * time.Second // smoothing of the load
	restCurrent  = 0.001            // below this many A per Ah of capacity, the battery rests
	restAnchor   = 15 * time.Minute // rest this long re-anchors on voltage
	driftPerHour = 0.02             // coulomb counting's growing doubt, per hour
	maxStep      = 10 * time.Minute // a gap longer than this is not integrated
	grossError   = 0.15             // counting and voltage this far apart: counting is wrong
)

// NewEstimator returns an estimator for a battery.
func NewEstimator(b Battery) *Estimator {
	return &Estimator{bat: b.withDefaults(), soc: math.NaN(), load: math.NaN()}
}

// effective is the current that drains charge at the rate current i does,
// by Peukert's law: i·(i·H/C)^(k−1).
func (e *Estimator) effective(i float64) float64 {
	if i <= 0 {
		return i
	}
	b := e.bat
	return i * math.Pow(i*b.RatedHours/b.CapacityAh, b.Peukert-1)
}

// Update folds in a reading.
func (e *Estimator) Update(r power.Reading) {
	dt := r.At.Sub(e.lastAt)
	first := e.lastAt.IsZero()
	e.lastAt = r.At
	if first || dt <= 0 || dt > maxStep {
		dt = 0
	}
	if e.bat.CapacityAh <= 0 {
		return
	}
	amps := r.Amps
	if !power.Known(amps) {
		amps = 0 // unknown current: no counting, no resting either
		e.restFor = 0
	} else if math.Abs(amps) < restCurrent*e.bat.CapacityAh {
		e.restFor += dt
	} else {
		e.restFor = 0
	}

	// Smooth the effective load so one spike does not swing the estimate.
	eff := math.Max(0, e.effective(amps))
	if math.IsNaN(e.load) || dt == 0 {
		if math.IsNaN(e.load) {
			e.load = eff
		}
	} else {
		a := 1 - math.Exp(-dt.Seconds()/loadTau.Seconds())
		e.load += a * (eff - e.load)
	}

	// Count charge.
	if !math.IsNaN(e.soc) && dt > 0 && power.Known(r.Amps) {
		if amps > 0 {
			e.soc -= e.effective(amps) * dt.Hours() / e.bat.CapacityAh
		} else {
			e.soc -= amps * 0.95 * dt.Hours() / e.bat.CapacityAh // charging is 95 % efficient
		}
		e.soc = clamp(e.soc, 0, 1)
		e.sigma = math.Min(0.5, e.sigma+driftPerHour*dt.Hours())
	}

	// Anchor on voltage.
	if !power.Known(r.Volts) {
		if math.IsNaN(e.soc) && power.Known(r.Percent) {
			e.soc, e.sigma = r.Percent/100, 0.05
		}
		return
	}
	resting := r.Volts
	if amps > 0 {
		resting += amps * e.bat.Ohms // the drop across the internal resistance
	}
	vsoc, perVolt := e.bat.Chemistry.Charge(resting)
	if math.IsNaN(vsoc) {
		return
	}
	// How uncertain the voltage reading is, as charge: ±50 mV per cell-group
	// of meter and model error, through the curve's slope; more under load
	// and while charging, when the voltage is far from resting.
	vsigma := 0.05 * perVolt
	if r.Charging || amps < 0 {
		vsigma = math.Inf(1)
	}
	switch {
	case math.IsNaN(e.soc):
		e.soc, e.sigma = vsoc, math.Max(0.05, math.Min(0.3, vsigma))
		if math.IsInf(vsigma, 1) || r.Charging {
			// Charging: the voltage is the charger's; a bank on charge at
			// start is assumed nearly full until it proves otherwise.
			e.soc, e.sigma = 0.95, 0.1
		}
	case e.restFor >= restAnchor && vsigma < e.sigma:
		e.soc, e.sigma = vsoc, math.Max(0.03, vsigma)
	case amps > 0 && dt > 0 && e.grossly(resting, amps, vsoc):
		// Under load the voltage is biased by polarisation that no fixed
		// resistance captures, so counting is trusted, unless the two
		// disagree grossly (a wrong capacity setting, an aged bank, a
		// bad start): then move toward the voltage, slowly, over half an
		// hour.
		e.soc += (vsoc - e.soc) * math.Min(1, dt.Minutes()/30)
		e.sigma = math.Max(e.sigma, math.Abs(vsoc-e.soc))
	}
}

// grossly reports whether counted charge lies far outside what the voltage
// under load allows. The voltage is uncertain by the meter (±50 mV) and by
// polarisation as large again as the resistive drop; on a flat stretch of
// the curve (LiFePO4's plateau) that spans most of the range, and nothing
// is gross.
func (e *Estimator) grossly(resting, amps, vsoc float64) bool {
	d := 0.05 + amps*e.bat.Ohms
	lo, _ := e.bat.Chemistry.Charge(resting - d)
	hi, _ := e.bat.Chemistry.Charge(resting + d)
	return e.soc < lo-grossError || e.soc > hi+grossError
}

// Estimate reports the present estimate. A runtime the source gives itself
// wins over counting, and says so.
func (e *Estimator) Estimate(r power.Reading) Estimate {
	est := Estimate{Percent: math.NaN(), Runtime: -1, RuntimeLow: -1, RuntimeHigh: -1}
	switch {
	case power.Known(r.Percent):
		est.Percent = clamp(r.Percent, 0, 100)
	case !math.IsNaN(e.soc):
		est.Percent = 100 * e.soc
	}
	if r.Runtime >= 0 {
		est.Runtime, est.Method = r.Runtime, "source"
		est.RuntimeLow, est.RuntimeHigh = time.Duration(float64(r.Runtime)*0.8), time.Duration(float64(r.Runtime)*1.2)
		return est
	}
	if math.IsNaN(e.soc) || math.IsNaN(e.load) || e.load <= 0.005*e.bat.CapacityAh || e.bat.CapacityAh <= 0 {
		return est
	}
	hours := func(soc, load float64) time.Duration {
		return time.Duration(math.Max(0, soc) * e.bat.CapacityAh / load * float64(time.Hour))
	}
	est.Method = "coulomb"
	est.Runtime = hours(e.soc, e.load)
	// The band: the charge's uncertainty, and the load ±10 %.
	est.RuntimeLow = hours(e.soc-e.sigma, e.load*1.1)
	est.RuntimeHigh = hours(math.Min(1, e.soc+e.sigma), e.load*0.9)
	return est
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
