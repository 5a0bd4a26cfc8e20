package bank

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/safepoint-se/safepoint/hardware/contacts"
	"github.com/safepoint-se/safepoint/hardware/power"
)

type fixed struct {
	r   power.Reading
	err error
}

func (f fixed) Read(context.Context) (power.Reading, error) { return f.r, f.err }

// TestBank: the battery's numbers from the meter, mains and generator from
// the contacts, whatever the meter inferred.
func TestBank(t *testing.T) {
	meter := power.Unknown(time.Time{})
	meter.Volts, meter.Amps, meter.Percent, meter.OnMains = 12.4, 8, 70, false
	mains, gen := &gpiotest.Pin{N: "GPIO17"}, &gpiotest.Pin{N: "GPIO27"}
	c, err := contacts.New(&contacts.Opts{Mains: mains, Generator: gen})
	if err != nil {
		t.Fatal(err)
	}
	mains.Out(gpio.High) // open: mains gone
	gen.Out(gpio.Low)    // closed: the generator runs
	r, err := New(fixed{r: meter}, c).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Volts != 12.4 || r.Amps != 8 || r.Percent != 70 || r.OnMains || !r.Generator {
		t.Errorf("bank read %+v", r)
	}
	mains.Out(gpio.Low)
	if r, _ := New(fixed{r: meter}, c).Read(context.Background()); !r.OnMains {
		t.Errorf("mains contact closed, meter says battery: %+v; the contact wins", r)
	}
}

func TestBankFails(t *testing.T) {
	ok := fixed{r: power.Unknown(time.Time{})}
	bad := fixed{err: errors.New("ina219 at 0x40: read: failed to read shunt voltage")}
	if _, err := New(bad, ok).Read(context.Background()); err == nil || err.Error() != "battery: ina219 at 0x40: read: failed to read shunt voltage" {
		t.Errorf("battery failing: %v", err)
	}
	if _, err := New(ok, bad).Read(context.Background()); err == nil {
		t.Error("contacts failing: no error")
	}
}
