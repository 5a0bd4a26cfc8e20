package main

import (
	"strings"
	"testing"
)

// TestPowerSpecErrors: an unknown --power source is named as such, with
// the valid spellings, and not blamed on another flag.
func TestPowerSpecErrors(t *testing.T) {
	for _, c := range []struct {
		spec       string
		want, not  string
		chemistry  string
		capacityAh float64
	}{
		{spec: "bogus://", want: `--power "bogus://": not a power source; use one of sim, sim:FILE, nut://`, not: "--battery-ah"},
		{spec: "hat:nonesuch", want: "not a board this program knows; hat: takes one of waveshare-ups-b, waveshare-ups-c, x1200, x728", not: "--battery-ah"},
		{spec: "hat:x728"},
		{spec: "pijuice:", want: "not a power source"},
		{spec: "simulator", want: "not a power source"},
		{spec: "sim", chemistry: "unobtainium", want: "--battery-chemistry"},
		{spec: "nut://127.0.0.1/ups"},
		{spec: "sim:deploy/scenarios/x.toml"},
		{spec: ""},
	} {
		err := powerConfig{Spec: c.spec, Chemistry: c.chemistry, CapacityAh: c.capacityAh}.validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v, want none", c.spec, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want it to say %q", c.spec, err, c.want)
		case c.not != "" && err != nil && strings.Contains(err.Error(), c.not):
			t.Errorf("%q: %v blames %s", c.spec, err, c.not)
		}
	}
}
