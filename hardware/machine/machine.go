// Package machine opens what the hardware drivers need of the computer they
// run on, through periph.io: its host drivers (host.Init), its I²C buses
// (i2creg) and its GPIO pins (gpioreg), by name, with errors that say how to
// turn them on. It is the one package that touches the real host; the
// drivers (hardware/hat, shunt, contacts) take the buses and pins it opens,
// so they run and are tested without a Pi. It returns errors and never
// logs (periph's own host drivers may log a line when a GPIO chip cannot be
// opened).
package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
	"periph.io/x/host/v3/sysfs"
)

// ErrNoI2C is wrapped when the I²C bus asked for is not there.
var ErrNoI2C = errors.New("no I2C bus")

// ErrNoPin is wrapped when the GPIO pin asked for is not there.
var ErrNoPin = errors.New("no GPIO pin")

// HowToEnableI2C says how to turn I²C on, for errors and the docs.
const HowToEnableI2C = "turn I2C on with `sudo raspi-config nonint do_i2c 0` " +
	"(or dtparam=i2c_arm=on in /boot/firmware/config.txt) and reboot"

// Init loads periph.io's host drivers; later calls return the first
// call's state. A driver that finds nothing to drive (no GPIO chip on a
// PC) is skipped, not an error.
func Init() (*driverreg.State, error) {
	st, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("periph.io host: %w", err)
	}
	return st, nil
}

// BusPath is the device file of an I²C bus named "1", "I2C1" or
// "/dev/i2c-1"; ok is false for another spelling.
func BusPath(name string) (path string, number int, ok bool) {
	s := strings.TrimPrefix(strings.TrimPrefix(name, "/dev/i2c-"), "I2C")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return fmt.Sprintf("/dev/i2c-%d", n), n, true
}

// I2C opens the I²C bus name: "1", "I2C1" or "/dev/i2c-1".
func I2C(name string) (i2c.BusCloser, error) {
	path, n, ok := BusPath(name)
	if !ok {
		return nil, fmt.Errorf("I2C bus %q: give its number, e.g. 1 for /dev/i2c-1", name)
	}
	if _, err := Init(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %s on this machine: %s", ErrNoI2C, path, HowToEnableI2C)
	}
	b, err := i2creg.Open(strconv.Itoa(n))
	if err != nil {
		// periph lists the buses once, at Init: one that appeared since
		// (modprobe i2c-dev) is opened directly.
		b, err = sysfs.NewI2C(n)
	}
	if err != nil {
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			return nil, fmt.Errorf("%s: permission denied: add the user the node runs as to the i2c group (sudo adduser safepoint i2c): %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Buses lists the I²C buses' device files, as the system has them now.
func Buses() []string {
	found, _ := filepath.Glob("/dev/i2c-*")
	slices.SortFunc(found, func(a, b string) int {
		_, x, _ := BusPath(a)
		_, y, _ := BusPath(b)
		return x - y
	})
	return found
}

// Chip is one GPIO chip.
type Chip struct {
	Name, Label string
	Lines       int
}

// Chips lists the GPIO chips periph found at Init.
func Chips() []Chip {
	var out []Chip
	for _, c := range gpioioctl.Chips {
		out = append(out, Chip{Name: c.Name(), Label: c.Label(), Lines: c.LineCount()})
	}
	return out
}

// Pin finds the GPIO pin name ("GPIO6", as the Pi's header and gpioinfo
// call it).
func Pin(name string) (gpio.PinIO, error) {
	if _, err := Init(); err != nil {
		return nil, err
	}
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) == 0 {
		return nil, fmt.Errorf("%w %s: this machine has no /dev/gpiochip* (not a Raspberry Pi?)", ErrNoPin, name)
	}
	return nil, fmt.Errorf("%w %s among this machine's GPIO lines (gpioinfo lists them; the node's user needs the gpio group)", ErrNoPin, name)
}

// Model is the board's model from the device tree ("Raspberry Pi 5 Model B
// Rev 1.0"), or "" where there is none.
func Model() string {
	b, err := os.ReadFile("/proc/device-tree/model")
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(b), "\x00\n")
}
