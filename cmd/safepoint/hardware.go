package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/safepoint-se/safepoint/hardware/bank"
	"github.com/safepoint-se/safepoint/hardware/contacts"
	"github.com/safepoint-se/safepoint/hardware/hat"
	"github.com/safepoint-se/safepoint/hardware/machine"
	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/hardware/shunt"
)

// hwSpec is a --power spec for hardware the node reads itself: hat:BOARD,
// ina219:KEY=VALUE,…, gpio:KEY=VALUE,…, or ina219:…+gpio:… (the battery
// from the shunt, mains and generator from the contacts).
type hwSpec struct {
	board    *hat.Board   // hat:
	shunt    *shunt.Opts  // ina219:
	contacts *contactSpec // gpio:
	bus      string       // the I2C bus, for hat: and ina219:
}

// contactSpec is gpio:'s pins by name, with their active level and pull.
type contactSpec struct {
	mains, generator string
	active           gpio.Level
	pull             gpio.Pull
}

// isHardware reports whether spec is one of hwSpec's spellings.
func isHardware(spec string) bool {
	for _, part := range strings.Split(spec, "+") {
		if !strings.HasPrefix(part, "hat:") && !strings.HasPrefix(part, "ina219:") && !strings.HasPrefix(part, "gpio:") {
			return false
		}
	}
	return true
}

// parseHardware reads a hardware spec; bus is --i2c-bus (empty: 1), which ina219's
// bus= overrides, and chem the --battery-chemistry, which ina219 without
// chem= reads the state of charge with.
func parseHardware(spec, bus string, chem power.Chemistry) (*hwSpec, error) {
	if bus == "" {
		bus = "1"
	}
	h := &hwSpec{bus: bus}
	parts := strings.Split(spec, "+")
	if len(parts) > 2 {
		return nil, fmt.Errorf("--power %q: join at most a battery and contacts: ina219:…+gpio:…", spec)
	}
	for _, part := range parts {
		kind, rest, _ := strings.Cut(part, ":")
		var err error
		switch kind {
		case "hat":
			if len(parts) > 1 {
				return nil, fmt.Errorf("--power %q: a HAT reads its own mains; join contacts to an ina219: only", spec)
			}
			b, ok := hat.Lookup(rest)
			if !ok {
				return nil, fmt.Errorf("--power %q: not a board this program knows; hat: takes one of %s", spec, strings.Join(hat.Names(), ", "))
			}
			h.board = &b
		case "ina219":
			if h.shunt != nil {
				return nil, fmt.Errorf("--power %q: one ina219: only", spec)
			}
			h.shunt, h.bus, err = parseINA219(rest, bus, chem)
		case "gpio":
			if h.contacts != nil {
				return nil, fmt.Errorf("--power %q: one gpio: only", spec)
			}
			h.contacts, err = parseContacts(rest)
		}
		if err != nil {
			return nil, fmt.Errorf("--power %q: %w", spec, err)
		}
	}
	if h.needsBus() {
		if _, _, ok := machine.BusPath(h.bus); !ok {
			return nil, fmt.Errorf("--i2c-bus %q: give the bus's number, e.g. 1 for /dev/i2c-1", h.bus)
		}
	}
	return h, nil
}

// keyValues splits "k=v,k=v" into a map, refusing unknown and repeated
// keys; a bare key is "true".
func keyValues(s string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			v = "true"
		}
		k = strings.TrimSpace(k)
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%q is not a key; use %s", k, strings.Join(known, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// parseINA219 reads bus=1,addr=0x40,shunt=0.001,max=20A,chem=lead-acid-12v[,reverse].
func parseINA219(s, bus string, chem power.Chemistry) (*shunt.Opts, string, error) {
	kv, err := keyValues(s, "bus", "addr", "shunt", "max", "chem", "reverse")
	if err != nil {
		return nil, "", fmt.Errorf("ina219: %w", err)
	}
	o := &shunt.Opts{Chemistry: chem}
	if v, ok := kv["bus"]; ok {
		bus = v
	}
	if v, ok := kv["addr"]; ok {
		a, err := strconv.ParseUint(v, 0, 16)
		if err != nil {
			return nil, "", fmt.Errorf("ina219: addr %q: a number, e.g. 0x40", v)
		}
		o.Addr = uint16(a)
	}
	number := func(key, unit string) (float64, error) {
		v, ok := kv[key]
		if !ok {
			return 0, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, unit), 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return 0, fmt.Errorf("ina219: %s %q: a positive number", key, v)
		}
		return f, nil
	}
	if o.Ohms, err = number("shunt", "Ω"); err != nil {
		return nil, "", err
	}
	if o.MaxAmps, err = number("max", "A"); err != nil {
		return nil, "", err
	}
	if v, ok := kv["chem"]; ok {
		o.Chemistry = power.Chemistry(v)
	}
	if v, ok := kv["reverse"]; ok {
		if o.ChargePositive, err = strconv.ParseBool(v); err != nil {
			return nil, "", fmt.Errorf("ina219: reverse %q: true or false", v)
		}
	}
	// shunt.New checks the rest (address range, the ±320 mV, the chemistry).
	if _, err := shunt.New(noBus{}, o); err != nil {
		return nil, "", err
	}
	return o, bus, nil
}

// parseContacts reads mains=GPIO17,generator=GPIO27,active=low,pull=up.
func parseContacts(s string) (*contactSpec, error) {
	kv, err := keyValues(s, "mains", "generator", "active", "pull")
	if err != nil {
		return nil, fmt.Errorf("gpio: %w", err)
	}
	c := &contactSpec{mains: kv["mains"], generator: kv["generator"]}
	if c.mains == "" {
		return nil, errors.New("gpio: mains=PIN is required, e.g. mains=GPIO17")
	}
	if c.mains == c.generator {
		return nil, errors.New("gpio: mains and generator on one pin")
	}
	switch kv["active"] {
	case "", "low":
		c.active = gpio.Low
	case "high":
		c.active = gpio.High
	default:
		return nil, fmt.Errorf("gpio: active %q: low (a contact to ground, the default) or high", kv["active"])
	}
	switch kv["pull"] {
	case "":
		c.pull = gpio.PullNoChange // contacts' default: against the active level
	case "up":
		c.pull = gpio.PullUp
	case "down":
		c.pull = gpio.PullDown
	case "none":
		c.pull = gpio.Float
	default:
		return nil, fmt.Errorf("gpio: pull %q: up, down or none", kv["pull"])
	}
	return c, nil
}

// noBus is an I2C bus for checking options: nothing is sent on it.
type noBus struct{}

func (noBus) String() string                  { return "none" }
func (noBus) Tx(uint16, []byte, []byte) error { return errors.New("no bus") }
func (noBus) SetSpeed(physic.Frequency) error { return nil }

// kind is what the monitor and the board call the source.
func (h *hwSpec) kind() string {
	switch {
	case h.board != nil:
		return "hat:" + h.board.Name
	case h.shunt != nil && h.contacts != nil:
		return "ina219+gpio"
	case h.shunt != nil:
		return "ina219"
	}
	return "gpio"
}

// chemistry is the battery's, when the spec says.
func (h *hwSpec) chemistry() power.Chemistry {
	switch {
	case h.board != nil:
		return h.board.Chemistry
	case h.shunt != nil:
		return h.shunt.Chemistry
	}
	return ""
}

func (h *hwSpec) needsBus() bool { return h.board != nil || h.shunt != nil }

// hwHost is where the hardware comes from: the machine, or fakes in tests.
type hwHost struct {
	bus func(name string) (i2c.BusCloser, error)
	pin func(name string) (gpio.PinIO, error)
}

var realHost = hwHost{bus: machine.I2C, pin: machine.Pin}

// contactPin is one input pin and what its level means, for the probe.
type contactPin struct {
	role    string // "mains", "generator", "power-loss"
	pin     gpio.PinIn
	present gpio.Level // the level that means the supply is there
}

// openedHW is a hardware spec opened: its source, the pins it reads, and
// its bus to close.
type openedHW struct {
	src  powermon.Source
	pins []contactPin
	bus  i2c.BusCloser
}

func (o *openedHW) Close() error {
	if o.bus == nil {
		return nil
	}
	return o.bus.Close()
}

// open opens the bus and pins the spec names and builds its source.
func (h *hwSpec) open(host hwHost) (*openedHW, error) {
	o := &openedHW{}
	if err := h.build(host, o); err != nil {
		o.Close() // the bus, if it opened
		return nil, err
	}
	return o, nil
}

// build opens into o what the spec names.
func (h *hwSpec) build(host hwHost, o *openedHW) error {
	var err error
	if h.needsBus() {
		if o.bus, err = host.bus(h.bus); err != nil {
			return err
		}
	}
	var supply *contacts.Source
	if h.contacts != nil {
		c := h.contacts
		opts := &contacts.Opts{Active: c.active, Pull: c.pull}
		if opts.Mains, err = host.pin(c.mains); err != nil {
			return err
		}
		if c.generator != "" {
			if opts.Generator, err = host.pin(c.generator); err != nil {
				return err
			}
		}
		if supply, err = contacts.New(opts); err != nil {
			return err
		}
		o.pins = append(o.pins, contactPin{"mains", opts.Mains, c.active})
		if opts.Generator != nil {
			o.pins = append(o.pins, contactPin{"generator", opts.Generator, c.active})
		}
	}
	switch {
	case h.board != nil:
		var pin gpio.PinIO
		if h.board.Pin != "" {
			if pin, err = host.pin(h.board.Pin); err != nil {
				return fmt.Errorf("hat %s: power-loss pin: %w", h.board.Name, err)
			}
			o.pins = append(o.pins, contactPin{"power-loss", pin, !h.board.LostLevel})
		}
		var pinIn gpio.PinIn
		if pin != nil {
			pinIn = pin
		}
		if o.src, err = hat.Open(o.bus, pinIn, h.board.Name); err != nil {
			return err
		}
	case h.shunt != nil:
		battery, err := shunt.New(o.bus, h.shunt)
		if err != nil {
			return err
		}
		o.src = battery
		if supply != nil {
			o.src = bank.New(battery, supply)
		}
	default:
		o.src = supply
	}
	return nil
}

// hardwareSource opens its hardware on the first Read, and again on each
// Read until it opens: a node whose bus is off, or whose HAT is missing,
// starts anyway, serves every page, and shows the power as unknown with
// why, while the monitor keeps asking (with backoff).
type hardwareSource struct {
	spec *hwSpec
	host hwHost

	mu     sync.Mutex
	opened *openedHW
}

func (s *hardwareSource) Read(ctx context.Context) (power.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened == nil {
		o, err := s.spec.open(s.host)
		if err != nil {
			return power.Reading{}, err
		}
		s.opened = o
	}
	return s.opened.src.Read(ctx)
}

func (s *hardwareSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened == nil {
		return nil
	}
	err := s.opened.Close()
	s.opened = nil
	return err
}

var _ io.Closer = (*hardwareSource)(nil)
