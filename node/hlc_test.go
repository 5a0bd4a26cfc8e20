package node

import (
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node/nodetest"
)

func TestHLCStringRoundTrip(t *testing.T) {
	for _, h := range []HLC{0, MakeHLC(1, 0), MakeHLC(1764000000123, 3), MakeHLC(1764000000123, 65535)} {
		s := h.String()
		got, err := ParseHLC(s)
		if err != nil || got != h {
			t.Errorf("ParseHLC(%q) = %v, %v; want %v", s, uint64(got), err, uint64(h))
		}
	}
	for _, bad := range []string{"", "2026-11-24T05:44:00Z", "x/1", "2026-11-24T05:44:00Z/70000", "2026-11-24T05:44:00Z/-1",
		"9999-12-31T23:59:59.999-23:59/0", "1969-12-31T23:59:59.999Z/0"} {
		if _, err := ParseHLC(bad); err == nil {
			t.Errorf("ParseHLC(%q) succeeded", bad)
		}
	}
}

func TestClockMonotonicThroughJumps(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(0, 0)) // a Pi without RTC boots at 1970
	c := NewClock(wall.Now)
	var last HLC
	step := func(name string, n int) {
		for i := 0; i < n; i++ {
			h := c.Now()
			if h <= last {
				t.Fatalf("%s: %v not after %v", name, h, last)
			}
			last = h
		}
	}
	step("1970", 10)
	if c.Plausible() {
		t.Error("1970 counted as plausible")
	}
	wall.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	step("forward", 10)
	if !c.Plausible() {
		t.Error("2026 after a forward jump not plausible")
	}
	if got := last.Time(); !got.Equal(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("physical part %v did not follow the wall clock forward", got)
	}
	wall.Set(time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)) // set back an hour
	step("backward", 10)
	if c.Plausible() {
		t.Error("clock an hour behind issued timestamps counted as plausible")
	}
	wall.Set(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(-time.Minute)) // within tolerance
	step("small step back", 1)
	if !c.Plausible() {
		t.Error("a minute behind counted as implausible")
	}
	wall.Set(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(50, 0, 0))
	if c.Plausible() {
		t.Error("a clock far in the future counted as plausible")
	}
}

func TestClockLogicalOverflow(t *testing.T) {
	wall := nodetest.NewWall(time.UnixMilli(1764000000000))
	c := NewClock(wall.Now)
	first := c.Now()
	var last HLC = first
	for i := 0; i < 70000; i++ { // more than 2^16 within one millisecond
		h := c.Now()
		if h <= last {
			t.Fatalf("step %d: %v not after %v", i, h, last)
		}
		last = h
	}
	if last.WallMillis() != first.WallMillis()+1 {
		t.Errorf("after counter overflow physical part = %d, want %d", last.WallMillis(), first.WallMillis()+1)
	}
}

func TestClockObserve(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(0, 0))
	c := NewClock(wall.Now)
	stored := MakeHLC(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), 7)
	c.Observe(stored)
	if h := c.Now(); h <= stored {
		t.Fatalf("Now after Observe = %v, want > %v", h, stored)
	}
	c.Observe(MakeHLC(5, 0)) // an older timestamp changes nothing
	if h := c.Now(); h.WallMillis() != stored.WallMillis() {
		t.Fatalf("Observe of an older timestamp moved the clock: %v", h)
	}
}

func TestSetWall(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(600, 0))
	c := NewClock(wall.Now)
	before := c.Now()
	if c.Plausible() {
		t.Fatal("1970 plausible")
	}
	set := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	if from := c.SetWall(set); !from.Equal(time.Unix(600, 0)) {
		t.Errorf("SetWall returned %v", from)
	}
	if !c.Plausible() || !c.Wall().Equal(set) {
		t.Fatalf("after SetWall: wall %v plausible %v", c.Wall(), c.Plausible())
	}
	wall.Set(time.Unix(660, 0)) // a minute passes on the box
	if got := c.Wall(); !got.Equal(set.Add(time.Minute)) {
		t.Errorf("wall a minute later = %v", got)
	}
	if h := c.Now(); h <= before || h.Time().Before(set) {
		t.Errorf("HLC after SetWall = %v", h)
	}
}
