package power

import (
	"math"
	"testing"
)

func TestCharge(t *testing.T) {
	for _, c := range Chemistries {
		prev := -1.0
		for v := 2.5; v < 15; v += 0.01 {
			soc, _ := c.Charge(v)
			if soc < prev-1e-12 || soc < 0 || soc > 1 {
				t.Fatalf("%s: soc(%.2f V) = %v after %v", c, v, soc, prev)
			}
			prev = soc
		}
	}
	for _, tt := range []struct {
		c     Chemistry
		volts float64
		want  float64
	}{
		{LeadAcid12V, 12.24, 0.5},
		{LeadAcid12V, 11.5, 0},
		{LiIon1S, 3.82, 0.5},
		{LiIon1S, 4.25, 1},
		{LiIon2S, 7.64, 0.5}, // 2 × 3.82 V
		{LiIon2S, 7.85, 0.7}, // 2 × 3.925 V, between 3.92 V (70 %) and 3.98 V (80 %)
	} {
		soc, _ := tt.c.Charge(tt.volts)
		if math.Abs(soc-tt.want) > 0.01 {
			t.Errorf("%s at %.2f V = %.3f, want %.2f", tt.c, tt.volts, soc, tt.want)
		}
	}
	if soc, _ := Chemistry("nickel-iron").Charge(12); !math.IsNaN(soc) {
		t.Errorf("unknown chemistry gave %v, want NaN", soc)
	}
}

func TestRange(t *testing.T) {
	if e, f, ok := LiIon2S.Range(); !ok || e != 6 || f != 8.4 {
		t.Errorf("li-ion-2s: %v–%v V (%v), want 6–8.4 V", e, f, ok)
	}
	if _, _, ok := Chemistry("").Range(); ok {
		t.Error("no chemistry has a range")
	}
}
