// Package contacts reads relay contacts on GPIO inputs: whether mains is
// present and whether a generator runs. A mains relay (or a contact of the
// changeover switch) on one pin, the generator's run contact on another.
//
// It does not debounce: it reads each pin once a poll, and the power
// monitor's hold times (hardware/powermon: 10 s before on-battery counts,
// 30 s before back-on-mains does) make a contact's bounce, milliseconds
// long, and a flickering supply into one change or none. Like periph.io's
// drivers it returns errors and never logs.
package contacts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// Opts configure a Source. Zero fields mean defaults.
type Opts struct {
	Mains     gpio.PinIn // required
	Generator gpio.PinIn // nil: no generator contact
	// Active is the level that means present: Low by default, a contact
	// that closes to ground against a pull-up.
	Active gpio.Level
	// Pull is the pins' bias. The default is the one that makes an open
	// contact, or a wire come loose, read absent: up when Active is Low,
	// down when it is High. So a broken wire says "mains lost", an alarm
	// someone checks, never "mains present" while it is not. gpio.Float
	// for external resistors.
	Pull gpio.Pull
}

// Source reads the contacts.
type Source struct {
	mains, generator gpio.PinIn
	active           gpio.Level
}

// New sets the pins as inputs with their pull and returns the source.
func New(opts *Opts) (*Source, error) {
	if opts == nil || opts.Mains == nil {
		return nil, errors.New("contacts: a mains pin is required")
	}
	pull := opts.Pull
	if pull == gpio.PullNoChange {
		pull = gpio.PullUp
		if opts.Active == gpio.High {
			pull = gpio.PullDown
		}
	}
	s := &Source{mains: opts.Mains, generator: opts.Generator, active: opts.Active}
	for _, p := range []gpio.PinIn{s.mains, s.generator} {
		if p == nil {
			continue
		}
		if err := p.In(pull, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("contacts: %s as an input (%s): %w", p, pull, err)
		}
	}
	return s, nil
}

// Read reads the contacts. The reading has no battery numbers.
func (s *Source) Read(ctx context.Context) (power.Reading, error) {
	if err := ctx.Err(); err != nil {
		return power.Reading{}, err
	}
	r := power.Unknown(time.Now())
	r.OnMains = s.mains.Read() == s.active
	if s.generator != nil {
		r.Generator = s.generator.Read() == s.active
	}
	return r, nil
}

// Pins are the pins read, mains first, for the probe.
func (s *Source) Pins() []gpio.PinIn {
	if s.generator == nil {
		return []gpio.PinIn{s.mains}
	}
	return []gpio.PinIn{s.mains, s.generator}
}

// Active is the level that means present.
func (s *Source) Active() gpio.Level { return s.active }
