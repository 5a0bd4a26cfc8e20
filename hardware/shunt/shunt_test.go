package shunt

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/safepoint-se/safepoint/hardware/hwtest"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// The INA219's registers (datasheet SBOS448, section 8.6): shunt voltage
// (0x01) in steps of 10 µV, two's complement; bus voltage (0x02) in bits
// 15–3, steps of 4 mV, bit 1 CNVR (conversion ready), bit 0 OVF (math
// overflow); current (0x04) = shunt × calibration / 4096, in steps of
// max/32768; calibration (0x05) = 0.04096 / (step × ohms). periph writes the
// calibration and then the configuration 0x1FFF (16 V, ±320 mV, 128
// samples, continuous); a Read after that reads the calibration back and
// then shunt, bus, current and power.
//
// Worked cases (step and calibration in periph's integer arithmetic):
//
//	Waveshare UPS HAT (B): 0.1 Ω, max 3.2 A → step 97 656 nA, calibration 4194 (0x1062)
//	  discharging 0.5 A:   shunt 0xEC78 = −5000 → −50 mV; bus 0x3CF2 → 1950 × 4 mV = 7.800 V;
//	                       current 0xEC00 = −5120 → −0.500 A, charge positive → +0.500 A
//	                       li-ion-2s at 7.80 V = 3.90 V a cell → 66 %
//	  charging 1.0 A:      shunt 0x2710 = 10 000 → +100 mV; bus 0x40DA → 8.300 V;
//	                       current 0x27FF = 10 239 → +1.000 A → −1.000 A: charging, mains, % unknown
//	Waveshare UPS HAT (C): 0.01 Ω, max 5 A → step 152 587 nA, calibration 26 843 (0x68DB)
//	  discharging 0.25 A:  shunt 0xFF06 = −250 → −2.5 mV; bus 0x1D4A → 937 × 4 mV = 3.748 V;
//	                       current 0xF99A = −1638 → −0.250 A → +0.250 A; li-ion-1s at 3.748 V → 22.7 %
//	12 V bank, 1 mΩ, max 20 A (raised to 20.48 A, the finest this shunt allows):
//	                       step 625 001 nA, calibration 65 535 (0xFFFF)
//	  discharging 8 A:     shunt 0x0320 = 800 → 8 mV; bus 0x60E2 → 3100 × 4 mV = 12.400 V;
//	                       current 0x31FF = 12 799 → 7.999 A; lead-acid at 12.40 V → 70 %
//	  floating, 0.2 A in:  shunt 0xFFEC = −20; bus 0x6A42 → 13.600 V; current 0xFEC1 = −319 → −0.199 A
func TestRead(t *testing.T) {
	for _, tt := range []struct {
		name   string
		opts   Opts
		cal    uint16
		regs   [4]uint16 // shunt, bus, current, power
		volts  float64
		amps   float64
		pct    float64 // NaN: unknown
		mains  bool
		charge bool
	}{
		{"ups-b discharging", Opts{Addr: 0x42, Ohms: 0.1, MaxAmps: 3.2, Chemistry: power.LiIon2S, ChargePositive: true},
			0x1062, [4]uint16{0xEC78, 0x3CF2, 0xEC00, 0x07CD}, 7.8, 0.49999872, 66, false, false},
		{"ups-b charging", Opts{Addr: 0x42, Ohms: 0.1, MaxAmps: 3.2, Chemistry: power.LiIon2S, ChargePositive: true},
			0x1062, [4]uint16{0x2710, 0x40DA, 0x27FF, 0x1000}, 8.3, -0.99990, math.NaN(), true, true},
		{"ups-c discharging", Opts{Addr: 0x43, Ohms: 0.01, MaxAmps: 5, Chemistry: power.LiIon1S, ChargePositive: true},
			0x68DB, [4]uint16{0xFF06, 0x1D4A, 0xF99A, 0x00F0}, 3.748, 0.24994, 22.67, false, false},
		{"bank discharging", Opts{Ohms: 0.001, MaxAmps: 20, Chemistry: power.LeadAcid12V},
			0xFFFF, [4]uint16{0x0320, 0x60E2, 0x31FF, 0x0C00}, 12.4, 7.99939, 70, false, false},
		{"bank floating", Opts{Ohms: 0.001, MaxAmps: 20, Chemistry: power.LeadAcid12V},
			0xFFFF, [4]uint16{0xFFEC, 0x6A42, 0xFEC1, 0x0020}, 13.6, -0.19938, math.NaN(), true, true},
		{"no chemistry", Opts{Ohms: 0.001, MaxAmps: 20},
			0xFFFF, [4]uint16{0x0320, 0x60E2, 0x31FF, 0x0C00}, 12.4, 7.99939, math.NaN(), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.opts.Addr
			if addr == 0 {
				addr = 0x40
			}
			bus := &i2ctest.Playback{Ops: append(setUpOps(addr, tt.cal), senseOps(addr, tt.regs)...), DontPanic: true}
			s := newSource(t, bus, &tt.opts)
			r, err := s.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Volts-tt.volts) > 1e-9 || math.Abs(r.Amps-tt.amps) > 1e-4 {
				t.Errorf("%.4f V, %.5f A; want %.4f V, %.5f A", r.Volts, r.Amps, tt.volts, tt.amps)
			}
			if math.IsNaN(tt.pct) != math.IsNaN(r.Percent) || math.Abs(r.Percent-tt.pct) > 0.05 {
				t.Errorf("%.2f %%, want %.2f %%", r.Percent, tt.pct)
			}
			if r.OnMains != tt.mains || r.Charging != tt.charge {
				t.Errorf("mains %t, charging %t; want %t, %t", r.OnMains, r.Charging, tt.mains, tt.charge)
			}
			if r.Runtime >= 0 || r.At.IsZero() {
				t.Errorf("runtime %v, at %v: the chip gives no runtime; the reading has a time", r.Runtime, r.At)
			}
			if err := bus.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSetUpOnce: the chip is set up once, then only read (with its
// calibration read back) — Waveshare's script writes the calibration before
// every read instead.
func TestSetUpOnce(t *testing.T) {
	regs := [4]uint16{0x0320, 0x60E2, 0x31FF, 0x0C00}
	ops := append(setUpOps(0x40, 0xFFFF), senseOps(0x40, regs)...)
	ops = append(ops, calOp(0x40, 0xFFFF))
	ops = append(ops, senseOps(0x40, regs)...)
	rec := &i2ctest.Record{Bus: &i2ctest.Playback{Ops: ops, DontPanic: true}}
	s := newSource(t, rec, &Opts{Ohms: 0.001, MaxAmps: 20})
	for i := 0; i < 2; i++ {
		if _, err := s.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	writes := 0
	for _, op := range rec.Ops {
		if len(op.R) == 0 {
			writes++
		}
	}
	if writes != 2 {
		t.Errorf("%d writes in two reads, want 2 (calibration and configuration, once)", writes)
	}
}

// TestChipReset: a brown-out resets the chip, whose calibration then reads
// 0 and whose current register 0 whatever flows. The next Read sees the
// calibration gone and sets the chip up again, rather than report 0 A.
func TestChipReset(t *testing.T) {
	regs := [4]uint16{0x0320, 0x60E2, 0x31FF, 0x0C00}
	ops := append(setUpOps(0x40, 0xFFFF), senseOps(0x40, regs)...)
	ops = append(ops, calOp(0x40, 0x0000))
	ops = append(ops, setUpOps(0x40, 0xFFFF)...)
	ops = append(ops, senseOps(0x40, regs)...)
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	s := newSource(t, bus, &Opts{Ohms: 0.001, MaxAmps: 20})
	for i := 0; i < 2; i++ {
		r, err := s.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Amps-7.99939) > 1e-4 {
			t.Errorf("read %d: %.5f A, want 7.99939 A", i, r.Amps)
		}
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// errBus fails every transaction, as a bus whose chip is gone does
// (the kernel's ENXIO or EREMOTEIO).
type errBus struct{}

func (errBus) String() string                  { return "errbus" }
func (errBus) Tx(uint16, []byte, []byte) error { return errors.New("sysfs-i2c: remote I/O error") }
func (errBus) SetSpeed(physic.Frequency) error { return nil }

// flakyBus fails while down is set, then passes transactions on.
type flakyBus struct {
	mu   sync.Mutex
	down bool
	next i2c.Bus
}

func (b *flakyBus) String() string { return "flaky" }
func (b *flakyBus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("sysfs-i2c: remote I/O error")
	}
	return b.next.Tx(addr, w, r)
}
func (b *flakyBus) SetSpeed(physic.Frequency) error { return nil }

// TestNoChip: a chip that does not answer is an error from Read, never a
// reading; one that answers again is read again.
func TestNoChip(t *testing.T) {
	ctx := context.Background()
	for name, bus := range map[string]i2c.Bus{
		"silent":  &i2ctest.Playback{DontPanic: true},
		"failing": errBus{},
	} {
		s := newSource(t, bus, &Opts{Addr: 0x42, Ohms: 0.1, Chemistry: power.LiIon2S})
		for i := 0; i < 2; i++ {
			if r, err := s.Read(ctx); err == nil || !strings.Contains(err.Error(), "ina219 at 0x42") {
				t.Errorf("%s bus: %+v, %v; want an error naming the chip", name, r, err)
			}
		}
	}

	regs := [4]uint16{0xEC78, 0x3CF2, 0xEC00, 0x07CD}
	flaky := &flakyBus{next: &i2ctest.Playback{Ops: append(setUpOps(0x42, 0x1062), senseOps(0x42, regs)...), DontPanic: true}}
	s := newSource(t, flaky, &Opts{Addr: 0x42, Ohms: 0.1, Chemistry: power.LiIon2S, ChargePositive: true})
	flaky.down = true
	if _, err := s.Read(ctx); err == nil {
		t.Fatal("read through a dead bus: no error")
	}
	flaky.down = false
	if r, err := s.Read(ctx); err != nil || r.Volts != 7.8 {
		t.Errorf("read after the bus came back: %+v, %v; want 7.8 V", r, err)
	}
}

// TestImplausible: numbers no battery gives are errors.
func TestImplausible(t *testing.T) {
	for _, tt := range []struct {
		name string
		chem power.Chemistry
		bus  uint16
		want error
	}{
		{"overflow", "", 0x3CF3, nil},                                  // OVF set: periph's overflow error
		{"0 V", "", 0x0002, ErrNoBattery},                              // nothing on VIN-
		{"2.9 V for 2S", power.LiIon2S, 0x16AA, ErrNoBattery},          // 725 × 4 mV = 2.9 V, under half of 6 V
		{"5 V for lead-acid", power.LeadAcid12V, 0x2712, ErrNoBattery}, // 1250 × 4 mV = 5.0 V, under half of 11.8 V
	} {
		t.Run(tt.name, func(t *testing.T) {
			regs := [4]uint16{0x0320, tt.bus, 0x31FF, 0x0C00}
			if tt.bus&1 == 1 {
				regs = [4]uint16{0x0320, tt.bus, 0, 0} // periph stops at the overflow
			}
			ops := append(setUpOps(0x40, 0xFFFF), senseOps(0x40, regs)...)
			if tt.bus&1 == 1 {
				ops = ops[:len(ops)-2]
			}
			s := newSource(t, &i2ctest.Playback{Ops: ops, DontPanic: true}, &Opts{Ohms: 0.001, MaxAmps: 20, Chemistry: tt.chem})
			r, err := s.Read(context.Background())
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%+v, %v; want an error (%v)", r, err, tt.want)
			}
		})
	}
}

func TestOpts(t *testing.T) {
	for _, tt := range []struct {
		opts Opts
		want string
	}{
		{Opts{Addr: 0x36}, "0x40–0x4f"},
		{Opts{Ohms: 0.1, MaxAmps: 5}, "beyond the chip's ±320 mV"},
		{Opts{Ohms: -1}, "shunt -1 Ω"},
		{Opts{MaxAmps: -2}, "max -2 A"},
		{Opts{Chemistry: "nicad"}, `chemistry "nicad"`},
	} {
		if _, err := New(errBus{}, &tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want it to say %q", tt.opts, err, tt.want)
		}
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("no bus: no error")
	}
	if _, err := New(errBus{}, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func newSource(t *testing.T, bus i2c.Bus, opts *Opts) *Source {
	t.Helper()
	s, err := New(bus, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.settle = 0
	return s
}

func calOp(addr, cal uint16) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{0x05}, R: u16(cal)}
}

// The INA219's transactions and register bytes, shared with the other
// hardware tests.
var (
	u16      = hwtest.U16
	setUpOps = hwtest.INA219SetUp
	senseOps = hwtest.INA219Sense
)
