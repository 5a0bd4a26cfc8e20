package machine

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestBusPath(t *testing.T) {
	for _, tt := range []struct {
		name string
		path string
		ok   bool
	}{
		{"1", "/dev/i2c-1", true},
		{"I2C1", "/dev/i2c-1", true},
		{"/dev/i2c-22", "/dev/i2c-22", true},
		{"i2c", "", false},
		{"-1", "", false},
	} {
		if path, _, ok := BusPath(tt.name); path != tt.path || ok != tt.ok {
			t.Errorf("%q: %q %t, want %q %t", tt.name, path, ok, tt.path, tt.ok)
		}
	}
}

// TestNoBus: on a machine without the bus (any PC, a Pi with I2C off) the
// error names the device file and says how to turn I2C on.
func TestNoBus(t *testing.T) {
	const bus = "/dev/i2c-1"
	if _, err := os.Stat(bus); err == nil {
		t.Skipf("%s exists here", bus)
	}
	_, err := I2C("1")
	if !errors.Is(err, ErrNoI2C) {
		t.Fatalf("I2C(1): %v, want ErrNoI2C", err)
	}
	for _, want := range []string{bus, "raspi-config", "dtparam=i2c_arm=on"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if _, err := I2C("one"); err == nil {
		t.Error(`I2C("one"): no error`)
	}
}

func TestNoPin(t *testing.T) {
	if _, err := os.Stat("/dev/gpiochip0"); err == nil {
		t.Skip("this machine has GPIO chips")
	}
	if _, err := Pin("GPIO6"); !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), "GPIO6") {
		t.Errorf("Pin(GPIO6): %v, want ErrNoPin naming it", err)
	}
	if len(Chips()) != 0 {
		t.Errorf("chips %v on a machine without /dev/gpiochip*", Chips())
	}
}
