// Package sim is a power source that plays a scenario: a battery bank, the
// load the point draws, mains failures, a generator, all on a simulated
// clock that can run faster than the wall clock. It is for development,
// tests and the demo, and it is the reference that node's estimator is
// tested against, so it carries a battery model of its own (see Source)
// and exposes the true state through Truth.
//
// Times: a scenario runs on simulated time since its start. Read maps the
// wall clock onto it (elapsed wall time × Speed since Opts.Start); Step
// advances it directly. Readings are stamped with simulated time, Start
// plus the simulated elapsed time, so that an estimator measuring rates
// from Reading.At works in the same seconds as the battery; at Speed 360
// the stamps run six simulated hours ahead after a wall minute.
package sim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// Opts are the options of New. Zero fields mean defaults.
type Opts struct {
	// Now is the wall clock Read consults; nil means time.Now.
	Now func() time.Time
	// Start is the wall time the scenario starts at; zero means the time of
	// the first Read or Step.
	Start time.Time
}

// Source plays a scenario. It is safe for concurrent use.
//
// The model, per step of constant inputs lasting h seconds (I the battery
// current, positive discharging):
//
//   - Discharging, the state of charge falls by I·(I/I_H)^(k−1)·h/3600/C
//     (Peukert's law: capacity C·(C/(I·H))^(k−1) at current I; I_H = C/H).
//   - Charging, it rises by η·I·h/3600/C, η the coulombic efficiency. The
//     charger gives its full current up to a taper state of charge, then a
//     current falling linearly to zero at full; under a small fraction of
//     its current it stops (lithium) or floats (lead-acid).
//   - Open-circuit voltage is a smooth curve of the state of charge per
//     chemistry (see curve). Terminal voltage is OCV − I·R0(SoC) − V_rc,
//     R0 doubling towards empty, V_rc a first-order lag towards I·R1 with a
//     time constant of minutes. While charging it rises to the charger's
//     setpoint near the end of the bulk phase and stays there.
//   - On mains or a running generator the power supply carries the load
//     and the charger charges the battery. The generator burns fuel at a
//     constant rate and stops when the fuel is gone.
//   - On battery, when the state of charge reaches 0 or the terminal
//     voltage falls under the cutoff, the low-voltage disconnect opens: the
//     load goes unsupplied, the battery current is 0 and the reading shows
//     the cutoff voltage until mains or the generator return.
//
// Simulated time advances in steps of one second, cut at the scenario's
// events; the committed state only ever sits on that grid, and a Read
// between grid points reports a copy advanced to its moment. The result is
// therefore the same however often Read is called.
type Source struct {
	sc      Scenario
	bat     battery
	speed   float64
	burn    float64 // generator fuel per second, L
	loads   []LoadStep
	outages []span // sorted, disjoint
	genOn   span
	hasGen  bool
	events  []time.Duration // sorted, unique
	now     func() time.Time

	mu      sync.Mutex
	start   time.Time
	started bool
	offset  time.Duration // simulated time added by Step
	st      state         // committed, on the grid
	view    state         // st advanced to the last Read or Step
}

// span is a half-open interval of simulated time; end 0 means never ends.
type span struct{ from, to time.Duration }

func (s span) contains(t time.Duration) bool { return t >= s.from && (s.to == 0 || t < s.to) }

// grid is the longest integration step.
const grid = time.Second

// maxElapsed bounds how far one Read may carry the simulation, in ns, so
// that a clock far from Start cannot overflow a Duration.
const maxElapsed = float64(100 * 365 * 24 * time.Hour)

// New returns a source that plays s.
func New(s Scenario, opts *Opts) (*Source, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &Opts{}
	}
	src := &Source{
		sc:    s,
		speed: s.Speed,
		loads: slices.Clone(s.Load),
		now:   opts.Now,
		start: opts.Start,
	}
	if src.speed == 0 {
		src.speed = 1
	}
	if src.now == nil {
		src.now = time.Now
	}
	src.started = !src.start.IsZero()
	src.bat = newBattery(s)

	for _, o := range s.Outages {
		for i := range max(o.Times, 1) {
			d := time.Duration(i) * o.Every
			// Back is 0 (never) only for a single outage, where d is 0.
			src.outages = append(src.outages, span{o.Lost + d, o.Back + d})
		}
	}
	src.st.soc = or(s.Battery.SoC, 1)
	if g := s.Generator; g != nil {
		src.hasGen = true
		src.genOn = span{g.Start, g.Stop}
		src.burn = g.BurnLPH / 3600
		src.st.fuel = g.FuelL
	}

	seen := map[time.Duration]bool{}
	add := func(t time.Duration) {
		if t > 0 && !seen[t] {
			seen[t] = true
			src.events = append(src.events, t)
		}
	}
	for _, l := range s.Load {
		add(l.At)
	}
	for _, o := range src.outages {
		add(o.from)
		add(o.to)
	}
	if src.hasGen {
		add(src.genOn.from)
		add(src.genOn.to)
	}
	slices.Sort(src.events)

	src.view = src.st
	return src, nil
}

func newBattery(s Scenario) battery {
	b := s.Battery
	c := chemistries[b.Chemistry]
	bat := battery{
		curve:      c.curve,
		capacity:   b.CapacityAh,
		peukert:    or(b.Peukert, c.peukert),
		ohms:       or(b.InternalOhms, c.ohmAh/b.CapacityAh),
		tau:        time.Duration(or(float64(b.Relaxation), float64(c.relax))).Seconds(),
		cutoff:     or(b.CutoffVolts, c.cutoff),
		chargeAmps: or(s.Charger.Amps, c.chargeC*b.CapacityAh),
		cvVolts:    or(s.Charger.Volts, c.cvVolts),
		floatVolts: or(s.Charger.FloatVolts, c.floatVolts),
		taperSoC:   c.taperSoC,
		termFrac:   c.termFrac,
		chargeEff:  c.chargeEff,
	}
	bat.ratedAmps = b.CapacityAh / or(b.RatedHours, c.ratedHours)
	bat.polOhms = bat.ohms
	return bat
}

func or(x, def float64) float64 {
	if x == 0 {
		return def
	}
	return x
}

// inputs are the scenario's inputs in force at t.
func (s *Source) inputs(t time.Duration) inputs {
	var in inputs
	if i := sort.Search(len(s.loads), func(i int) bool { return s.loads[i].At > t }); i > 0 {
		in.load = s.loads[i-1].Amps
	}
	in.mains = true
	if i := sort.Search(len(s.outages), func(i int) bool { return s.outages[i].from > t }); i > 0 && s.outages[i-1].contains(t) {
		in.mains = false
	}
	in.gen = s.hasGen && s.genOn.contains(t)
	return in
}

// next is the end of the integration step that starts at t: the next grid
// point or event, whichever comes first.
func (s *Source) next(t time.Duration) time.Duration {
	n := (t/grid + 1) * grid
	if i := sort.Search(len(s.events), func(i int) bool { return s.events[i] > t }); i < len(s.events) && s.events[i] < n {
		n = s.events[i]
	}
	return n
}

func (s *Source) stepTo(st *state, t time.Duration) {
	s.bat.step(st, (t - st.t).Seconds(), s.burn, s.inputs(st.t))
	st.t = t
}

// advance moves the model to simulated time t (never backwards).
func (s *Source) advance(ctx context.Context, t time.Duration) error {
	if t < s.view.t {
		t = s.view.t
	}
	for n := 0; ; n++ {
		if n%(1<<16) == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("sim: %w", err)
			}
		}
		next := s.next(s.st.t)
		if next > t {
			break
		}
		s.stepTo(&s.st, next)
	}
	s.view = s.st
	if s.view.t < t {
		s.stepTo(&s.view, t)
	}
	return nil
}

// begin fixes the start at the first Read or Step, unless Opts gave it.
func (s *Source) begin(now time.Time) {
	if !s.started {
		s.start = now
		s.started = true
	}
}

// Read advances the simulation to the simulated time that corresponds to
// the wall clock now, Step offsets included, and returns what the battery
// shows then. Reading.At is simulated time.
func (s *Source) Read(ctx context.Context) (power.Reading, error) {
	if err := ctx.Err(); err != nil {
		return power.Reading{}, fmt.Errorf("sim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.begin(now)
	wall := max(now.Sub(s.start), 0)
	target := s.offset + time.Duration(min(float64(wall)*s.speed, maxElapsed))
	if err := s.advance(ctx, target); err != nil {
		return power.Reading{}, err
	}
	return s.reading(), nil
}

// Step advances the simulation by d of simulated time without consulting
// the wall clock and returns the reading at the end. Later Reads continue
// from there: Step moves the whole timeline forward by d. Negative d
// counts as 0.
func (s *Source) Step(d time.Duration) power.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.begin(s.now())
	}
	d = max(d, 0)
	s.offset += d
	_ = s.advance(context.Background(), s.view.t+d) // cannot fail: the context never ends
	return s.reading()
}

// observe is the battery current, external power and terminal voltage at
// the view's moment, with the latches brought up to date.
func (s *Source) observe() (in inputs, amps float64, external bool, volts float64) {
	in = s.inputs(s.view.t)
	amps, external = s.bat.drive(&s.view, in)
	volts = s.bat.volts(&s.view, amps, external)
	return in, amps, external, volts
}

func (s *Source) reading() power.Reading {
	in, amps, _, volts := s.observe()
	r := power.Unknown(s.start.Add(s.view.t))
	r.OnMains = in.mains
	r.Generator = in.gen && s.view.fuel > 0
	r.Charging = amps < 0
	r.Volts = volts + s.sc.Sensor.VoltsNoise*noise(s.view.t, 1)
	r.Amps = amps + s.sc.Sensor.AmpsNoise*noise(s.view.t, 2)
	if s.sc.ReportPercent {
		// A smart UPS's fuel gauge: the state of charge in whole percent
		// and the naive remaining Ah over the present load, without
		// Peukert, as such gauges estimate.
		r.Percent = math.Round(s.view.soc * 100)
		switch {
		case s.view.flat:
			r.Runtime = 0
		case in.load > 0:
			r.Runtime = time.Duration(s.view.soc * s.bat.capacity / in.load * float64(time.Hour))
		}
	}
	return r
}

// Truth is the simulator's true state at the moment of the last Read or
// Step (or the start, before the first).
type Truth struct {
	At      time.Time     // simulated time, as in Reading.At
	Elapsed time.Duration // simulated time since the scenario start

	SoC         float64 // state of charge, 0–1, against the capacity at the rated rate
	RemainingAh float64 // SoC × capacity: what is left at the rated rate

	// Runtime is the true time left on battery alone at the present load:
	// the model run forward on a copy, the load held constant, no mains,
	// no generator, until the low-voltage disconnect opens. While on mains
	// it is the time the battery would last if mains failed now. Negative
	// when unbounded: no load, or more than a year.
	Runtime time.Duration

	Load  float64 // A the point draws
	Volts float64 // terminal voltage, without sensor noise
	Amps  float64 // battery current, positive discharging, without sensor noise
	OCV   float64 // open-circuit (resting) voltage at this state of charge

	Mains     bool
	Generator bool    // running
	Fuel      float64 // generator fuel left, L
	Charging  bool
	Flat      bool // the low-voltage disconnect is open: the load is unsupplied
}

// Truth returns the true state. It does not advance the simulation.
func (s *Source) Truth() Truth {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, amps, external, volts := s.observe()
	t := Truth{
		At:          s.start.Add(s.view.t),
		Elapsed:     s.view.t,
		SoC:         s.view.soc,
		RemainingAh: s.view.soc * s.bat.capacity,
		Runtime:     s.bat.runtime(s.view, in.load),
		Load:        in.load,
		Volts:       volts,
		Amps:        amps,
		OCV:         s.bat.curve.ocv(s.view.soc),
		Mains:       in.mains,
		Generator:   in.gen && s.view.fuel > 0,
		Fuel:        s.view.fuel,
		Charging:    amps < 0,
		Flat:        s.view.flat && !external,
	}
	return t
}

// noise is a standard normal deviate that depends only on the simulated
// time and a stream number (Box–Muller over a splitmix64 hash).
func noise(t time.Duration, stream uint64) float64 {
	h1 := splitmix(uint64(t)*0x9e3779b97f4a7c15 ^ stream)
	h2 := splitmix(h1 ^ stream<<32)
	u1 := (float64(h1>>11) + 0.5) / (1 << 53)
	u2 := float64(h2>>11) / (1 << 53)
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
