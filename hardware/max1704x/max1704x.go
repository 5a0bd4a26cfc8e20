// Package max1704x drives Maxim's MAX17040, MAX17043 and MAX17048 one-cell
// fuel gauges over I²C: the cell's voltage and the state of charge the
// gauge's ModelGauge algorithm works out from it. Geekworm's X728 and X1200
// UPS boards carry one at 0x36.
//
// The family shares the registers read here (datasheets: MAX17040/41,
// MAX17043/44, MAX17048/49, each "Register Summary"): VCELL at 0x02, SOC at
// 0x04, VERSION at 0x08, each 16 bits, most significant byte first.
//
//   - VCELL: the MAX17040/43 put a 12-bit reading in bits 15–4 in steps of
//     1.25 mV; the MAX17048 uses all 16 bits in steps of 78.125 µV. Both are
//     the whole register × 78.125 µV (1.25 mV ÷ 16), so one formula reads
//     every member: 0xB900 = 47 360 → 3.700 V.
//   - SOC: the high byte is whole percent, the low byte 1/256 %: 0x230F →
//     35 + 15/256 = 35.06 %.
//
// The two-cell members (MAX17041/44) count VCELL in steps twice as large;
// they are not on any board this project knows, and are not supported.
//
// Like periph.io's drivers it returns errors and never logs. A gauge that
// does not answer is an error, never a zero; so is a reading no cell can
// give (a bus that floats high reads 0xFFFF: 5.12 V and 255 %).
package max1704x

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/mmr"
)

// DefaultAddr is the family's fixed I²C address.
const DefaultAddr = 0x36

// Registers.
const (
	regVCell   = 0x02
	regSOC     = 0x04
	regVersion = 0x08
)

// Opts configure a Dev. Zero fields mean defaults.
type Opts struct {
	Addr uint16 // DefaultAddr
}

// Plausible limits of one Li-ion cell: outside them the cell is missing or
// shorted, or the bus returned garbage.
const (
	minVolts   = 2.0
	maxVolts   = 4.5
	maxPercent = 105.0 // the gauge may report a little over 100 % when full
)

// Dev is one fuel gauge.
type Dev struct {
	mu      sync.Mutex
	m       mmr.Dev8
	addr    uint16
	version uint16
}

// Reading is one look at the cell.
type Reading struct {
	Volts   float64 // the cell's voltage, V
	Percent float64 // state of charge by the gauge, 0–100
}

// New opens the gauge at opts.Addr on bus and checks that it answers, by
// reading its VERSION register.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	addr := uint16(DefaultAddr)
	if opts != nil && opts.Addr != 0 {
		addr = opts.Addr
	}
	if addr > 0x7f {
		return nil, fmt.Errorf("max1704x: address %#x is not a 7-bit I²C address", addr)
	}
	d := &Dev{m: mmr.Dev8{Conn: &i2c.Dev{Bus: bus, Addr: addr}, Order: binary.BigEndian}, addr: addr}
	v, err := d.m.ReadUint16(regVersion)
	if err != nil {
		return nil, fmt.Errorf("max1704x at %#x: read version: %w", addr, err)
	}
	if v == 0xffff {
		return nil, fmt.Errorf("max1704x at %#x: version reads 0xffff: no gauge drives the bus", addr)
	}
	d.version = v
	return d, nil
}

// Version is what the gauge's VERSION register said at New.
func (d *Dev) Version() uint16 { return d.version }

// String names the device, for errors and the probe.
func (d *Dev) String() string { return fmt.Sprintf("max1704x at %#x", d.addr) }

// ErrImplausible is wrapped by Sense when the gauge answers with numbers no
// cell gives.
var ErrImplausible = errors.New("not a cell's reading")

// Sense reads the cell's voltage and state of charge.
func (d *Dev) Sense() (Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	vcell, err := d.m.ReadUint16(regVCell)
	if err != nil {
		return Reading{}, fmt.Errorf("%s: read VCELL: %w", d, err)
	}
	soc, err := d.m.ReadUint16(regSOC)
	if err != nil {
		return Reading{}, fmt.Errorf("%s: read SOC: %w", d, err)
	}
	r := Reading{Volts: Volts(vcell), Percent: Percent(soc)}
	if r.Volts < minVolts || r.Volts > maxVolts {
		return Reading{}, fmt.Errorf("%s: VCELL %#04x is %.3f V: %w (no cell, or a bad bus)", d, vcell, r.Volts, ErrImplausible)
	}
	if r.Percent > maxPercent {
		return Reading{}, fmt.Errorf("%s: SOC %#04x is %.1f %%: %w", d, soc, r.Percent, ErrImplausible)
	}
	r.Percent = min(r.Percent, 100)
	return r, nil
}

// Volts converts a VCELL register to volts: 78.125 µV a step.
func Volts(raw uint16) float64 { return float64(raw) * 78.125e-6 }

// Percent converts a SOC register to percent: 1/256 % a step.
func Percent(raw uint16) float64 { return float64(raw) / 256 }
