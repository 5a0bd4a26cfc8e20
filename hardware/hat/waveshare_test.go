package hat

import (
	"context"
	"math"
	"testing"

	"github.com/safepoint-se/safepoint/hardware/hwtest"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// Waveshare's UPS HATs (B) and (C): an INA219 at 0x42 and 0x43. The shunts
// are what the maker's INA219.py calibrates for: 0.1 Ω on (B) (32 V / 2 A:
// 0.1 mA a step, calibration 4096) and 0.01 Ω on (C) (16 V / 5 A: 0.1524 mA,
// calibration 26 868). Their current is positive while charging
// ("if the current value is negative, the batteries are feeding the
// Raspberry Pi"), so the sign is turned to the reading's, positive
// discharging.
//
// Registers (INA219 datasheet SBOS448: shunt 10 µV a step; bus bits 15–3,
// 4 mV a step, bit 1 conversion ready; current in steps of max/32 768),
// with periph's calibration for each board:
//
//	(B) 0.1 Ω, max 3.2 A: calibration 0x1062 (4194), step 97 656 nA
//	    on battery:  shunt 0xEC78 (−50 mV), bus 0x3CF2 (7.800 V), current 0xEC00 (−5120 → −0.500 A)
//	                 → 7.800 V, +0.500 A, off mains, li-ion-2s at 3.90 V a cell = 66 %
//	    on mains:    shunt 0x2710 (+100 mV), bus 0x40DA (8.300 V), current 0x27FF (10 239 → +1.000 A)
//	                 → 8.300 V, −1.000 A, charging, on mains, % unknown (the charger's voltage)
//	(C) 0.01 Ω, max 5 A: calibration 0x68DB (26 843), step 152 587 nA
//	    on battery:  shunt 0xFF06 (−2.5 mV), bus 0x1D4A (3.748 V), current 0xF99A (−1638 → −0.250 A)
//	                 → 3.748 V, +0.250 A, off mains, li-ion-1s at 3.748 V = 22.7 %
func TestWaveshare(t *testing.T) {
	for _, tt := range []struct {
		board       string
		addr, cal   uint16
		regs        [4]uint16 // shunt, bus, current, power
		volts, amps float64
		pct         float64
		mains, chrg bool
	}{
		{"waveshare-ups-b", 0x42, 0x1062, [4]uint16{0xEC78, 0x3CF2, 0xEC00, 0x07CD}, 7.8, 0.5, 66, false, false},
		{"waveshare-ups-b", 0x42, 0x1062, [4]uint16{0x2710, 0x40DA, 0x27FF, 0x1000}, 8.3, -1.0, math.NaN(), true, true},
		{"waveshare-ups-c", 0x43, 0x68DB, [4]uint16{0xFF06, 0x1D4A, 0xF99A, 0x00F0}, 3.748, 0.25, 22.67, false, false},
	} {
		bus := &i2ctest.Playback{Ops: append(ina219SetUp(tt.addr, tt.cal), ina219Sense(tt.addr, tt.regs)...), DontPanic: true}
		s, err := Open(bus, nil, tt.board)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Read(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tt.board, err)
		}
		if math.Abs(r.Volts-tt.volts) > 1e-9 || math.Abs(r.Amps-tt.amps) > 1e-3 ||
			math.IsNaN(r.Percent) != math.IsNaN(tt.pct) || math.Abs(r.Percent-tt.pct) > 0.05 ||
			r.OnMains != tt.mains || r.Charging != tt.chrg || r.Generator {
			t.Errorf("%s: %.3f V %.3f A %.1f %% mains %t charging %t; want %.3f V %.3f A %.1f %% mains %t charging %t",
				tt.board, r.Volts, r.Amps, r.Percent, r.OnMains, r.Charging, tt.volts, tt.amps, tt.pct, tt.mains, tt.chrg)
		}
		if err := bus.Close(); err != nil {
			t.Errorf("%s: %v", tt.board, err)
		}
	}
}

// TestWaveshareMissing: a HAT that is not there (nothing answers at 0x42)
// is an error from every Read, never a reading of 0 V.
func TestWaveshareMissing(t *testing.T) {
	s, err := Open(&i2ctest.Playback{DontPanic: true}, nil, "waveshare-ups-b")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if r, err := s.Read(context.Background()); err == nil {
			t.Fatalf("read %d: %+v without an error", i, r)
		}
	}
}

// The INA219's transactions and register bytes, shared with the other
// hardware tests.
var (
	u16         = hwtest.U16
	ina219SetUp = hwtest.INA219SetUp
	ina219Sense = hwtest.INA219Sense
)
