// Package shunt reads a battery through an INA219 shunt sensor with
// periph.io's driver (devices/v3/ina219): the battery's volts, its current
// with a sign (positive discharging), the state of charge off the
// chemistry's resting-voltage curve (hardware/power), and whether mains is
// on, inferred from the current: a charger that carries the load leaves
// the battery idle or charging.
//
// It is the battery half of a 12 V bank with a shunt (`ina219:` in
// --power) and the whole of Waveshare's UPS HATs (hardware/hat). Like
// periph.io's drivers it returns errors and never logs.
package shunt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ina219"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// Opts configure a Source. Zero fields mean defaults.
type Opts struct {
	// Addr is the chip's I²C address, 0x40–0x4F: 0x40 (A0 and A1 to GND).
	Addr uint16
	// Ohms is the shunt's resistance: 0.1 Ω (a breakout board's R100).
	Ohms float64
	// MaxAmps is the largest current expected either way: 3.2 A. Ohms ×
	// MaxAmps must stay within the chip's ±320 mV; a value finer than the
	// chip's calibration register can resolve is raised to what it can
	// (1 mΩ: 20.48 A).
	MaxAmps float64
	// Chemistry gives the state of charge from the voltage; empty leaves
	// it unknown.
	Chemistry power.Chemistry
	// ChargePositive says the shunt is wired so that charging reads
	// positive (Waveshare's HATs). By default the battery's + goes to VIN+
	// and the load and charger to VIN-, so discharging reads positive.
	ChargePositive bool
	// MainsBelow: while the battery gives less than this many amps, a
	// charger carries the load and mains is taken to be on: 0.1 A.
	MainsBelow float64
}

// Source is one INA219 watching a battery.
type Source struct {
	bus    i2c.Bus
	opts   Opts
	ina    ina219.Opts
	settle time.Duration // the first conversions after setting the chip up

	mu  sync.Mutex
	dev *ina219.Dev // nil until set up, and again after a failure
}

// chargingAmps is the charge current above which the battery counts as
// charging, as the power monitor counts it.
const chargingAmps = 0.05

// settleTime covers one conversion of the bus and the shunt voltage at
// periph's setting (128 samples each, 68.1 ms: datasheet table 5).
const settleTime = 150 * time.Millisecond

// New checks the options and returns a source on bus. It does not talk to
// the chip: the first Read sets it up, and every Read after a failure does
// again, so a HAT seated again or a chip reset by a brown-out is picked up
// by itself.
func New(bus i2c.Bus, opts *Opts) (*Source, error) {
	o := Opts{}
	if opts != nil {
		o = *opts
	}
	if o.Addr == 0 {
		o.Addr = 0x40
	}
	if o.Ohms == 0 {
		o.Ohms = 0.1
	}
	if o.MaxAmps == 0 {
		o.MaxAmps = 3.2
	}
	if o.MainsBelow == 0 {
		o.MainsBelow = 0.1
	}
	switch {
	case bus == nil:
		return nil, errors.New("ina219: no I²C bus")
	case o.Addr < 0x40 || o.Addr > 0x4f:
		return nil, fmt.Errorf("ina219: address %#x: the INA219 answers at 0x40–0x4f", o.Addr)
	case o.Ohms < 0 || o.Ohms > 10 || math.IsNaN(o.Ohms):
		return nil, fmt.Errorf("ina219: shunt %g Ω: give the resistance in ohms, e.g. 0.001 for a 1 mΩ shunt", o.Ohms)
	case o.MaxAmps < 0 || math.IsNaN(o.MaxAmps):
		return nil, fmt.Errorf("ina219: max %g A: cannot be negative", o.MaxAmps)
	case o.Ohms*o.MaxAmps > 0.320+1e-9:
		return nil, fmt.Errorf("ina219: %g A through %g Ω is %.0f mV, beyond the chip's ±320 mV: a smaller shunt, or a smaller max",
			o.MaxAmps, o.Ohms, 1000*o.Ohms*o.MaxAmps)
	case o.Chemistry != "" && !o.Chemistry.Valid():
		return nil, fmt.Errorf("ina219: chemistry %q: one of %v", o.Chemistry, power.Chemistries)
	}
	sense := physic.ElectricResistance(math.Round(o.Ohms * float64(physic.Ohm)))
	maxCurrent := physic.ElectricCurrent(math.Round(o.MaxAmps * float64(physic.Ampere)))
	if sense < 1 {
		return nil, fmt.Errorf("ina219: shunt %g Ω is too small to measure", o.Ohms)
	}
	return &Source{bus: bus, opts: o, settle: settleTime,
		ina: ina219.Opts{Address: int(o.Addr), SenseResistor: sense, MaxCurrent: fitCalibration(sense, maxCurrent)}}, nil
}

// fitCalibration raises max to the least current whose step the chip's
// 16-bit calibration register can express with this shunt. periph computes
// the register as 0.04096 / (step × ohms), the step being max / 32768
// (datasheet equation 1); from 65536 up it refuses. A 1 mΩ shunt cannot
// count steps finer than 0.625 mA, so a max below 20.48 A gains nothing and
// is raised to it.
func fitCalibration(sense physic.ElectricResistance, max physic.ElectricCurrent) physic.ElectricCurrent {
	// In periph's units (nA, nΩ) the register is 4.096e16 / (step × sense);
	// it stays below 65536 while step × sense > 6.25e11.
	minStep := physic.ElectricCurrent(int64(6.25e11)/int64(sense) + 1)
	if max/(1<<15) < minStep {
		return minStep * (1 << 15)
	}
	return max
}

// String names the chip, for errors and the probe.
func (s *Source) String() string { return fmt.Sprintf("ina219 at %#x", s.opts.Addr) }

// Read takes one reading: volts, amps (positive discharging), charging, the
// state of charge off the curve (unknown while charging: the voltage is
// then the charger's), and mains when the battery is not carrying the load.
// A chip that does not answer, or answers with nothing a battery gives, is
// an error.
func (s *Source) Read(ctx context.Context) (power.Reading, error) {
	if err := ctx.Err(); err != nil {
		return power.Reading{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, err := s.sense(ctx)
	if err != nil {
		s.dev = nil // set it up afresh next time
		return power.Reading{}, fmt.Errorf("%s: %w", s, err)
	}
	volts := float64(pm.Voltage) / float64(physic.Volt)
	amps := float64(pm.Current) / float64(physic.Ampere)
	if s.opts.ChargePositive {
		amps = -amps
	}
	if err := s.plausible(volts); err != nil {
		return power.Reading{}, fmt.Errorf("%s: %w", s, err)
	}
	r := power.Unknown(time.Now())
	r.Volts, r.Amps = volts, amps
	r.Charging = amps < -chargingAmps
	r.OnMains = amps < s.opts.MainsBelow
	if s.opts.Chemistry != "" && !r.Charging {
		soc, _ := s.opts.Chemistry.Charge(volts)
		r.Percent = 100 * soc
	}
	return r, nil
}

// sense sets the chip up if it is not, or if it has lost its calibration
// (a reset: the register reads 0 after power-on, and the current register
// then reads 0 whatever flows), and reads it. Called with mu held.
func (s *Source) sense(ctx context.Context) (ina219.PowerMonitor, error) {
	if s.dev != nil {
		cal, err := s.calibration()
		if err != nil {
			return ina219.PowerMonitor{}, err
		}
		if cal == 0 {
			s.dev = nil
		}
	}
	if s.dev == nil {
		dev, err := ina219.New(s.bus, &s.ina)
		if err != nil {
			return ina219.PowerMonitor{}, fmt.Errorf("set up: %w", err)
		}
		s.dev = dev
		// Until the first conversions end the registers hold zeros.
		select {
		case <-ctx.Done():
			return ina219.PowerMonitor{}, ctx.Err()
		case <-time.After(s.settle):
		}
	}
	pm, err := s.dev.Sense()
	if err != nil {
		return ina219.PowerMonitor{}, fmt.Errorf("read: %w", err)
	}
	return pm, nil
}

// calibration reads the calibration register (0x05) back.
func (s *Source) calibration() (uint16, error) {
	var b [2]byte
	d := i2c.Dev{Bus: s.bus, Addr: s.opts.Addr}
	if err := d.Tx([]byte{0x05}, b[:]); err != nil {
		return 0, fmt.Errorf("read calibration: %w", err)
	}
	return uint16(b[0])<<8 | uint16(b[1]), nil
}

// ErrNoBattery is wrapped by Read when the voltage is one no battery of
// the chemistry gives: nothing is connected to VIN-, or the shunt sits in
// the negative lead, where the chip cannot see the battery's voltage.
var ErrNoBattery = errors.New("no battery voltage")

func (s *Source) plausible(volts float64) error {
	floor := 0.5
	if s.opts.Chemistry != "" {
		if empty, _, ok := s.opts.Chemistry.Range(); ok {
			floor = empty / 2
		}
	}
	if volts < floor {
		return fmt.Errorf("bus voltage %.3f V: %w (below %.1f V)", volts, ErrNoBattery, floor)
	}
	return nil
}
