package sim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/power"
)

const scenarioDir = "../../deploy/scenarios"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Scenario
	}{{
		name: "minimal",
		in: `[battery]
chemistry = "lead-acid-12v"
capacity_ah = 100`,
		want: Scenario{Battery: Battery{Chemistry: power.LeadAcid12V, CapacityAh: 100}},
	}, {
		name: "every key",
		in: `name = "all"
description = "every key"
speed = 360
report_percent = true

[battery]
chemistry = "lifepo4-4s"
capacity_ah = 200
soc = 0.8
peukert = 1.04
rated_hours = 10
internal_ohms = 0.005
relaxation = "3m"
cutoff_volts = 11.0

[charger]
amps = 40
volts = 14.3
float_volts = 13.5

[sensor]
volts_noise = 0.01
amps_noise = 0.05

[[load]]
at = "0s"
amps = 3

[[load]]
at = "1h30m"
amps = 4.5

[[outage]]
lost = "1m"
back = "1m0.5s"
times = 3
every = "1s"

[[outage]]
lost = "10m"

[generator]
start = "20m"
stop = "5h"
fuel_l = 20
burn_lph = 1.5`,
		want: Scenario{
			Name: "all", Description: "every key", Speed: 360, ReportPercent: true,
			Battery: Battery{
				Chemistry: power.LiFePO4x4, CapacityAh: 200, SoC: 0.8, Peukert: 1.04, RatedHours: 10,
				InternalOhms: 0.005, Relaxation: 3 * time.Minute, CutoffVolts: 11,
			},
			Charger: Charger{Amps: 40, Volts: 14.3, FloatVolts: 13.5},
			Sensor:  Sensor{VoltsNoise: 0.01, AmpsNoise: 0.05},
			Load:    []LoadStep{{0, 3}, {90 * time.Minute, 4.5}},
			Outages: []Outage{
				{Lost: time.Minute, Back: time.Minute + 500*time.Millisecond, Times: 3, Every: time.Second},
				{Lost: 10 * time.Minute},
			},
			Generator: &Generator{Start: 20 * time.Minute, Stop: 5 * time.Hour, FuelL: 20, BurnLPH: 1.5},
		},
	}, {
		name: "generator with only a stop runs from the start",
		in: `[battery]
chemistry = "li-ion-1s"
capacity_ah = 3
[generator]
stop = "2h"
fuel_l = 1
burn_lph = 0.5`,
		want: Scenario{
			Battery:   Battery{Chemistry: power.LiIon1S, CapacityAh: 3},
			Generator: &Generator{Stop: 2 * time.Hour, FuelL: 1, BurnLPH: 0.5},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const bat = "[battery]\nchemistry = \"lead-acid-12v\"\ncapacity_ah = 100\n"
	tests := []struct {
		name, in, want string
	}{
		{"not toml", "speed = = 3", "sim: toml:"},
		{"unknown top-level key", "sped = 3\n" + bat, "unknown key sped"},
		{"unknown battery key", "[battery]\nchemistry = \"lead-acid-12v\"\ncapacity_ah = 100\ncapcity = 5\n", "unknown key battery.capcity"},
		{"unknown load key", bat + "[[load]]\nat = \"0s\"\namp = 3\n", "unknown key load.amp"},
		{"no battery", "speed = 1\n", "battery.chemistry missing"},
		{"unknown chemistry", "[battery]\nchemistry = \"nicd\"\ncapacity_ah = 5\n", `battery.chemistry "nicd" unknown; one of lead-acid-12v, lifepo4-4s, li-ion-2s, li-ion-1s`},
		{"negative capacity", "[battery]\nchemistry = \"lead-acid-12v\"\ncapacity_ah = -100\n", "battery.capacity_ah must be positive, got -100"},
		{"no capacity", "[battery]\nchemistry = \"lead-acid-12v\"\n", "battery.capacity_ah must be positive, got 0"},
		{"soc as percent", bat + "soc = 95\n", "battery.soc must be a fraction in (0, 1], got 95"},
		{"soc zero", bat + "soc = 0\n", "battery.soc = 0 would mean the default (full)"},
		{"peukert below 1", bat + "peukert = 0.9\n", "battery.peukert must be between 1 and 1.6, got 0.9"},
		{"negative resistance", bat + "internal_ohms = -0.01\n", "battery.internal_ohms must not be negative"},
		{"cutoff above full", bat + "cutoff_volts = 13\n", "battery.cutoff_volts 13 is not below the full battery's 12.7 V"},
		{"charger below full", bat + "[charger]\nvolts = 12\n", "charger.volts 12 is below the full battery's 12.7 V"},
		{"negative speed", "speed = -1\n" + bat, "speed must be positive"},
		{"bad duration", bat + "[[load]]\nat = \"10 minutes\"\namps = 1\n", "10 minutes"},
		{"load out of order", bat + "[[load]]\nat = \"1h\"\namps = 1\n[[load]]\nat = \"30m\"\namps = 2\n", "load[1].at 30m0s is not after load[0].at 1h0m0s; list the steps in time order"},
		{"load at the same time", bat + "[[load]]\nat = \"1h\"\namps = 1\n[[load]]\nat = \"1h\"\namps = 2\n", "load[1].at 1h0m0s is not after load[0].at 1h0m0s"},
		{"negative load", bat + "[[load]]\nat = \"0s\"\namps = -1\n", "load[0].amps must not be negative"},
		{"load before start", bat + "[[load]]\nat = \"-1m\"\namps = 1\n", "load[0].at -1m0s is before the start"},
		{"back before lost", bat + "[[outage]]\nlost = \"1h\"\nback = \"30m\"\n", "outage[0].back 30m0s is not after its lost 1h0m0s"},
		{"outages overlap", bat + "[[outage]]\nlost = \"1h\"\nback = \"2h\"\n[[outage]]\nlost = \"90m\"\nback = \"3h\"\n", "outage[1].lost 1h30m0s is before outage[0] ends at 2h0m0s"},
		{"outage after a permanent one", bat + "[[outage]]\nlost = \"1h\"\n[[outage]]\nlost = \"2h\"\n", "outage[1] follows outage[0], which never ends"},
		{"repeats overlap the next", bat + "[[outage]]\nlost = \"0s\"\nback = \"1s\"\ntimes = 10\nevery = \"2s\"\n[[outage]]\nlost = \"10s\"\n", "outage[1].lost 10s is before outage[0] ends at 19s"},
		{"repeat without back", bat + "[[outage]]\nlost = \"1m\"\ntimes = 3\nevery = \"1s\"\n", "outage[0] repeats but has no back"},
		{"repeat too fast", bat + "[[outage]]\nlost = \"1m\"\nback = \"1m1s\"\ntimes = 3\nevery = \"1s\"\n", "outage[0].every 1s must be longer than the outage (1s)"},
		{"every without times", bat + "[[outage]]\nlost = \"1m\"\nback = \"2m\"\nevery = \"1s\"\n", "outage[0].every given without times > 1"},
		{"too many outages", bat + "[[outage]]\nlost = \"1m\"\nback = \"1m1s\"\ntimes = 1000000\nevery = \"2s\"\n", "outage[0].times must be between 0 and 100000"},
		{"generator without fuel", bat + "[generator]\nstart = \"1h\"\nburn_lph = 2\n", "generator.fuel_l must be positive, got 0"},
		{"generator without burn rate", bat + "[generator]\nfuel_l = 5\n", "generator.burn_lph must be positive, got 0"},
		{"generator stops before it starts", bat + "[generator]\nstart = \"2h\"\nstop = \"1h\"\nfuel_l = 5\nburn_lph = 2\n", "generator.stop 1h0m0s is not after its start 2h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded; want an error containing %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), "sim: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error %q; want one starting sim: and containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[battery]\nchemistry = \"lead-acid-12v\"\ncapacity_ah = -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.toml"), "no such file"},
		{"invalid file names itself", bad, "sim: " + bad + ": battery.capacity_ah"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) error %v; want one containing %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestValidateGoScenario(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Scenario)
		want string // "" for valid
	}{
		{"default", func(*Scenario) {}, ""},
		{"NaN capacity", func(s *Scenario) { s.Battery.CapacityAh = nan() }, "battery.capacity_ah must be positive"},
		{"infinite speed", func(s *Scenario) { s.Speed = inf() }, "speed must be positive"},
		{"generator burn rate", func(s *Scenario) { s.Generator.BurnLPH = -1 }, "generator.burn_lph must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.edit(&s)
			err := s.Validate()
			_, nerr := New(s, nil)
			switch {
			case tt.want == "" && (err != nil || nerr != nil):
				t.Errorf("Validate: %v, New: %v; want both nil", err, nerr)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || nerr == nil):
				t.Errorf("Validate: %v, New: %v; want %q from both", err, nerr, tt.want)
			}
		})
	}
}

// TestShippedScenarios loads every file in deploy/scenarios and plays it
// for a day of simulated time.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for _, want := range []string{"storm-6h.toml", "lifepo4-night.toml", "flapping-mains.toml", "ups-smart.toml"} {
		if !have[want] {
			t.Errorf("deploy/scenarios/%s missing", want)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name+".toml" != filepath.Base(f) {
				t.Errorf("name %q does not match the file", s.Name)
			}
			src, err := New(s, &Opts{Start: epoch})
			if err != nil {
				t.Fatal(err)
			}
			for range 24 {
				r := src.Step(time.Hour)
				if !power.Known(r.Volts) || !power.Known(r.Amps) || r.Volts <= 0 {
					t.Fatalf("at %v: reading %+v", src.Truth().Elapsed, r)
				}
			}
		})
	}
}

func TestStormFileIsDefault(t *testing.T) {
	s, err := Load(filepath.Join(scenarioDir, "storm-6h.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Default()) {
		t.Errorf("storm-6h.toml:\n%+v\nDefault():\n%+v", s, Default())
	}
}

// TestScenarioShapes checks that the shipped scenarios do what their
// descriptions promise.
func TestScenarioShapes(t *testing.T) {
	type at struct {
		t                       time.Duration
		mains, gen, flat, smart bool
	}
	tests := []struct {
		file   string
		checks []at
	}{
		{"storm-6h.toml", []at{
			{t: 5 * time.Minute, mains: true},
			{t: 15 * time.Minute},
			{t: 3 * time.Hour, gen: true},
			{t: 5*time.Hour + 10*time.Minute}, // fuel gone at 5 h
			{t: 5*time.Hour + 40*time.Minute, mains: true},
		}},
		{"lifepo4-night.toml", []at{
			{t: 10 * time.Minute, mains: true},
			{t: 10 * time.Hour},
			{t: 10*time.Hour + 20*time.Minute, mains: true},
		}},
		{"flapping-mains.toml", []at{
			{t: 30 * time.Second, mains: true},
			{t: 70*time.Second + 250*time.Millisecond},
			{t: 70*time.Second + 750*time.Millisecond, mains: true},
			{t: 90 * time.Minute},
			{t: 2*time.Hour + 3*time.Minute, mains: true},
		}},
		{"ups-smart.toml", []at{
			{t: time.Minute, mains: true, smart: true},
			{t: time.Hour, smart: true},
			{t: 3*time.Hour + 50*time.Minute, flat: true, smart: true},
			{t: 5 * time.Hour, mains: true, smart: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Load(filepath.Join(scenarioDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			src, err := New(s, &Opts{Start: epoch})
			if err != nil {
				t.Fatal(err)
			}
			var now time.Duration
			for _, c := range tt.checks {
				r := src.Step(c.t - now)
				now = c.t
				tr := src.Truth()
				if r.OnMains != c.mains || r.Generator != c.gen || tr.Flat != c.flat || power.Known(r.Percent) != c.smart {
					t.Errorf("at %v: mains %v generator %v flat %v percent %v; want %v %v %v reported=%v",
						c.t, r.OnMains, r.Generator, tr.Flat, r.Percent, c.mains, c.gen, c.flat, c.smart)
				}
			}
		})
	}
}
