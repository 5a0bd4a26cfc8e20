package power

import (
	"math"
	"sort"
)

// restingCurve maps resting (open-circuit) voltage to state of charge per
// chemistry, from published resting-voltage charts: {volts, fraction},
// ascending. It is what a meter can say about a battery from its voltage
// alone; the simulator (hardware/sim) has a model of its own on purpose, so
// that the estimator is tested against something it was not built from.
var restingCurve = map[Chemistry][][2]float64{
	LeadAcid12V: {{11.80, 0}, {11.90, .10}, {12.00, .20}, {12.08, .30}, {12.16, .40}, {12.24, .50},
		{12.32, .60}, {12.40, .70}, {12.50, .80}, {12.60, .90}, {12.70, 1}},
	LiFePO4x4: {{10.0, 0}, {12.0, .05}, {12.5, .09}, {12.8, .14}, {12.9, .17}, {13.0, .20},
		{13.13, .30}, {13.2, .40}, {13.25, .70}, {13.33, .90}, {13.45, .99}, {13.6, 1}},
	LiIon1S: {{3.00, 0}, {3.45, .05}, {3.68, .10}, {3.74, .20}, {3.77, .30}, {3.79, .40},
		{3.82, .50}, {3.87, .60}, {3.92, .70}, {3.98, .80}, {4.06, .90}, {4.20, 1}},
}

func init() {
	// Two Li-ion cells in series: the one-cell curve at twice the volts.
	two := make([][2]float64, len(restingCurve[LiIon1S]))
	for i, p := range restingCurve[LiIon1S] {
		two[i] = [2]float64{2 * p[0], p[1]}
	}
	restingCurve[LiIon2S] = two
}

// Charge reads a state of charge, a fraction 0–1, off the chemistry's
// resting-voltage curve, and says how much to trust it: the curve's slope
// there, in fraction per volt (the LiFePO4 plateau is nearly flat, so its
// voltage says little). Below the curve is 0, above it 1 (a charger's
// voltage reads full). An unknown chemistry gives NaN.
func (c Chemistry) Charge(volts float64) (soc, perVolt float64) {
	t := restingCurve[c]
	if len(t) == 0 || math.IsNaN(volts) {
		return math.NaN(), 0
	}
	if volts <= t[0][0] {
		return 0, 0
	}
	if volts >= t[len(t)-1][0] {
		return 1, 0
	}
	i := sort.Search(len(t), func(i int) bool { return t[i][0] >= volts })
	lo, hi := t[i-1], t[i]
	slope := (hi[1] - lo[1]) / (hi[0] - lo[0])
	return lo[1] + (volts-lo[0])*slope, slope
}

// Range is the resting voltage of an empty and of a full battery of the
// chemistry; ok is false for an unknown one.
func (c Chemistry) Range() (empty, full float64, ok bool) {
	t := restingCurve[c]
	if len(t) == 0 {
		return 0, 0, false
	}
	return t[0][0], t[len(t)-1][0], true
}
