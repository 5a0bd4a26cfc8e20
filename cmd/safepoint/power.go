package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/hardware/nut"
	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/hardware/sim"
)

// powerConfig is the node's power configuration (part of nodeConfig).
type powerConfig struct {
	Spec         string        `toml:"power"`
	I2CBus       string        `toml:"i2c_bus"`
	User         string        `toml:"power_user"`
	PasswordFile string        `toml:"power_password_file"`
	Chemistry    string        `toml:"battery_chemistry"`
	CapacityAh   float64       `toml:"battery_ah"`
	Peukert      float64       `toml:"battery_peukert"`
	HoldOB       time.Duration `toml:"power_hold_ob"`
	HoldOL       time.Duration `toml:"power_hold_ol"`
	HoldCritical time.Duration `toml:"power_hold_critical"`
	Shutdown     string        `toml:"shutdown_command"`
	BurnRate     float64       `toml:"generator_burn"`
}

// openPower builds the power source a --power spec names, and what the
// estimator should know of the battery. An empty spec watches nothing.
func openPower(pc powerConfig) (powermon.Source, string, powermon.Battery, io.Closer, error) {
	bat := powermon.Battery{Chemistry: power.Chemistry(pc.Chemistry), CapacityAh: pc.CapacityAh, Peukert: pc.Peukert}
	spec := pc.Spec
	switch {
	case spec == "":
		return nil, "", bat, nil, nil
	case spec == "sim" || strings.HasPrefix(spec, "sim:"):
		sc := sim.Default()
		if file, ok := strings.CutPrefix(spec, "sim:"); ok {
			var err error
			if sc, err = sim.Load(file); err != nil {
				return nil, "", bat, nil, fmt.Errorf("--power: %w", err)
			}
		}
		src, err := sim.New(sc, nil)
		if err != nil {
			return nil, "", bat, nil, fmt.Errorf("--power: %w", err)
		}
		// The simulated bank is what an installer would read off its
		// datasheet, unless the flags say otherwise.
		if bat.Chemistry == "" {
			bat.Chemistry = sc.Battery.Chemistry
		}
		if bat.CapacityAh == 0 {
			bat.CapacityAh = sc.Battery.CapacityAh
		}
		if bat.Peukert == 0 {
			bat.Peukert = sc.Battery.Peukert
		}
		bat.RatedHours = sc.Battery.RatedHours
		return src, "sim", bat, nil, nil
	case strings.HasPrefix(spec, "nut://"):
		addr, err := nut.Parse(spec)
		if err != nil {
			return nil, "", bat, nil, fmt.Errorf("--power: %w", err)
		}
		opts := &nut.Opts{User: pc.User}
		if pc.PasswordFile != "" {
			b, err := os.ReadFile(pc.PasswordFile)
			if err != nil {
				return nil, "", bat, nil, fmt.Errorf("--power-password-file: %w", err)
			}
			opts.Password = strings.TrimRight(string(b), "\r\n")
		}
		c := nut.New(addr, opts)
		return c, "nut", bat, c, nil
	case isHardware(spec):
		hw, err := parseHardware(spec, pc.I2CBus, bat.Chemistry)
		if err != nil {
			return nil, "", bat, nil, err
		}
		if bat.Chemistry == "" {
			bat.Chemistry = hw.chemistry()
		}
		// Opened on the first read, not here: a missing bus or HAT is a
		// power source lost, not a node that cannot start.
		src := &hardwareSource{spec: hw, host: realHost}
		return src, hw.kind(), bat, src, nil
	}
	return nil, "", bat, nil, fmt.Errorf("--power %q: not a power source; use one of %s", spec, powerSpecs)
}

func (pc powerConfig) validate() error {
	var errs []error
	if pc.Chemistry != "" && !power.Chemistry(pc.Chemistry).Valid() {
		errs = append(errs, fmt.Errorf("--battery-chemistry %q: one of %v", pc.Chemistry, power.Chemistries))
	}
	if pc.CapacityAh < 0 || pc.Peukert < 0 || pc.BurnRate < 0 {
		errs = append(errs, errors.New("--battery-ah, --battery-peukert and --generator-burn cannot be negative"))
	}
	if pc.Spec != "" && !knownSource(pc.Spec) {
		// Said first and alone: the battery flags mean nothing for a
		// source that does not exist.
		return fmt.Errorf("--power %q: not a power source; use one of %s", pc.Spec, powerSpecs)
	}
	if isHardware(pc.Spec) {
		if _, err := parseHardware(pc.Spec, pc.I2CBus, power.Chemistry(pc.Chemistry)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// powerSpecs are the --power spellings, for errors and help.
const powerSpecs = "sim, sim:FILE, nut://host[:3493]/ups, hat:BOARD (waveshare-ups-b, waveshare-ups-c, x728, x1200), " +
	"ina219:bus=1,addr=0x40,shunt=0.001,max=20A,chem=lead-acid-12v, gpio:mains=GPIO17,generator=GPIO27, ina219:…+gpio:…"

// knownSource reports whether spec names a power source this program has.
func knownSource(spec string) bool {
	return spec == "sim" || strings.HasPrefix(spec, "sim:") || strings.HasPrefix(spec, "nut://") || isHardware(spec)
}

// shutdownAction runs the configured shutdown command through /bin/sh.
func shutdownAction(command string) func(ctx context.Context) error {
	if command == "" {
		return nil
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", command).CombinedOutput()
		if err != nil {
			return fmt.Errorf("shutdown command: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}
