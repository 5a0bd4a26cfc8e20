// Package power defines what every power source reports: one Reading per
// poll. Sources (hardware/sim, hardware/nut, periph.io HAT drivers) return
// it; node's power monitor, which declares the interface it needs, turns
// readings into state, estimates and events.
package power

import (
	"math"
	"time"
)

// Reading is one observation of the point's power. Unknown numbers are NaN
// (use Known); a source fills in what it can measure.
type Reading struct {
	At time.Time // when the reading was taken, by the source's clock

	OnMains    bool // mains power present
	Generator  bool // a generator is running and supplying the point
	LowBattery bool // the source itself says the battery is low (NUT's LB)
	Charging   bool // the battery is being charged

	Volts   float64 // battery terminal voltage, V
	Amps    float64 // battery current, A: positive discharging, negative charging
	Percent float64 // state of charge the source reports, 0–100

	// Runtime is the source's own estimate of the time left on battery,
	// negative when it gives none.
	Runtime time.Duration
}

// Unknown returns a reading that knows nothing but its time.
func Unknown(at time.Time) Reading {
	return Reading{At: at, Volts: math.NaN(), Amps: math.NaN(), Percent: math.NaN(), Runtime: -1}
}

// Known reports whether a measured number is present.
func Known(x float64) bool { return !math.IsNaN(x) }

// Chemistry names a battery chemistry, which decides its voltage curve.
type Chemistry string

// The chemistries the estimator and the simulator know.
const (
	LeadAcid12V Chemistry = "lead-acid-12v" // 6 cells, 12 V nominal (AGM, gel, flooded)
	LiFePO4x4   Chemistry = "lifepo4-4s"    // 4 cells, 12.8 V nominal
	LiIon2S     Chemistry = "li-ion-2s"     // 2 cells, 7.4 V nominal (Waveshare UPS HAT)
	LiIon1S     Chemistry = "li-ion-1s"     // 1 cell, 3.7 V nominal (X728, PiJuice)
)

// Chemistries lists them.
var Chemistries = []Chemistry{LeadAcid12V, LiFePO4x4, LiIon2S, LiIon1S}

// Valid reports whether c is a known chemistry.
func (c Chemistry) Valid() bool {
	for _, x := range Chemistries {
		if x == c {
			return true
		}
	}
	return false
}
