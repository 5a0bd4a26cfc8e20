package hat

import (
	"context"
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// Geekworm's X728 and X1200: a MAX1704x fuel gauge at 0x36 and the
// power-loss pin GPIO6. The maker's scripts read the pin the opposite way
// on the two boards:
//
//	X728 (geekworm-com/x728-script, sample/x728-v2.x-pld.py): 0 "AC Power OK", 1 "Power Supply A/C Lost"
//	X1200 (suptronics/x120x, pld.py): 1 "AC Power OK", otherwise "AC Power Loss"
//
// Gauge registers (MAX17043/MAX17048 datasheets; VCELL × 78.125 µV, SOC / 256 %):
//
//	VCELL 0xC350 = 50 000 → 3.90625 V, SOC 0x4A80 = 74 + 128/256 → 74.5 %
//	VCELL 0xA000 = 40 960 → 3.20000 V (the X1200 script's shutdown voltage), SOC 0x0500 → 5 %
func TestGeekworm(t *testing.T) {
	for _, tt := range []struct {
		board      string
		level      gpio.Level
		vcell, soc uint16
		volts, pct float64
		mains      bool
	}{
		{"x728", gpio.Low, 0xC350, 0x4A80, 3.90625, 74.5, true},
		{"x728", gpio.High, 0xA000, 0x0500, 3.2, 5, false},
		{"x1200", gpio.High, 0xC350, 0x4A80, 3.90625, 74.5, true},
		{"x1200", gpio.Low, 0xA000, 0x0500, 3.2, 5, false},
	} {
		pin := &gpiotest.Pin{N: "GPIO6", Num: 6, L: tt.level}
		bus := &i2ctest.Playback{Ops: append(gaugeVersion(), gaugeSense(tt.vcell, tt.soc)...), DontPanic: true}
		s, err := Open(bus, pin, tt.board)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Read(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tt.board, err)
		}
		if math.Abs(r.Volts-tt.volts) > 1e-9 || math.Abs(r.Percent-tt.pct) > 1e-9 || r.OnMains != tt.mains {
			t.Errorf("%s, GPIO6 %s: %.5f V %.1f %% mains %t; want %.5f V %.1f %% mains %t",
				tt.board, tt.level, r.Volts, r.Percent, r.OnMains, tt.volts, tt.pct, tt.mains)
		}
		if !math.IsNaN(r.Amps) || r.Charging || r.Runtime >= 0 {
			t.Errorf("%s: amps %v, charging %t, runtime %v: the gauge measures none of them", tt.board, r.Amps, r.Charging, r.Runtime)
		}
		if pin.P != gpio.PullNoChange {
			t.Errorf("%s: pull set to %s; the board's own is kept", tt.board, pin.P)
		}
		if err := bus.Close(); err != nil {
			t.Errorf("%s: %v", tt.board, err)
		}
	}
}

// switchBus fails while off, as a board lifted off the header does, and
// plays back otherwise.
type switchBus struct {
	off  bool
	next i2c.Bus
}

func (b *switchBus) String() string { return "switch" }
func (b *switchBus) Tx(addr uint16, w, r []byte) error {
	if b.off {
		return errors.New("sysfs-i2c: remote I/O error")
	}
	return b.next.Tx(addr, w, r)
}
func (b *switchBus) SetSpeed(physic.Frequency) error { return nil }

// TestGeekwormLooseAndBack: a gauge that stops answering is an error, not
// a reading; when it answers again it is read again.
func TestGeekwormLooseAndBack(t *testing.T) {
	ops := append(gaugeVersion(), gaugeSense(0xC350, 0x4A80)...)
	ops = append(ops, gaugeVersion()...)
	ops = append(ops, gaugeSense(0xC350, 0x4A80)...)
	bus := &switchBus{next: &i2ctest.Playback{Ops: ops, DontPanic: true}}
	s, err := Open(bus, &gpiotest.Pin{N: "GPIO6"}, "x728")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Read(ctx); err != nil {
		t.Fatal(err)
	}
	bus.off = true
	for i := 0; i < 2; i++ {
		if r, err := s.Read(ctx); err == nil {
			t.Fatalf("read with the gauge gone: %+v, no error", r)
		}
	}
	bus.off = false
	if r, err := s.Read(ctx); err != nil || r.Volts != 3.90625 {
		t.Errorf("read with the gauge back: %+v, %v", r, err)
	}

	if _, err := Open(&i2ctest.Playback{DontPanic: true}, &gpiotest.Pin{N: "GPIO6"}, "x1200"); err != nil {
		t.Fatal(err) // Open does not touch the gauge
	}
}

func gaugeVersion() []i2ctest.IO {
	return []i2ctest.IO{{Addr: 0x36, W: []byte{0x08}, R: []byte{0x00, 0x03}}}
}

func gaugeSense(vcell, soc uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: 0x36, W: []byte{0x02}, R: u16(vcell)},
		{Addr: 0x36, W: []byte{0x04}, R: u16(soc)},
	}
}
