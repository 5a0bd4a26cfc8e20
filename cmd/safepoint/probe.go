package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/safepoint-se/safepoint/hardware/hat"
	"github.com/safepoint-se/safepoint/hardware/machine"
	"github.com/safepoint-se/safepoint/hardware/power"
)

// probeTimeout bounds the probe: a hung bus must not hang an installer.
const probeTimeout = 8 * time.Second

func runHardware(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "probe" && !strings.HasPrefix(args[0], "-")) {
		fmt.Fprintln(stderr, "Usage: safepoint hardware probe [flags]\n\nRun 'safepoint hardware probe -h' for its flags.")
		return errUsage
	}
	if args[0] == "probe" {
		args = args[1:]
	}
	cfg := defaultNodeConfig()
	var configPath string
	fs := flag.NewFlagSet("hardware probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&configPath, "config", "", "the node's TOML configuration `file`: probe its power and i2c_bus")
	fs.StringVar(&cfg.Spec, "power", cfg.Spec, "read this hat:, ina219: or gpio: `spec` instead of looking for a board")
	fs.StringVar(&cfg.I2CBus, "i2c-bus", cfg.I2CBus, "I2C `bus` to look on (1 is /dev/i2c-1, the Pi's header)")
	fs.StringVar(&cfg.Chemistry, "battery-chemistry", cfg.Chemistry, "battery `chemistry`, for an ina219: without chem=")
	setUsage(fs, "Look at the power hardware: initialise periph.io's host, list the I2C buses and\n"+
		"GPIO chips, look for the known boards' chips (0x36, 0x40-0x43), name the board,\n"+
		"print one reading and the contacts' levels. Exits non-zero when it cannot.")
	err := parseLayered(fs, args, env, &configPath,
		func() { cfg = defaultNodeConfig() },
		func(path string) error { return decodeTOML(path, &cfg) })
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	done := make(chan error, 1)
	// periph's calls take no context: the probe runs aside, and a bus that
	// hangs is given up on (the process exits right after).
	go func() { done <- probe(ctx, stdout, cfg.powerConfig, realHost, realSurvey()) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("hardware probe: no answer within %v (a hung I2C bus?)", probeTimeout)
	}
}

// survey is what the machine has, for the probe to print.
type survey struct {
	model string
	buses []string
	chips []machine.Chip
}

func realSurvey() func() survey {
	return func() survey {
		machine.Init() // the GPIO chips are periph's, found at Init; an error here shows as none
		return survey{model: machine.Model(), buses: machine.Buses(), chips: machine.Chips()}
	}
}

// probe prints what it finds; it returns an error (one line, for the
// exit) when there is no bus, no board or no reading.
func probe(ctx context.Context, out io.Writer, pc powerConfig, host hwHost, look func() survey) error {
	var spec *hwSpec
	if pc.Spec != "" {
		if !isHardware(pc.Spec) {
			return fmt.Errorf("hardware probe: --power %q: the probe reads hat:, ina219: and gpio: sources", pc.Spec)
		}
		var err error
		if spec, err = parseHardware(pc.Spec, pc.I2CBus, power.Chemistry(pc.Chemistry)); err != nil {
			return err
		}
	}
	busName := pc.I2CBus
	if spec != nil {
		busName = spec.bus
	}
	if spec == nil || spec.needsBus() {
		if _, _, ok := machine.BusPath(busName); !ok {
			return fmt.Errorf("--i2c-bus %q: give the bus's number, e.g. 1 for /dev/i2c-1", busName)
		}
		// Opened first: without it there is nothing to probe, and one clear
		// line says so.
		bus, err := host.bus(busName)
		if err != nil {
			return err
		}
		if spec == nil {
			m := look()
			printSurvey(out, m)
			path, _, _ := machine.BusPath(busName)
			fmt.Fprintf(out, "Looking on %s at 0x36 and 0x40-0x43:\n", path)
			found := hat.Scan(bus)
			bus.Close()
			board, err := chooseBoard(out, found, m.model, path)
			if err != nil {
				return err
			}
			spec = &hwSpec{board: &board, bus: busName}
		} else {
			bus.Close()
			printSurvey(out, look())
		}
	} else {
		printSurvey(out, look())
	}

	o, err := spec.open(host)
	if err != nil {
		return fmt.Errorf("hardware probe: %w", err)
	}
	defer o.Close()
	r, err := o.src.Read(ctx)
	if err != nil {
		return fmt.Errorf("hardware probe: reading %s: %w", spec.kind(), err)
	}
	fmt.Fprintf(out, "Reading (%s): %s\n", spec.kind(), describeReading(r, spec))
	for _, p := range o.pins {
		level := p.pin.Read()
		meaning := "present"
		if level != p.present {
			meaning = "absent"
		}
		what := p.role
		if p.role == "power-loss" {
			what = "mains"
		}
		fmt.Fprintf(out, "Pin %s (%s): %s: %s %s\n", p.pin.Name(), p.role, levelWord(level), what, meaning)
	}
	return nil
}

func printSurvey(out io.Writer, m survey) {
	model := m.model
	if model == "" {
		model = "no device-tree model (not a Raspberry Pi?)"
	}
	fmt.Fprintf(out, "Machine: %s\n", model)
	fmt.Fprintf(out, "I2C buses: %s\n", orNone(m.buses))
	var chips []string
	for _, c := range m.chips {
		chips = append(chips, fmt.Sprintf("%s (%s, %d lines)", c.Name, c.Label, c.Lines))
	}
	fmt.Fprintf(out, "GPIO chips: %s\n", orNone(chips))
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// chooseBoard names the board from the chips that answered. A MAX1704x at
// 0x36 is an X728 or an X1200, which the gauge cannot tell apart: the X1200
// is the Pi 5's, the X728 the boards' before it.
func chooseBoard(out io.Writer, found []hat.Found, model, path string) (hat.Board, error) {
	var names []string
	for _, f := range found {
		fmt.Fprintf(out, "  %#x  %s (%s): %s\n", f.Addr, f.Chip, f.Detail, orNone(f.Boards))
		names = append(names, f.Boards...)
	}
	var name string
	switch {
	case len(names) == 0:
		return hat.Board{}, fmt.Errorf("hardware probe: no known board answered on %s at 0x36 or 0x40-0x43: "+
			"is the HAT seated? (i2cdetect -y lists what answers; a shunt elsewhere is read with --power ina219:addr=…)", path)
	case names[0] == "x1200" || names[0] == "x728":
		name = "x728"
		if strings.Contains(model, "Raspberry Pi 5") {
			name = "x1200"
		}
	default:
		name = names[0]
	}
	b, _ := hat.Lookup(name)
	fmt.Fprintf(out, "Board: %s (%s); to read it: --power hat:%s\n", b.Name, b.Title, b.Name)
	if b.Chip == hat.ChipMAX1704x {
		fmt.Fprintln(out, "  (a gauge at 0x36 is on the X728 and the X1200 alike: chosen by the Pi's model; the two read GPIO6 the opposite way)")
	}
	return b, nil
}

// describeReading says a reading in one line.
func describeReading(r power.Reading, spec *hwSpec) string {
	var parts []string
	mains := "mains " + onOff(r.OnMains)
	if (spec.board != nil && spec.board.Pin == "") || (spec.board == nil && spec.contacts == nil) {
		mains += " (inferred from the current)"
	}
	parts = append(parts, mains)
	if spec.contacts != nil && spec.contacts.generator != "" {
		parts = append(parts, "generator "+onOff(r.Generator))
	}
	if power.Known(r.Volts) {
		parts = append(parts, fmt.Sprintf("%.3f V", r.Volts))
	}
	switch {
	case !power.Known(r.Amps) && spec.contacts != nil && spec.shunt == nil:
		parts = append(parts, "no battery numbers (contacts only)")
	case !power.Known(r.Amps):
		parts = append(parts, "current not measured")
	case r.Amps < 0:
		parts = append(parts, fmt.Sprintf("%.3f A charging", math.Abs(r.Amps)))
	default:
		parts = append(parts, fmt.Sprintf("%.3f A discharging", r.Amps))
	}
	if power.Known(r.Percent) {
		parts = append(parts, fmt.Sprintf("%.1f %%", r.Percent))
	} else if power.Known(r.Volts) {
		parts = append(parts, "charge unknown (charging: the voltage is the charger's)")
	}
	return strings.Join(parts, ", ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func levelWord(l gpio.Level) string {
	if l {
		return "high"
	}
	return "low"
}
