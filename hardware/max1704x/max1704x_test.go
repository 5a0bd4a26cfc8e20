package max1704x

import (
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// Register values worked from the datasheets (MAX17043 "VCELL Register":
// 12 bits in 15–4, 1.25 mV each; MAX17048 "VCELL": 78.125 µV each; both
// "SOC": high byte %, low byte 1/256 %), with what each must read as.
//
//	register  raw     → expected
//	VCELL     0xB520  → 46 368 × 78.125 µV = 3.6225 V  (i2cdump of a MAX17040 on a UPS-Lite; 0xB52 × 1.25 mV)
//	SOC       0x230F  → 35 + 15/256         = 35.059 %  (the same dump)
//	VCELL     0xD200  → 53 760 × 78.125 µV = 4.2000 V  (a full cell)
//	SOC       0x6400  → 100 %
//	VCELL     0xB90F  → 47 375 × 78.125 µV = 3.70117 V (MAX17048: the low 4 bits count)
//	SOC       0x3280  → 50 + 128/256        = 50.5 %
//	VCELL     0xA000  → 40 960 × 78.125 µV = 3.2000 V  (near the X1200 script's 3.20 V shutdown)
//	SOC       0x0380  → 3.5 %
//	SOC       0x6580  → 101.5 %, shown as 100 % (ModelGauge overshoots when full)
//	VERSION   0x0002  → the dump's; any answer but 0xFFFF is a gauge
func TestSense(t *testing.T) {
	for _, tt := range []struct {
		name           string
		vcell, soc     uint16
		volts, percent float64
	}{
		{"MAX17040 dump", 0xB520, 0x230F, 3.6225, 35.0586},
		{"full", 0xD200, 0x6400, 4.2, 100},
		{"MAX17048 low bits", 0xB90F, 0x3280, 3.70117, 50.5},
		{"nearly flat", 0xA000, 0x0380, 3.2, 3.5},
		{"over 100 %", 0xD200, 0x6580, 4.2, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: append(versionOp(0x0002), senseOps(tt.vcell, tt.soc)...), DontPanic: true}
			d, err := New(bus, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.Version() != 2 {
				t.Errorf("version %#x, want 0x2", d.Version())
			}
			r, err := d.Sense()
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Volts-tt.volts) > 1e-5 || math.Abs(r.Percent-tt.percent) > 1e-3 {
				t.Errorf("VCELL %#04x, SOC %#04x read as %.5f V, %.3f %%; want %.5f V, %.3f %%",
					tt.vcell, tt.soc, r.Volts, r.Percent, tt.volts, tt.percent)
			}
			if err := bus.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSenseOnlyReads: the driver never writes the gauge (no quick-start,
// no reset): it would restart the gauge's model and lose its learning.
func TestSenseOnlyReads(t *testing.T) {
	rec := &i2ctest.Record{Bus: &i2ctest.Playback{Ops: append(versionOp(2), senseOps(0xB520, 0x230F)...), DontPanic: true}}
	d, err := New(rec, &Opts{Addr: DefaultAddr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sense(); err != nil {
		t.Fatal(err)
	}
	for _, op := range rec.Ops {
		if len(op.W) != 1 || len(op.R) != 2 || op.Addr != DefaultAddr {
			t.Errorf("transaction %+v: want a one-byte register address and a two-byte read at 0x36", op)
		}
	}
	if len(rec.Ops) != 3 {
		t.Errorf("%d transactions, want 3 (VERSION, VCELL, SOC)", len(rec.Ops))
	}
}

// errBus is a bus whose every transaction fails, as a wire pulled out of
// the header does (the kernel answers ENXIO or EREMOTEIO).
type errBus struct{}

func (errBus) String() string                  { return "errbus" }
func (errBus) Tx(uint16, []byte, []byte) error { return errors.New("sysfs-i2c: remote I/O error") }
func (errBus) SetSpeed(physic.Frequency) error { return nil }

// TestNoGauge: a gauge that does not answer, or answers nonsense, is an
// error, never a reading of zero.
func TestNoGauge(t *testing.T) {
	if _, err := New(&i2ctest.Playback{DontPanic: true}, nil); err == nil {
		t.Error("New on a silent bus: no error")
	}
	if _, err := New(errBus{}, nil); err == nil {
		t.Error("New on a failing bus: no error")
	}
	if _, err := New(&i2ctest.Playback{Ops: versionOp(0xffff), DontPanic: true}, nil); err == nil {
		t.Error("New with VERSION 0xffff (nothing drives the bus): no error")
	}
	if _, err := New(errBus{}, &Opts{Addr: 0x80}); err == nil {
		t.Error("New at 0x80: no error")
	}

	// Answers at New, then goes quiet (the HAT lifted off its pins).
	d, err := New(&i2ctest.Playback{Ops: versionOp(2), DontPanic: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := d.Sense(); err == nil {
		t.Errorf("Sense after the gauge went quiet: %+v, no error", r)
	}

	for _, tt := range []struct {
		name       string
		vcell, soc uint16
	}{
		{"all ones", 0xFFFF, 0xFFFF}, // 5.12 V, 256 %
		{"no cell", 0x0000, 0x0000},  // 0 V
		{"SOC all ones", 0xB520, 0xFFFF},
	} {
		d, err := New(&i2ctest.Playback{Ops: append(versionOp(2), senseOps(tt.vcell, tt.soc)...), DontPanic: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := d.Sense()
		if !errors.Is(err, ErrImplausible) {
			t.Errorf("%s (VCELL %#04x, SOC %#04x): %+v, %v; want ErrImplausible", tt.name, tt.vcell, tt.soc, r, err)
		}
	}
}

func versionOp(v uint16) []i2ctest.IO {
	return []i2ctest.IO{{Addr: DefaultAddr, W: []byte{regVersion}, R: []byte{byte(v >> 8), byte(v)}}}
}

func senseOps(vcell, soc uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: DefaultAddr, W: []byte{regVCell}, R: []byte{byte(vcell >> 8), byte(vcell)}},
		{Addr: DefaultAddr, W: []byte{regSOC}, R: []byte{byte(soc >> 8), byte(soc)}},
	}
}
