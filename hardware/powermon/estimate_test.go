package powermon

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/hardware/sim"
)

var updatePlot = flag.Bool("update-plot", false, "write docs/power-estimate-error.svg")

// estimatorCase is one discharge the estimator is checked against the
// simulator on. Battery parameters are what an installer reads off the
// datasheet; the simulator's physics are its own.
type estimatorCase struct {
	name  string
	bat   sim.Battery
	loads []sim.LoadStep
	noise bool
}

func estimatorCases() []estimatorCase {
	lead := sim.Battery{Chemistry: power.LeadAcid12V, CapacityAh: 100, Peukert: 1.2, RatedHours: 20}
	lfp := sim.Battery{Chemistry: power.LiFePO4x4, CapacityAh: 100, Peukert: 1.03, RatedHours: 5}
	steps := func(a ...float64) []sim.LoadStep {
		var out []sim.LoadStep
		for i, amps := range a {
			out = append(out, sim.LoadStep{At: time.Duration(i) * 90 * time.Minute, Amps: amps})
		}
		return out
	}
	return []estimatorCase{
		{"lead-acid constant 8 A", lead, steps(8), false},
		{"lead-acid stepped 4-12-6 A", lead, steps(4, 12, 6, 10), false},
		{"lead-acid stepped, noisy sensors", lead, steps(5, 9, 3, 12), true},
		{"LiFePO4 constant 15 A", lfp, steps(15), false},
		{"LiFePO4 stepped 8-20-12 A", lfp, steps(8, 20, 12, 25), false},
	}
}

type errorPoint struct {
	discharged float64 // fraction of the starting charge used
	relErr     float64 // (estimate − truth) / truth
}

// runEstimator discharges a full battery from mains loss to cutoff and
// returns the estimator's relative error along the way.
func runEstimator(t *testing.T, c estimatorCase) []errorPoint {
	t.Helper()
	sc := sim.Scenario{Speed: 1, Battery: c.bat, Load: c.loads,
		// An hour on mains first, so the estimator starts as a node would:
		// on a charged bank, then the mains go.
		Outages: []sim.Outage{{Lost: time.Hour}}}
	if c.noise {
		sc.Sensor = sim.Sensor{VoltsNoise: 0.02, AmpsNoise: 0.1}
	}
	src, err := sim.New(sc, &sim.Opts{Start: t0, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	est := NewEstimator(Battery{Chemistry: c.bat.Chemistry, CapacityAh: c.bat.CapacityAh,
		Peukert: c.bat.Peukert, RatedHours: c.bat.RatedHours})
	var points []errorPoint
	startSoC := -1.0
	var lastStep time.Duration = -1
	for i := 0; i < 200000; i++ {
		r := src.Step(10 * time.Second)
		est.Update(r)
		truth := src.Truth()
		if truth.Flat {
			break
		}
		if truth.Mains {
			continue
		}
		if startSoC < 0 {
			startSoC = truth.SoC
		}
		for _, l := range c.loads {
			if l.At <= truth.Elapsed {
				lastStep = l.At
			}
		}
		e := est.Estimate(r)
		if e.Runtime < 0 || truth.Runtime <= 0 {
			t.Fatalf("%s: at %v no estimate (%v) or no truth (%v)", c.name, truth.Elapsed, e.Runtime, truth.Runtime)
		}
		// The load just changed: the estimate follows within two minutes.
		if truth.Elapsed-lastStep < 2*time.Minute && lastStep > 0 {
			continue
		}
		if truth.Runtime < 20*time.Minute {
			break // the tail: see TestEstimatorAgainstSimulator
		}
		points = append(points, errorPoint{
			discharged: (startSoC - truth.SoC) / startSoC,
			relErr:     (e.Runtime.Minutes() - truth.Runtime.Minutes()) / truth.Runtime.Minutes(),
		})
	}
	return points
}

// TestEstimatorAgainstSimulator: after the first 10 % of discharge the
// estimate is within 15 % of the simulator's true remaining time, until
// the last 20 minutes (where any error is a large share of what is left).
func TestEstimatorAgainstSimulator(t *testing.T) {
	var series [][]errorPoint
	for _, c := range estimatorCases() {
		t.Run(c.name, func(t *testing.T) {
			points := runEstimator(t, c)
			series = append(series, points)
			checked, worst := 0, 0.0
			for _, p := range points {
				if p.discharged < 0.10 {
					continue
				}
				checked++
				worst = math.Max(worst, math.Abs(p.relErr))
				if math.Abs(p.relErr) > 0.15 {
					t.Fatalf("at %.0f %% discharged the estimate is off by %+.1f %%", 100*p.discharged, 100*p.relErr)
				}
			}
			if checked < 100 {
				t.Fatalf("only %d points checked", checked)
			}
			t.Logf("%d points, worst error %.1f %%", checked, 100*worst)
		})
	}
	if *updatePlot {
		writeErrorPlot(t, "../docs/power-estimate-error.svg", series)
	}
}

// writeErrorPlot draws the relative error against depth of discharge as a
// small standalone SVG.
func writeErrorPlot(t *testing.T, path string, series [][]errorPoint) {
	const w, h, pad = 640, 320, 40
	x := func(d float64) float64 { return pad + d*(w-2*pad) }
	y := func(e float64) float64 { return h/2 - e/0.30*(h/2-pad) } // ±30 % full scale
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	for _, e := range []float64{-0.15, 0.15} {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="4 3"/>`+"\n", pad, w-pad, y(e), y(e))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#999"/>`+"\n", pad, w-pad, y(0), y(0))
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="2 2"/>`+"\n", x(0.1), x(0.1), pad, h-pad)
	fmt.Fprintf(&b, `<text x="%d" y="%d">runtime estimate error vs. simulator truth (dashed red: ±15 %%; grey: 10 %% discharged)</text>`+"\n", pad, pad-12)
	fmt.Fprintf(&b, `<text x="%d" y="%d">depth of discharge →</text>`+"\n", w-pad-110, h-pad+16)
	colours := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"}
	cases := estimatorCases()
	for i, pts := range series {
		var d strings.Builder
		for j, p := range pts {
			if j%6 != 0 {
				continue
			}
			e := math.Max(-0.3, math.Min(0.3, p.relErr))
			fmt.Fprintf(&d, "%.1f,%.1f ", x(p.discharged), y(e))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colours[i%len(colours)], d.String())
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", w-pad-200, pad+14+12*i, colours[i%len(colours)], cases[i].name)
	}
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
