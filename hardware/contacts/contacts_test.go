package contacts

import (
	"context"
	"math"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// TestContacts: a contact closing to ground against the pull-up (the
// default) reads present when low; a loose wire floats up and reads absent.
func TestContacts(t *testing.T) {
	mains := &gpiotest.Pin{N: "GPIO17", Num: 17}
	gen := &gpiotest.Pin{N: "GPIO27", Num: 27}
	s, err := New(&Opts{Mains: mains, Generator: gen})
	if err != nil {
		t.Fatal(err)
	}
	if mains.P != gpio.PullUp || gen.P != gpio.PullUp {
		t.Fatalf("pulls %s, %s; want up for active-low contacts", mains.P, gen.P)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		m, g           gpio.Level
		onMains, genOn bool
	}{
		{gpio.High, gpio.High, false, false}, // both open (or both wires off): nothing present
		{gpio.Low, gpio.High, true, false},   // mains
		{gpio.High, gpio.Low, false, true},   // generator
		{gpio.Low, gpio.Low, true, true},
	} {
		mains.Out(tt.m)
		gen.Out(tt.g)
		r, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.OnMains != tt.onMains || r.Generator != tt.genOn {
			t.Errorf("GPIO17 %s, GPIO27 %s: mains %t, generator %t; want %t, %t", tt.m, tt.g, r.OnMains, r.Generator, tt.onMains, tt.genOn)
		}
		if !math.IsNaN(r.Volts) || !math.IsNaN(r.Amps) || !math.IsNaN(r.Percent) || r.Runtime >= 0 {
			t.Errorf("contacts reported battery numbers: %+v", r)
		}
	}
}

func TestActiveHigh(t *testing.T) {
	mains := &gpiotest.Pin{N: "GPIO17"}
	s, err := New(&Opts{Mains: mains, Active: gpio.High})
	if err != nil {
		t.Fatal(err)
	}
	if mains.P != gpio.PullDown {
		t.Errorf("pull %s, want down for an active-high contact", mains.P)
	}
	mains.Out(gpio.High)
	if r, _ := s.Read(context.Background()); !r.OnMains || r.Generator {
		t.Errorf("high on an active-high mains pin: %+v", r)
	}
	if len(s.Pins()) != 1 {
		t.Errorf("pins %v, want mains alone", s.Pins())
	}

	ext := &gpiotest.Pin{N: "GPIO22"}
	if _, err := New(&Opts{Mains: ext, Pull: gpio.Float}); err != nil || ext.P != gpio.Float {
		t.Errorf("external resistors: pull %s, %v", ext.P, err)
	}
}

func TestRefuses(t *testing.T) {
	if _, err := New(&Opts{Generator: &gpiotest.Pin{N: "GPIO27"}}); err == nil {
		t.Error("no mains pin: no error")
	}
	if _, err := New(&Opts{Mains: gpio.INVALID}); err == nil {
		t.Error("a pin that cannot be an input: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := New(&Opts{Mains: &gpiotest.Pin{N: "GPIO17"}})
	if _, err := s.Read(ctx); err == nil {
		t.Error("read with a cancelled context: no error")
	}
}
