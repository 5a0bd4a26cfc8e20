package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

var epoch = time.Date(2026, 1, 8, 18, 0, 0, 0, time.UTC)

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

// onBattery is a scenario with mains gone from the start and a constant
// load.
func onBattery(c power.Chemistry, ah, amps float64) Scenario {
	return Scenario{
		Battery: Battery{Chemistry: c, CapacityAh: ah},
		Load:    []LoadStep{{0, amps}},
		Outages: []Outage{{Lost: 0}},
	}
}

func mustNew(t *testing.T, s Scenario, opts *Opts) *Source {
	t.Helper()
	if opts == nil {
		opts = &Opts{Start: epoch}
	}
	src, err := New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// untilFlat steps src in chunks until the load is cut off and returns the
// simulated time it took, to within a chunk.
func untilFlat(t *testing.T, src *Source, chunk, limit time.Duration) time.Duration {
	t.Helper()
	for src.Truth().Elapsed < limit {
		src.Step(chunk)
		if tr := src.Truth(); tr.Flat {
			return tr.Elapsed
		}
	}
	t.Fatalf("still not flat after %v", limit)
	return 0
}

// TestPeukert: how long a full 100 Ah lead-acid bank carries a constant
// load, against Peukert's law t = H·(C/(I·H))^k with k = 1.2, H = 20 h,
// computed here independently of the model. Above the rated current C/H
// = 5 A the bank lasts less than Ah/A, below it longer.
func TestPeukert(t *testing.T) {
	const c, h, k = 100.0, 20.0, 1.2
	tests := []struct {
		amps     float64
		min, max time.Duration // plain bounds, besides Peukert's
	}{
		{amps: 1, min: 100 * time.Hour},
		{amps: 5, min: 14 * time.Hour, max: 20*time.Hour + time.Minute},
		{amps: 6, max: 16*time.Hour + 40*time.Minute}, // 100 Ah / 6 A
		{amps: 10, max: 10 * time.Hour},
		{amps: 25, max: 4 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%gA", tt.amps), func(t *testing.T) {
			want := time.Duration(h * math.Pow(c/(tt.amps*h), k) * float64(time.Hour))
			src := mustNew(t, onBattery(power.LeadAcid12V, c, tt.amps), nil)
			got := untilFlat(t, src, time.Minute, 2*want)
			// The disconnect may open a little before the last amp-hour on
			// the voltage, never after it.
			if got < want*98/100 || got > want+time.Minute {
				t.Errorf("%v A lasted %v; Peukert's law says %v", tt.amps, got, want)
			}
			if got < tt.min || (tt.max > 0 && got > tt.max) {
				t.Errorf("%v A lasted %v; want between %v and %v", tt.amps, got, tt.min, tt.max)
			}
			ah := time.Duration(c / tt.amps * float64(time.Hour))
			if tt.amps > c/h && got >= ah || tt.amps < c/h && got <= ah {
				t.Errorf("%v A lasted %v against %v by Ah/A: Peukert's law points the other way", tt.amps, got, ah)
			}
		})
	}
}

func TestOCV(t *testing.T) {
	tests := []struct {
		chem        power.Chemistry
		empty, full float64
		mid         [2]float64 // range of OCV over SoC 0.3–0.8
		minBow      float64    // least distance from the straight line between the ends somewhere, V
	}{
		{power.LeadAcid12V, 11.8, 12.7, [2]float64{12.1, 12.6}, 0.05},
		{power.LiFePO4x4, 10.0, 13.6, [2]float64{13.1, 13.3}, 1.5},
		{power.LiIon1S, 3.0, 4.2, [2]float64{3.6, 4.05}, 0.15},
		{power.LiIon2S, 6.0, 8.4, [2]float64{7.2, 8.1}, 0.3},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			cu := chemistries[tt.chem].curve
			if v := cu.ocv(0); math.Abs(v-tt.empty) > 0.01 {
				t.Errorf("empty %.3f V; want %.2f", v, tt.empty)
			}
			if v := cu.ocv(1); math.Abs(v-tt.full) > 0.01 {
				t.Errorf("full %.3f V; want %.2f", v, tt.full)
			}
			const n = 10000
			prev, bow := cu.ocv(0), 0.0
			for i := 1; i <= n; i++ {
				x := float64(i) / n
				v := cu.ocv(x)
				if v <= prev {
					t.Fatalf("not increasing at SoC %.4f: %.5f after %.5f", x, v, prev)
				}
				if v-prev > 0.01*(tt.full-tt.empty)+(tt.full-tt.empty)/n*50 {
					t.Errorf("jumps at SoC %.4f: %.5f after %.5f", x, v, prev)
				}
				if x >= 0.3 && x <= 0.8 && (v < tt.mid[0] || v > tt.mid[1]) {
					t.Errorf("SoC %.2f: %.3f V outside %v", x, v, tt.mid)
				}
				bow = max(bow, math.Abs(v-(tt.empty+(tt.full-tt.empty)*x)))
				prev = v
			}
			if bow < tt.minBow {
				t.Errorf("at most %.3f V off a straight line; the curve should bend at least %.2f V", bow, tt.minBow)
			}
		})
	}
}

// TestTerminalVoltage: under load the terminal voltage is below the resting
// voltage by about I·R plus the polarisation, and recovers towards it once
// the load stops; while charging it is above.
func TestTerminalVoltage(t *testing.T) {
	tests := []struct {
		chem power.Chemistry
		ah   float64
		amps float64
	}{
		{power.LeadAcid12V, 100, 10},
		{power.LiFePO4x4, 100, 20},
		{power.LiIon1S, 3, 1.5},
		{power.LiIon2S, 2.6, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			s := Scenario{
				Battery: Battery{Chemistry: tt.chem, CapacityAh: tt.ah, SoC: 0.6},
				Load:    []LoadStep{{0, tt.amps}, {30 * time.Minute, 0}},
				Outages: []Outage{{Lost: 0, Back: 2 * time.Hour}},
			}
			src := mustNew(t, s, nil)
			r := src.Step(29 * time.Minute)
			tr := src.Truth()
			r0 := chemistries[tt.chem].ohmAh / tt.ah
			drop := tr.OCV - r.Volts
			if r.Volts >= tr.OCV || drop < tt.amps*r0 || drop > 3*tt.amps*r0 {
				t.Errorf("under %v A: %.3f V against OCV %.3f V; want a drop between I·R = %.3f and 3·I·R", tt.amps, r.Volts, tr.OCV, tt.amps*r0)
			}

			// The load stops at 30 min: the voltage jumps by I·R and then
			// creeps up over minutes.
			r = src.Step(time.Minute + time.Second)
			justAfter := r.Volts
			r = src.Step(30 * time.Minute)
			tr = src.Truth()
			if !(justAfter < r.Volts && math.Abs(r.Volts-tr.OCV) < 0.002*tr.OCV) {
				t.Errorf("after the load: %.3f V, 30 min later %.3f V, OCV %.3f V; want a slow recovery to OCV", justAfter, r.Volts, tr.OCV)
			}
			if justAfter >= tr.OCV-0.1*tt.amps*r0 {
				t.Errorf("right after the load %.3f V is already at OCV %.3f V; want a lag", justAfter, tr.OCV)
			}

			r = src.Step(time.Hour) // mains back at 2 h
			tr = src.Truth()
			if !r.Charging || r.Volts <= tr.OCV {
				t.Errorf("charging %v at %.3f V against OCV %.3f V; want above", r.Charging, r.Volts, tr.OCV)
			}
		})
	}
}

// TestGenerator: the generator runs from its start until its stop or until
// its fuel is gone, at fuel/burn hours.
func TestGenerator(t *testing.T) {
	tests := []struct {
		name     string
		gen      Generator
		stops    time.Duration
		fuelLeft float64
	}{
		{"runs dry", Generator{Start: time.Hour, FuelL: 5, BurnLPH: 2}, 3*time.Hour + 30*time.Minute, 0},
		{"runs dry from the start", Generator{FuelL: 1, BurnLPH: 3}, 20 * time.Minute, 0},
		{"odd rate", Generator{Start: 10 * time.Minute, FuelL: 7.3, BurnLPH: 1.7}, 10*time.Minute + hours(7.3/1.7), 0},
		{"stopped first", Generator{Start: time.Hour, Stop: 2 * time.Hour, FuelL: 5, BurnLPH: 2}, 2 * time.Hour, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := onBattery(power.LeadAcid12V, 100, 4)
			s.Battery.SoC = 0.5 // so that the charger runs
			g := tt.gen
			s.Generator = &g
			src := mustNew(t, s, nil)
			if tt.gen.Start > 0 {
				if r := src.Step(tt.gen.Start - time.Second); r.Generator || r.Charging {
					t.Errorf("generator running before its start: %+v", r)
				}
				src.Step(time.Second)
			}
			if r := src.Step(tt.stops - src.Truth().Elapsed - 2*time.Second); !r.Generator || !r.Charging || r.OnMains {
				t.Errorf("at %v: generator %v charging %v; want both", src.Truth().Elapsed, r.Generator, r.Charging)
			}
			r := src.Step(4 * time.Second)
			tr := src.Truth()
			if r.Generator || tr.Generator || r.Charging || r.Amps != 4 {
				t.Errorf("at %v: generator %v charging %v amps %v; want it stopped, the battery carrying 4 A", tr.Elapsed, r.Generator, r.Charging, r.Amps)
			}
			if math.Abs(tr.Fuel-tt.fuelLeft) > 1e-3 {
				t.Errorf("fuel left %v; want %v", tr.Fuel, tt.fuelLeft)
			}
		})
	}
}

// TestCharging: on mains the charger raises the state of charge at its
// full current, times the coulombic efficiency, until the taper; near full
// the current falls and the voltage sits on the setpoint; in the end the
// charger stops or floats.
func TestCharging(t *testing.T) {
	tests := []struct {
		chem       power.Chemistry
		ah, amps   float64
		eff        float64
		cv, finish float64 // setpoint, voltage when done (float, or near OCV(1))
	}{
		{power.LeadAcid12V, 100, 10, 0.90, 14.4, 13.6},
		{power.LiFePO4x4, 100, 20, 0.99, 14.2, 13.6},
		{power.LiIon1S, 3, 1.5, 0.99, 4.2, 4.2},
		{power.LiIon2S, 2.6, 1.3, 0.99, 8.4, 8.4},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			s := Scenario{
				Battery: Battery{Chemistry: tt.chem, CapacityAh: tt.ah, SoC: 0.3},
				Charger: Charger{Amps: tt.amps},
			}
			src := mustNew(t, s, nil)
			// Half an hour at C/10 or more stays in the bulk phase.
			d := 30 * time.Minute
			r := src.Step(d)
			tr := src.Truth()
			want := 0.3 + tt.eff*tt.amps*d.Hours()/tt.ah
			if math.Abs(tr.SoC-want) > 0.005 || r.Amps != -tt.amps || !r.Charging {
				t.Errorf("after %v: SoC %.4f, %v A; want %.4f at %v A", d, tr.SoC, r.Amps, want, -tt.amps)
			}
			if r.Volts <= tr.OCV || r.Volts > tt.cv {
				t.Errorf("charging at %.3f V, OCV %.3f V; want between them and the setpoint %v", r.Volts, tr.OCV, tt.cv)
			}

			for tr.SoC < 0.985 && tr.Elapsed < 48*time.Hour {
				r = src.Step(time.Minute)
				tr = src.Truth()
			}
			if !r.Charging || -r.Amps >= tt.amps*0.5 || math.Abs(r.Volts-tt.cv) > 1e-9 {
				t.Errorf("at SoC %.3f: charging %v at %v A, %.3f V; want a tapering current at the setpoint %v V", tr.SoC, r.Charging, r.Amps, r.Volts, tt.cv)
			}

			r = src.Step(48 * time.Hour)
			tr = src.Truth()
			if r.Charging || r.Amps != 0 || tr.SoC < 0.99 || math.Abs(r.Volts-tt.finish) > 0.01*tt.finish {
				t.Errorf("after two days: charging %v, %v A, SoC %.4f, %.3f V; want done at about %v V", r.Charging, r.Amps, tr.SoC, r.Volts, tt.finish)
			}
		})
	}
}

// TestFlat: a battery run flat cuts off the load: the volts sit at the
// cutoff, no current flows, the truth says so; mains brings it back.
func TestFlat(t *testing.T) {
	tests := []struct {
		chem   power.Chemistry
		ah     float64
		amps   float64
		cutoff float64
	}{
		{power.LeadAcid12V, 7, 2, 10.5},
		{power.LiFePO4x4, 6, 3, 10.0},
		{power.LiIon1S, 2, 1, 3.0},
		{power.LiIon2S, 2.6, 0.8, 6.0},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			s := onBattery(tt.chem, tt.ah, tt.amps)
			s.Outages[0].Back = 24 * time.Hour
			src := mustNew(t, s, nil)
			flatAt := untilFlat(t, src, time.Second, 24*time.Hour)
			r := src.Step(time.Minute)
			tr := src.Truth()
			if r.Volts != tt.cutoff || r.Amps != 0 || r.Charging || r.LowBattery || tr.Runtime != 0 || !tr.Flat {
				t.Errorf("flat since %v: %+v, truth %+v; want %v V, 0 A, runtime 0", flatAt, r, tr, tt.cutoff)
			}
			if tr.SoC > 0.03 {
				t.Errorf("cut off at SoC %.3f; want near empty", tr.SoC)
			}
			r = src.Step(24*time.Hour - tr.Elapsed)
			if tr = src.Truth(); tr.Flat || !r.OnMains || !r.Charging {
				t.Errorf("mains back: flat %v on mains %v charging %v", tr.Flat, r.OnMains, r.Charging)
			}
		})
	}
}

// TestReadInterval: Read every second, every ten seconds or at odd
// intervals of wall time through a whole scenario passes through the same
// states. Each run also reads at a few common checkpoints (the generator
// running dry, the end), where the states are compared.
func TestReadInterval(t *testing.T) {
	type state struct {
		soc, volts, amps, fuel float64
		at                     time.Time
	}
	checkpoints := []time.Duration{20 * time.Second, 50 * time.Second, 65 * time.Second}
	run := func(t *testing.T, s Scenario, interval time.Duration) []state {
		wall := epoch
		src := mustNew(t, s, &Opts{Now: func() time.Time { return wall }})
		var got []state
		next := epoch
		for _, cp := range checkpoints {
			for ; next.Before(epoch.Add(cp)); next = next.Add(interval) {
				wall = next
				if _, err := src.Read(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			wall = epoch.Add(cp)
			r, err := src.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tr := src.Truth()
			got = append(got, state{tr.SoC, r.Volts, r.Amps, tr.Fuel, r.At})
		}
		return got
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 0.001*math.Max(math.Abs(a), math.Abs(b)) }
	ups, err := Load(scenarioDir + "/ups-smart.toml")
	if err != nil {
		t.Fatal(err)
	}
	ups.Sensor = Sensor{}
	for _, sc := range []Scenario{Default(), ups} {
		t.Run(sc.Name, func(t *testing.T) {
			base := run(t, sc, time.Second)
			if base[0] == base[1] || base[1] == base[2] {
				t.Fatalf("nothing happens between the checkpoints: %+v", base)
			}
			for _, interval := range []time.Duration{10 * time.Second, 370 * time.Millisecond, 3 * time.Second, time.Minute} {
				got := run(t, sc, interval)
				for i, g := range got {
					b := base[i]
					if !near(g.soc, b.soc) || !near(g.volts, b.volts) || !near(g.amps, b.amps) || !near(g.fuel, b.fuel) || !g.at.Equal(b.at) {
						t.Errorf("reading every %v, at %v of wall time: %+v; every second: %+v", interval, checkpoints[i], g, b)
					}
				}
			}
		})
	}
}

// TestTruthRuntime: under a constant load the true remaining time falls
// one hour per hour, and agrees with running the model until it is flat.
func TestTruthRuntime(t *testing.T) {
	tests := []struct {
		chem power.Chemistry
		ah   float64
		amps float64
	}{
		{power.LeadAcid12V, 100, 5},
		{power.LeadAcid12V, 100, 12},
		{power.LiFePO4x4, 100, 4},
		{power.LiIon2S, 2.6, 0.8},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			src := mustNew(t, onBattery(tt.chem, tt.ah, tt.amps), nil)
			start := src.Truth().Runtime
			if start <= 0 {
				t.Fatalf("runtime %v", start)
			}
			step := start / 10
			for i := 1; i <= 8; i++ {
				src.Step(step)
				got := src.Truth().Runtime
				want := start - time.Duration(i)*step
				if d := got - want; d < -start/200 || d > start/200 {
					t.Errorf("after %v: runtime %v; want about %v", time.Duration(i)*step, got, want)
				}
			}
			flat := untilFlat(t, src, time.Second, 2*start)
			if d := flat - start; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("flat after %v; the truth said %v at the start", flat, start)
			}
		})
	}
}

// TestRuntimePeukert: halving the load more than doubles the time left.
func TestRuntimePeukert(t *testing.T) {
	tests := []struct {
		chem power.Chemistry
		k    float64
	}{
		{power.LeadAcid12V, 1.2},
		{power.LiFePO4x4, 1.03},
	}
	for _, tt := range tests {
		t.Run(string(tt.chem), func(t *testing.T) {
			hi := mustNew(t, onBattery(tt.chem, 100, 10), nil).Truth().Runtime
			lo := mustNew(t, onBattery(tt.chem, 100, 5), nil).Truth().Runtime
			ratio := float64(lo) / float64(hi)
			if want := math.Pow(2, tt.k); math.Abs(ratio-want) > 0.01 {
				t.Errorf("runtime at 5 A / at 10 A = %.3f; want 2^k = %.3f", ratio, want)
			}
		})
	}
}

func TestTruthRuntimeUnbounded(t *testing.T) {
	tests := []struct {
		name string
		amps float64
	}{{"no load", 0}, {"a trickle", 0.001}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNew(t, onBattery(power.LeadAcid12V, 100, tt.amps), nil).Truth().Runtime; got >= 0 {
				t.Errorf("runtime %v; want negative (unbounded)", got)
			}
		})
	}
}

func TestReportPercent(t *testing.T) {
	tests := []struct {
		name   string
		report bool
	}{{"bare battery", false}, {"smart UPS", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := onBattery(power.LiIon2S, 2.6, 0.8)
			s.ReportPercent = tt.report
			src := mustNew(t, s, nil)
			r := src.Step(time.Hour)
			tr := src.Truth()
			if !tt.report {
				if power.Known(r.Percent) || r.Runtime >= 0 {
					t.Errorf("percent %v runtime %v; want NaN and negative", r.Percent, r.Runtime)
				}
				return
			}
			if r.Percent != math.Round(tr.SoC*100) {
				t.Errorf("percent %v; want %v", r.Percent, math.Round(tr.SoC*100))
			}
			// The gauge's naive estimate is close to the truth, not equal.
			if r.Runtime <= 0 || r.Runtime == tr.Runtime || math.Abs(float64(r.Runtime-tr.Runtime)) > 0.15*float64(tr.Runtime) {
				t.Errorf("runtime %v; truth %v", r.Runtime, tr.Runtime)
			}
			if r.LowBattery {
				t.Error("LowBattery set")
			}
		})
	}
}

// TestClock: Read maps wall time through Speed, Step moves the timeline,
// readings carry simulated time.
func TestClock(t *testing.T) {
	wall := epoch
	clock := func() time.Time { return wall }
	tests := []struct {
		name  string
		opts  Opts
		do    func(*Source) power.Reading
		want  time.Duration // simulated elapsed
		start time.Time
	}{
		{"first read starts the clock", Opts{Now: clock}, func(s *Source) power.Reading {
			r, _ := s.Read(context.Background())
			return r
		}, 0, epoch},
		{"ten wall seconds at 360", Opts{Now: clock, Start: epoch.Add(-10 * time.Second)}, func(s *Source) power.Reading {
			r, _ := s.Read(context.Background())
			return r
		}, time.Hour, epoch.Add(-10 * time.Second)},
		{"step then read", Opts{Now: clock, Start: epoch.Add(-10 * time.Second)}, func(s *Source) power.Reading {
			s.Step(2 * time.Hour)
			r, _ := s.Read(context.Background())
			return r
		}, 3 * time.Hour, epoch.Add(-10 * time.Second)},
		{"start in the future", Opts{Now: clock, Start: epoch.Add(time.Hour)}, func(s *Source) power.Reading {
			r, _ := s.Read(context.Background())
			return r
		}, 0, epoch.Add(time.Hour)},
		{"negative step", Opts{Now: clock, Start: epoch}, func(s *Source) power.Reading {
			s.Step(time.Hour)
			return s.Step(-time.Minute)
		}, time.Hour, epoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			src := mustNew(t, Default(), &opts)
			r := tt.do(src)
			tr := src.Truth()
			if tr.Elapsed != tt.want || !r.At.Equal(tt.start.Add(tt.want)) || !tr.At.Equal(r.At) {
				t.Errorf("elapsed %v, reading at %v, truth at %v; want %v, %v", tr.Elapsed, r.At, tr.At, tt.want, tt.start.Add(tt.want))
			}
		})
	}
}

func TestReadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustNew(t, Default(), nil).Read(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "sim: ") {
		t.Errorf("Read: %v; want sim: context canceled", err)
	}
}

// TestNoise: sensor noise has about the configured spread, leaves the
// truth alone, and is the same however the readings are taken.
func TestNoise(t *testing.T) {
	s := onBattery(power.LeadAcid12V, 100, 5)
	s.Sensor = Sensor{VoltsNoise: 0.02, AmpsNoise: 0.1}
	a, b := mustNew(t, s, nil), mustNew(t, s, nil)
	var sum, sq float64
	const n = 2000
	var ra power.Reading
	for range n {
		ra = a.Step(time.Second)
		tr := a.Truth()
		d := ra.Amps - tr.Amps
		sum += d
		sq += d * d
	}
	mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.01 || math.Abs(sd-0.1) > 0.01 {
		t.Errorf("amps noise mean %.4f sd %.4f; want 0 and 0.1", mean, sd)
	}
	b.Step(1234 * time.Second)
	if rb := b.Step(766 * time.Second); rb.Volts != ra.Volts || rb.Amps != ra.Amps || !rb.At.Equal(ra.At) {
		t.Errorf("same moment, different readings: %+v and %+v", rb, ra)
	}
}

// TestConcurrent is for the race detector.
func TestConcurrent(t *testing.T) {
	src := mustNew(t, Default(), &Opts{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 50 {
				switch i % 3 {
				case 0:
					if _, err := src.Read(context.Background()); err != nil {
						t.Error(err)
					}
				case 1:
					src.Step(time.Minute)
				default:
					src.Truth()
				}
			}
		})
	}
	wg.Wait()
}
