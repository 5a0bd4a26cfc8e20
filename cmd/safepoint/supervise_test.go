package main

import (
	"errors"
	"testing"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/sync/link"
)

func ptr(f float64) *float64 { return &f }

// TestStatusWords: what `systemctl status` shows of the power and the
// link, as staff would say it.
func TestStatusWords(t *testing.T) {
	for _, c := range []struct {
		power *powermon.Status // nil: no source watched
		link  *link.Status     // nil: no link
		want  string
	}{
		{nil, nil, "ingen strömkälla bevakas; ingen länk till central"},
		{&powermon.Status{}, nil, "ström: ingen mätning än; ingen länk till central"},
		{&powermon.Status{State: "OL CHRG", SourceOK: true, BatteryPercent: ptr(99.6)}, &link.Status{Online: true},
			"på nät, batteri 100 %; länk uppe, 0 i kö"},
		{&powermon.Status{State: "OB", SourceOK: true, BatteryPercent: ptr(62), Runtime: ptr(185)}, &link.Status{Online: true, Backlog: 0},
			"på batteri 62 %, 3 h kvar; länk uppe, 0 i kö"},
		{&powermon.Status{State: "OB LB", SourceOK: true, BatteryPercent: ptr(12), Runtime: ptr(21.4)}, &link.Status{Backlog: 14},
			"på batteri 12 %, lågt, 21 min kvar; länk nere, 14 i kö"},
		{&powermon.Status{State: "GEN", SourceOK: true}, &link.Status{Problem: "ahead", Backlog: 3},
			"på generator; länken stoppad, 3 i kö"},
		{&powermon.Status{State: "OL", SourceProblem: "hat x728: no I2C bus"}, nil,
			"strömkällan svarar inte; ingen länk till central"},
	} {
		var power func() powermon.Status
		if c.power != nil {
			st := *c.power
			power = func() powermon.Status { return st }
		}
		var sync func() link.Status
		if c.link != nil {
			st := *c.link
			sync = func() link.Status { return st }
		}
		if got := nodeStatus(func() error { return nil }, power, sync)(); got != c.want {
			t.Errorf("status %q, want %q", got, c.want)
		}
	}
	full := func() error { return errors.New("event log cannot store: disk full") }
	if got, want := nodeStatus(full, nil, nil)(), "lagret sparar inte (event log cannot store: disk full); ingen strömkälla bevakas; ingen länk till central"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
}

// TestSamePort: which listen addresses would take one port.
func TestSamePort(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{":8080", "127.0.0.1:8080", true},
		{"0.0.0.0:8080", "192.168.4.1:8080", true},
		{"[::]:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{"127.0.0.1:8080", "127.0.0.1:8081", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // each picks a free port
		{"nonsense", ":8080", false},
	} {
		if got := samePort(c.a, c.b); got != c.same {
			t.Errorf("samePort(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
