// Package bank makes one power source of a battery bank's two halves: the
// battery's numbers from a shunt sensor (hardware/shunt), whether mains and
// a generator are on from relay contacts (hardware/contacts). Either half
// failing fails the reading: a bank whose battery cannot be read is not
// reported as if it were fine.
package bank

import (
	"context"
	"fmt"

	"github.com/safepoint-se/safepoint/hardware/power"
)

// Reader is what bank needs of each half.
type Reader interface {
	Read(ctx context.Context) (power.Reading, error)
}

// Source is the bank.
type Source struct {
	battery, supply Reader
}

// New joins a battery meter and supply contacts.
func New(battery, supply Reader) *Source { return &Source{battery: battery, supply: supply} }

// Read reads both halves: the battery's volts, amps, charge and charging
// from the meter; mains and generator from the contacts.
func (s *Source) Read(ctx context.Context) (power.Reading, error) {
	b, err := s.battery.Read(ctx)
	if err != nil {
		return power.Reading{}, fmt.Errorf("battery: %w", err)
	}
	c, err := s.supply.Read(ctx)
	if err != nil {
		return power.Reading{}, fmt.Errorf("contacts: %w", err)
	}
	b.OnMains, b.Generator = c.OnMains, c.Generator
	return b, nil
}
