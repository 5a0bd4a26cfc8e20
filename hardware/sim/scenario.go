package sim

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/safepoint-se/safepoint/hardware/power"
)

// Scenario is a timeline for the simulator: a battery, the load the point
// draws, when mains fails and returns, a generator. Times are simulated
// durations since the scenario start. Zero fields mean defaults, which are
// listed with each field and in docs/HARDWARE.md.
type Scenario struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`

	// Speed is simulated seconds per wall-clock second for Read: 360 plays
	// a six-hour storm in a minute. Zero means 1 (real time).
	Speed float64 `toml:"speed"`

	// ReportPercent makes the readings carry a state of charge and a
	// runtime, like a smart UPS. Without it the source is a bare battery
	// behind a voltage and current meter (a battery HAT): Percent is NaN
	// and Runtime negative.
	ReportPercent bool `toml:"report_percent"`

	Battery   Battery    `toml:"battery"`
	Charger   Charger    `toml:"charger"`
	Sensor    Sensor     `toml:"sensor"`
	Load      []LoadStep `toml:"load"`
	Outages   []Outage   `toml:"outage"`
	Generator *Generator `toml:"generator"` // nil: none
}

// Battery describes the battery bank. Chemistry and CapacityAh are required.
type Battery struct {
	Chemistry  power.Chemistry `toml:"chemistry"`
	CapacityAh float64         `toml:"capacity_ah"` // at the rated rate

	// SoC is the state of charge at the start, a fraction in (0, 1]. Zero
	// means 1 (full).
	SoC float64 `toml:"soc"`

	// Peukert is the Peukert exponent k, 1 to 1.6. Zero means the
	// chemistry's: 1.2 lead-acid, 1.03 LiFePO4, 1.05 Li-ion.
	Peukert float64 `toml:"peukert"`

	// RatedHours is the discharge time the capacity is rated at (H in
	// Peukert's law). Zero means 20 for lead-acid, 5 for lithium.
	RatedHours float64 `toml:"rated_hours"`

	// InternalOhms is the ohmic resistance when full; it doubles towards
	// empty. Zero means the chemistry's per-Ah figure over the capacity:
	// 1.2/Ah lead-acid (0.012 Ω at 100 Ah), 0.8/Ah LiFePO4 4S, 0.15/Ah
	// Li-ion 1S, 0.3/Ah Li-ion 2S.
	InternalOhms float64 `toml:"internal_ohms"`

	// Relaxation is the time constant of the polarisation lag, whose
	// resistance equals InternalOhms. Zero means 5 min lead-acid, 2 min
	// lithium.
	Relaxation time.Duration `toml:"relaxation"`

	// CutoffVolts is the low-voltage disconnect: under this the load is cut
	// off. Zero means 10.5 V lead-acid, 10.0 V LiFePO4 4S, 3.0 V per Li-ion
	// cell.
	CutoffVolts float64 `toml:"cutoff_volts"`
}

// Charger is the charger that runs on mains or generator power. The power
// supply carries the point's load then; the charger charges the battery.
type Charger struct {
	// Amps is the constant current of the bulk phase. Zero means C/10 for
	// lead-acid, C/5 LiFePO4, C/2 Li-ion.
	Amps float64 `toml:"amps"`
	// Volts is the constant-voltage (absorption) setpoint. Zero means
	// 14.4 V lead-acid, 14.2 V LiFePO4 4S, 4.2 V per Li-ion cell.
	Volts float64 `toml:"volts"`
	// FloatVolts is held once charged. Zero means 13.6 V for lead-acid;
	// lithium chargers switch off instead.
	FloatVolts float64 `toml:"float_volts"`
}

// Sensor adds measurement noise to the readings (not to the truth): a
// Gaussian with these standard deviations, a deterministic function of the
// simulated time so that readings do not depend on how often they are taken.
type Sensor struct {
	VoltsNoise float64 `toml:"volts_noise"`
	AmpsNoise  float64 `toml:"amps_noise"`
}

// LoadStep sets the current the point draws from At on. Before the first
// step the load is 0 A.
type LoadStep struct {
	At   time.Duration `toml:"at"`
	Amps float64       `toml:"amps"`
}

// Outage is a mains failure from Lost until Back; Back zero means mains
// never returns. With Times > 1 it recurs Times times, one every Every
// (flapping mains).
type Outage struct {
	Lost  time.Duration `toml:"lost"`
	Back  time.Duration `toml:"back"`
	Times int           `toml:"times"`
	Every time.Duration `toml:"every"`
}

// Generator starts at Start (zero: at the scenario start) and stops at
// Stop (zero: when its fuel is gone), burning BurnLPH litres an hour while
// it runs. It carries the load and runs the charger.
type Generator struct {
	Start   time.Duration `toml:"start"`
	Stop    time.Duration `toml:"stop"`
	FuelL   float64       `toml:"fuel_l"`
	BurnLPH float64       `toml:"burn_lph"`
}

// maxOutages bounds how many outages a scenario may expand to.
const maxOutages = 100000

// Default is the built-in scenario of --power sim and the demo: a six-hour
// storm over a 12 V 100 Ah lead-acid bank. Mains fails after ten minutes;
// a generator with 2.5 hours of fuel starts at 2 h 30 min and runs dry at
// 5 h; mains returns at 5 h 30 min. It plays in a minute. The same scenario
// ships as deploy/scenarios/storm-6h.toml.
func Default() Scenario {
	return Scenario{
		Name:        "storm-6h",
		Description: "Six-hour storm: mains lost at 10 min, generator from 2 h 30 min until its fuel runs out at 5 h, mains back at 5 h 30 min.",
		Speed:       360,
		Battery: Battery{
			Chemistry:  power.LeadAcid12V,
			CapacityAh: 100,
			SoC:        1,
			Peukert:    1.2,
		},
		Charger: Charger{Amps: 10},
		Load: []LoadStep{
			{At: 0, Amps: 2},
			{At: 20 * time.Minute, Amps: 4},
			{At: 45 * time.Minute, Amps: 6},
			{At: 90 * time.Minute, Amps: 3.5},
			{At: 2 * time.Hour, Amps: 5},
			{At: 3 * time.Hour, Amps: 6},
			{At: 4 * time.Hour, Amps: 3},
			{At: 5 * time.Hour, Amps: 2},
		},
		Outages: []Outage{{Lost: 10 * time.Minute, Back: 5*time.Hour + 30*time.Minute}},
		Generator: &Generator{
			Start:   2*time.Hour + 30*time.Minute,
			FuelL:   5,
			BurnLPH: 2,
		},
	}
}

// Load reads a scenario from a TOML file.
func Load(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: %w", err)
	}
	s, err := parse(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: %s: %w", path, err)
	}
	return s, nil
}

// Parse reads a scenario from TOML and validates it. Unknown keys are
// errors.
func Parse(b []byte) (Scenario, error) {
	s, err := parse(b)
	if err != nil {
		return Scenario{}, fmt.Errorf("sim: %w", err)
	}
	return s, nil
}

func parse(b []byte) (Scenario, error) {
	var s Scenario
	md, err := toml.Decode(string(b), &s)
	if err != nil {
		return Scenario{}, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return Scenario{}, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	if md.IsDefined("battery", "soc") && s.Battery.SoC == 0 {
		return Scenario{}, errors.New("battery.soc = 0 would mean the default (full); for a flat battery give a small fraction such as 0.001")
	}
	if err := s.validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// Validate reports the first thing wrong with a scenario.
func (s Scenario) Validate() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

func (s Scenario) validate() error {
	if !finite(s.Speed) || s.Speed < 0 {
		return fmt.Errorf("speed must be positive (simulated seconds per wall second), got %v", s.Speed)
	}
	b := s.Battery
	if b.Chemistry == "" {
		return fmt.Errorf("battery.chemistry missing; one of %s", chemistryList())
	}
	if !b.Chemistry.Valid() {
		return fmt.Errorf("battery.chemistry %q unknown; one of %s", b.Chemistry, chemistryList())
	}
	if !finite(b.CapacityAh) || b.CapacityAh <= 0 {
		return fmt.Errorf("battery.capacity_ah must be positive, got %v", b.CapacityAh)
	}
	if !finite(b.SoC) || b.SoC < 0 || b.SoC > 1 {
		return fmt.Errorf("battery.soc must be a fraction in (0, 1], got %v", b.SoC)
	}
	if b.Peukert != 0 && (!finite(b.Peukert) || b.Peukert < 1 || b.Peukert > 1.6) {
		return fmt.Errorf("battery.peukert must be between 1 and 1.6, got %v", b.Peukert)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"battery.rated_hours", b.RatedHours},
		{"battery.internal_ohms", b.InternalOhms},
		{"battery.cutoff_volts", b.CutoffVolts},
		{"charger.amps", s.Charger.Amps},
		{"charger.volts", s.Charger.Volts},
		{"charger.float_volts", s.Charger.FloatVolts},
		{"sensor.volts_noise", s.Sensor.VoltsNoise},
		{"sensor.amps_noise", s.Sensor.AmpsNoise},
	} {
		if !finite(f.v) || f.v < 0 {
			return fmt.Errorf("%s must not be negative, got %v", f.name, f.v)
		}
	}
	if b.Relaxation < 0 {
		return fmt.Errorf("battery.relaxation must not be negative, got %v", b.Relaxation)
	}
	c := chemistries[b.Chemistry]
	if b.CutoffVolts >= c.curve.full {
		return fmt.Errorf("battery.cutoff_volts %v is not below the full battery's %v V", b.CutoffVolts, c.curve.full)
	}
	if v := s.Charger.Volts; v != 0 && v < c.curve.full {
		return fmt.Errorf("charger.volts %v is below the full battery's %v V; it could not charge it", v, c.curve.full)
	}

	for i, l := range s.Load {
		if l.At < 0 {
			return fmt.Errorf("load[%d].at %v is before the start", i, l.At)
		}
		if !finite(l.Amps) || l.Amps < 0 {
			return fmt.Errorf("load[%d].amps must not be negative, got %v", i, l.Amps)
		}
		if i > 0 && l.At <= s.Load[i-1].At {
			return fmt.Errorf("load[%d].at %v is not after load[%d].at %v; list the steps in time order", i, l.At, i-1, s.Load[i-1].At)
		}
	}

	n := 0
	for i, o := range s.Outages {
		if o.Lost < 0 {
			return fmt.Errorf("outage[%d].lost %v is before the start", i, o.Lost)
		}
		if o.Back != 0 && o.Back <= o.Lost {
			return fmt.Errorf("outage[%d].back %v is not after its lost %v", i, o.Back, o.Lost)
		}
		if o.Times < 0 || o.Times > maxOutages {
			return fmt.Errorf("outage[%d].times must be between 0 and %d, got %d", i, maxOutages, o.Times)
		}
		if o.Every < 0 {
			return fmt.Errorf("outage[%d].every must not be negative, got %v", i, o.Every)
		}
		if o.Times > 1 {
			if o.Back == 0 {
				return fmt.Errorf("outage[%d] repeats but has no back", i)
			}
			if o.Every <= o.Back-o.Lost {
				return fmt.Errorf("outage[%d].every %v must be longer than the outage (%v) so that mains returns in between", i, o.Every, o.Back-o.Lost)
			}
		} else if o.Every != 0 {
			return fmt.Errorf("outage[%d].every given without times > 1", i)
		}
		if i > 0 {
			p := s.Outages[i-1]
			if p.Back == 0 {
				return fmt.Errorf("outage[%d] follows outage[%d], which never ends (no back)", i, i-1)
			}
			end := p.Back + time.Duration(max(p.Times-1, 0))*p.Every
			if o.Lost < end {
				return fmt.Errorf("outage[%d].lost %v is before outage[%d] ends at %v; list outages in time order without overlap", i, o.Lost, i-1, end)
			}
		}
		if n += max(o.Times, 1); n > maxOutages {
			return fmt.Errorf("more than %d outages", maxOutages)
		}
	}

	if g := s.Generator; g != nil {
		if g.Start < 0 {
			return fmt.Errorf("generator.start %v is before the start", g.Start)
		}
		if g.Stop != 0 && g.Stop <= g.Start {
			return fmt.Errorf("generator.stop %v is not after its start %v", g.Stop, g.Start)
		}
		if !finite(g.FuelL) || g.FuelL <= 0 {
			return fmt.Errorf("generator.fuel_l must be positive, got %v", g.FuelL)
		}
		if !finite(g.BurnLPH) || g.BurnLPH <= 0 {
			return fmt.Errorf("generator.burn_lph must be positive, got %v", g.BurnLPH)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func chemistryList() string {
	names := make([]string, len(power.Chemistries))
	for i, c := range power.Chemistries {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
