package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/safepoint-se/safepoint/hardware/hwtest"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/safepoint-se/safepoint/hardware/machine"
	"github.com/safepoint-se/safepoint/hardware/power"
)

func TestHardwareSpecs(t *testing.T) {
	for _, tt := range []struct {
		spec, bus string
		kind      string
		chem      power.Chemistry
		want      string // in the error; "" for none
	}{
		{spec: "hat:x728", bus: "1", kind: "hat:x728", chem: power.LiIon1S},
		{spec: "hat:waveshare-ups-b", bus: "1", kind: "hat:waveshare-ups-b", chem: power.LiIon2S},
		{spec: "hat:x1200", bus: "I2C3", kind: "hat:x1200", chem: power.LiIon1S},
		{spec: "ina219:bus=1,addr=0x40,shunt=0.001,max=20A,chem=lead-acid-12v", bus: "1", kind: "ina219", chem: power.LeadAcid12V},
		{spec: "ina219:addr=0x41,shunt=0.01,max=5,reverse", bus: "1", kind: "ina219"},
		{spec: "gpio:mains=GPIO17,generator=GPIO27", kind: "gpio"},
		{spec: "gpio:mains=GPIO17,active=high,pull=none", kind: "gpio"},
		{spec: "ina219:shunt=0.001,max=20A,chem=lead-acid-12v+gpio:mains=GPIO17,generator=GPIO27", bus: "1", kind: "ina219+gpio", chem: power.LeadAcid12V},
		{spec: "gpio:mains=GPIO17+ina219:shunt=0.001,max=20A", bus: "1", kind: "ina219+gpio"},

		{spec: "hat:pijuice", bus: "1", want: "hat: takes one of waveshare-ups-b, waveshare-ups-c, x1200, x728"},
		{spec: "hat:x728+gpio:mains=GPIO17", bus: "1", want: "a HAT reads its own mains"},
		{spec: "ina219:shunt=0.1,max=5A", bus: "1", want: "beyond the chip's ±320 mV"},
		{spec: "ina219:shunt=-1", bus: "1", want: "shunt \"-1\": a positive number"},
		{spec: "ina219:addr=0x36", bus: "1", want: "0x40–0x4f"},
		{spec: "ina219:amps=3", bus: "1", want: `"amps" is not a key; use bus, addr, shunt, max, chem, reverse`},
		{spec: "ina219:chem=nicad", bus: "1", want: `chemistry "nicad"`},
		{spec: "ina219:bus=one", bus: "1", want: `--i2c-bus "one"`},
		{spec: "hat:x728", bus: "", kind: "hat:x728", chem: power.LiIon1S}, // the default bus, 1
		{spec: "gpio:generator=GPIO27", want: "mains=PIN is required"},
		{spec: "gpio:mains=GPIO17,active=sideways", want: "active \"sideways\""},
		{spec: "gpio:mains=GPIO17,pull=strong", want: "pull \"strong\""},
		{spec: "gpio:mains=GPIO17,mains=GPIO18", want: "mains given twice"},
		{spec: "gpio:mains=GPIO17,generator=GPIO17", want: "one pin"},
		{spec: "ina219:+ina219:", bus: "1", want: "one ina219: only"},
		{spec: "ina219:+gpio:mains=GPIO1+gpio:mains=GPIO2", bus: "1", want: "at most a battery and contacts"},
	} {
		if !isHardware(tt.spec) {
			t.Errorf("%q is not taken for hardware", tt.spec)
			continue
		}
		h, err := parseHardware(tt.spec, tt.bus, "")
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.spec, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want it to say %q", tt.spec, err, tt.want)
		case tt.want == "" && (h.kind() != tt.kind || h.chemistry() != tt.chem):
			t.Errorf("%q: kind %q, chemistry %q; want %q, %q", tt.spec, h.kind(), h.chemistry(), tt.kind, tt.chem)
		}
	}
	for _, spec := range []string{"sim", "nut://x/ups", "hat", "gpio", "ina219:x+sim"} {
		if isHardware(spec) {
			t.Errorf("%q taken for hardware", spec)
		}
	}
	// An ina219 without chem= reads the charge by --battery-chemistry.
	if h, err := parseHardware("ina219:shunt=0.001,max=20A", "1", power.LiFePO4x4); err != nil || h.chemistry() != power.LiFePO4x4 {
		t.Errorf("ina219 without chem=: %v, %v", h, err)
	}
}

// fakeHost hands out a bus and pins; the bus is "missing" until present is
// set, as /dev/i2c-1 is on a Pi whose I2C is off.
type fakeHost struct {
	mu      sync.Mutex
	present bool
	bus     i2c.Bus
	pins    map[string]gpio.PinIO
	opened  int
}

// drivenPin is a pin something drives (a contact, the board's power-loss
// output): setting its pull does not move its level, as gpiotest.Pin's
// does.
type drivenPin struct{ *gpiotest.Pin }

func (p drivenPin) In(pull gpio.Pull, _ gpio.Edge) error {
	p.Lock()
	defer p.Unlock()
	p.P = pull
	return nil
}

func (f *fakeHost) host() hwHost {
	return hwHost{
		bus: func(name string) (i2c.BusCloser, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.present {
				return nil, fmt.Errorf("%w /dev/i2c-%s on this machine: %s", machine.ErrNoI2C, name, machine.HowToEnableI2C)
			}
			f.opened++
			return nopCloser{f.bus}, nil
		},
		pin: func(name string) (gpio.PinIO, error) {
			if p, ok := f.pins[name]; ok {
				return p, nil
			}
			return nil, fmt.Errorf("%w %s", machine.ErrNoPin, name)
		},
	}
}

type nopCloser struct{ i2c.Bus }

func (nopCloser) Close() error { return nil }

// TestHardwareSourceOpensLate: with the bus missing the source is an error
// that says so, read after read; once the bus is there it is read, and not
// opened again.
func TestHardwareSourceOpensLate(t *testing.T) {
	ops := append(gaugeOps(0xC350, 0x4A80), gaugeOps(0xC350, 0x4A80)[1:]...)
	f := &fakeHost{bus: &i2ctest.Playback{Ops: ops, DontPanic: true},
		pins: map[string]gpio.PinIO{"GPIO6": &gpiotest.Pin{N: "GPIO6", Num: 6, L: gpio.Low}}}
	h, err := parseHardware("hat:x728", "1", "")
	if err != nil {
		t.Fatal(err)
	}
	src := &hardwareSource{spec: h, host: f.host()}
	defer src.Close()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := src.Read(ctx); !errors.Is(err, machine.ErrNoI2C) || !strings.Contains(err.Error(), "raspi-config") {
			t.Fatalf("read %d without the bus: %v", i, err)
		}
	}
	f.present = true
	for i := 0; i < 2; i++ {
		r, err := src.Read(ctx)
		if err != nil || !r.OnMains || r.Volts != 3.90625 || r.Percent != 74.5 {
			t.Fatalf("read %d with the bus: %+v, %v", i, r, err)
		}
	}
	if f.opened != 1 {
		t.Errorf("bus opened %d times, want once", f.opened)
	}
}

// TestProbe: what `safepoint hardware probe` prints for each kind of
// hardware (these are the examples in docs/HARDWARE.md), from fake buses
// holding the register values the driver tests work out.
func TestProbe(t *testing.T) {
	pi4 := survey{model: "Raspberry Pi 4 Model B Rev 1.5", buses: []string{"/dev/i2c-1", "/dev/i2c-20", "/dev/i2c-21"},
		chips: []machine.Chip{{Name: "gpiochip0", Label: "pinctrl-bcm2711", Lines: 58}, {Name: "gpiochip1", Label: "raspberrypi-exp-gpio", Lines: 8}}}
	pi5 := survey{model: "Raspberry Pi 5 Model B Rev 1.0", buses: []string{"/dev/i2c-1", "/dev/i2c-13", "/dev/i2c-14"},
		chips: []machine.Chip{{Name: "gpiochip0", Label: "pinctrl-rp1", Lines: 54}}}
	scanINA := func(addr uint16, config uint16) []i2ctest.IO {
		// Scan asks 0x36, then 0x40–0x43; the Playback answers only the
		// address it holds next, so the others are errors, as on a bus.
		return []i2ctest.IO{{Addr: addr, W: []byte{0x00}, R: u16(config)}}
	}
	for _, tt := range []struct {
		name  string
		spec  string
		m     survey
		ops   []i2ctest.IO
		pins  map[string]gpio.Level
		want  string
		fails string
	}{
		{name: "x728", m: pi4,
			ops:  append(gaugeOps(0xC350, 0x4A80)[:1], gaugeOps(0xC350, 0x4A80)...),
			pins: map[string]gpio.Level{"GPIO6": gpio.Low},
			want: `Machine: Raspberry Pi 4 Model B Rev 1.5
I2C buses: /dev/i2c-1, /dev/i2c-20, /dev/i2c-21
GPIO chips: gpiochip0 (pinctrl-bcm2711, 58 lines), gpiochip1 (raspberrypi-exp-gpio, 8 lines)
Looking on /dev/i2c-1 at 0x36 and 0x40-0x43:
  0x36  max1704x (version 0x0003): x1200, x728
Board: x728 (Geekworm X728); to read it: --power hat:x728
  (a gauge at 0x36 is on the X728 and the X1200 alike: chosen by the Pi's model; the two read GPIO6 the opposite way)
Reading (hat:x728): mains on, 3.906 V, current not measured, 74.5 %
Pin GPIO6 (power-loss): low: mains present
`},
		{name: "x1200 off mains", m: pi5,
			ops:  append(gaugeOps(0xA000, 0x0500)[:1], gaugeOps(0xA000, 0x0500)...),
			pins: map[string]gpio.Level{"GPIO6": gpio.Low},
			want: `Machine: Raspberry Pi 5 Model B Rev 1.0
I2C buses: /dev/i2c-1, /dev/i2c-13, /dev/i2c-14
GPIO chips: gpiochip0 (pinctrl-rp1, 54 lines)
Looking on /dev/i2c-1 at 0x36 and 0x40-0x43:
  0x36  max1704x (version 0x0003): x1200, x728
Board: x1200 (Geekworm X1200); to read it: --power hat:x1200
  (a gauge at 0x36 is on the X728 and the X1200 alike: chosen by the Pi's model; the two read GPIO6 the opposite way)
Reading (hat:x1200): mains off, 3.200 V, current not measured, 5.0 %
Pin GPIO6 (power-loss): low: mains absent
`},
		{name: "waveshare-ups-b", m: pi4,
			ops: append(scanINA(0x42, 0x399F), append(ina219SetUp(0x42, 0x1062), ina219Sense(0x42, [4]uint16{0xEC78, 0x3CF2, 0xEC00, 0x07CD})...)...),
			want: `Machine: Raspberry Pi 4 Model B Rev 1.5
I2C buses: /dev/i2c-1, /dev/i2c-20, /dev/i2c-21
GPIO chips: gpiochip0 (pinctrl-bcm2711, 58 lines), gpiochip1 (raspberrypi-exp-gpio, 8 lines)
Looking on /dev/i2c-1 at 0x36 and 0x40-0x43:
  0x42  ina219 (configuration 0x399f): waveshare-ups-b
Board: waveshare-ups-b (Waveshare UPS HAT (B)); to read it: --power hat:waveshare-ups-b
Reading (hat:waveshare-ups-b): mains off (inferred from the current), 7.800 V, 0.500 A discharging, 66.0 %
`},
		{name: "bank", m: pi4, spec: "ina219:shunt=0.001,max=20A,chem=lead-acid-12v+gpio:mains=GPIO17,generator=GPIO27",
			ops:  append(ina219SetUp(0x40, 0xFFFF), ina219Sense(0x40, [4]uint16{0x0320, 0x60E2, 0x31FF, 0x0C00})...),
			pins: map[string]gpio.Level{"GPIO17": gpio.High, "GPIO27": gpio.Low},
			want: `Machine: Raspberry Pi 4 Model B Rev 1.5
I2C buses: /dev/i2c-1, /dev/i2c-20, /dev/i2c-21
GPIO chips: gpiochip0 (pinctrl-bcm2711, 58 lines), gpiochip1 (raspberrypi-exp-gpio, 8 lines)
Reading (ina219+gpio): mains off, generator on, 12.400 V, 7.999 A discharging, 70.0 %
Pin GPIO17 (mains): high: mains absent
Pin GPIO27 (generator): low: generator present
`},
		{name: "contacts", m: pi4, spec: "gpio:mains=GPIO17",
			pins: map[string]gpio.Level{"GPIO17": gpio.Low},
			want: `Machine: Raspberry Pi 4 Model B Rev 1.5
I2C buses: /dev/i2c-1, /dev/i2c-20, /dev/i2c-21
GPIO chips: gpiochip0 (pinctrl-bcm2711, 58 lines), gpiochip1 (raspberrypi-exp-gpio, 8 lines)
Reading (gpio): mains on, no battery numbers (contacts only)
Pin GPIO17 (mains): low: mains present
`},
		{name: "nothing on the bus", m: pi4, fails: "no known board answered on /dev/i2c-1 at 0x36 or 0x40-0x43"},
		{name: "gauge gone after the scan", m: pi4, ops: gaugeOps(0, 0)[:1], pins: map[string]gpio.Level{"GPIO6": gpio.Low},
			fails: "hardware probe: reading hat:x728: hat x728: max1704x at 0x36: read version"},
		{name: "not hardware", spec: "sim", fails: `the probe reads hat:, ina219: and gpio: sources`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHost{present: true, bus: &i2ctest.Playback{Ops: tt.ops, DontPanic: true}, pins: map[string]gpio.PinIO{}}
			for name, l := range tt.pins {
				f.pins[name] = drivenPin{&gpiotest.Pin{N: name, L: l}}
			}
			var out bytes.Buffer
			err := probe(context.Background(), &out, powerConfig{Spec: tt.spec, I2CBus: "1"}, f.host(), func() survey { return tt.m })
			if tt.fails != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fails) {
					t.Fatalf("%v, want it to say %q; printed:\n%s", err, tt.fails, &out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v; printed:\n%s", err, &out)
			}
			if out.String() != tt.want {
				t.Errorf("printed:\n%s\nwant:\n%s", &out, tt.want)
			}
		})
	}

	// No bus: one line, naming the bus and how to turn I2C on.
	f := &fakeHost{}
	err := probe(context.Background(), &bytes.Buffer{}, powerConfig{I2CBus: "1"}, f.host(), func() survey { return survey{} })
	if !errors.Is(err, machine.ErrNoI2C) || strings.Contains(err.Error(), "\n") {
		t.Errorf("no bus: %v", err)
	}
}

// gaugeOps: VERSION (0x0003), VCELL, SOC at 0x36.
func gaugeOps(vcell, soc uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: 0x36, W: []byte{0x08}, R: []byte{0x00, 0x03}},
		{Addr: 0x36, W: []byte{0x02}, R: u16(vcell)},
		{Addr: 0x36, W: []byte{0x04}, R: u16(soc)},
	}
}

// The INA219's transactions and register bytes, shared with the other
// hardware tests.
var (
	u16         = hwtest.U16
	ina219SetUp = hwtest.INA219SetUp
	ina219Sense = hwtest.INA219Sense
)
