package node

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HLC is a hybrid logical clock timestamp (Kulkarni et al. 2014): the upper
// 48 bits are wall-clock milliseconds since the Unix epoch, the lower 16 bits a
// logical counter that orders events within one millisecond, or while the wall
// clock stands still or runs backwards. Comparing two HLCs as integers orders
// them causally.
type HLC uint64

const logicalBits = 16

// MakeHLC builds a timestamp from its parts.
func MakeHLC(wallMillis int64, logical uint16) HLC {
	if wallMillis < 0 {
		wallMillis = 0
	}
	return HLC(uint64(wallMillis)<<logicalBits | uint64(logical))
}

// WallMillis is the physical part in milliseconds since the Unix epoch.
func (h HLC) WallMillis() int64 { return int64(uint64(h) >> logicalBits) }

// Logical is the counter part.
func (h HLC) Logical() uint16 { return uint16(h) }

// Time is the physical part as a time.Time in UTC.
func (h HLC) Time() time.Time { return time.UnixMilli(h.WallMillis()).UTC() }

// String renders the timestamp as RFC 3339 with milliseconds, a slash and
// the logical counter: "2026-11-24T05:44:00.123Z/3". It sorts as the HLC does
// for years 0000 to 9999.
func (h HLC) String() string {
	return h.Time().Format("2006-01-02T15:04:05.000Z07:00") + "/" + strconv.Itoa(int(h.Logical()))
}

// ParseHLC parses the form String produces.
func ParseHLC(s string) (HLC, error) {
	wall, logical, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("hlc %q: missing /logical", s)
	}
	t, err := time.Parse(time.RFC3339Nano, wall)
	if err != nil {
		return 0, fmt.Errorf("hlc %q: %w", s, err)
	}
	// String writes UTC years 1970 to 9999 only: anything else would not
	// parse again once written (a +23:59 offset on 9999-12-31 is year
	// 10000 in UTC) or would not fit the wall bits.
	if u := t.UTC(); u.Year() > 9999 || u.Before(time.Unix(0, 0)) {
		return 0, fmt.Errorf("hlc %q: outside 1970 to 9999 UTC", s)
	}
	n, err := strconv.ParseUint(logical, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("hlc %q: logical part: %w", s, err)
	}
	return MakeHLC(t.UnixMilli(), uint16(n)), nil
}

// MarshalText makes an HLC a JSON string: 64 bits do not fit a JavaScript number.
func (h HLC) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses the form MarshalText writes.
func (h *HLC) UnmarshalText(b []byte) error {
	v, err := ParseHLC(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Clock hands out HLC timestamps that never go backwards, whatever the wall
// clock does. A Raspberry Pi has no real-time clock: it may boot at 1970, be
// set forward by NTP or staff, or be set back. Timestamps stay monotonic
// through all of that; only the physical part's plausibility changes, which
// Plausible reports.
type Clock struct {
	now    func() time.Time
	offset atomic.Int64 // nanoseconds added to now: staff set the clock

	mu   sync.Mutex
	last HLC
}

// NewClock returns a clock reading the wall time from now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Wall is the current wall-clock reading, plausible or not.
func (c *Clock) Wall() time.Time { return c.now().Add(time.Duration(c.offset.Load())) }

// SetWall sets the wall clock to t from now on, as staff do from their
// tablet when the box has no time. The system clock is not touched (that
// needs privileges the node does not have); the node keeps the offset
// until it restarts. Timestamps stay monotonic whatever t is. It returns
// the wall time before.
func (c *Clock) SetWall(t time.Time) time.Time {
	before := c.Wall()
	c.offset.Store(int64(t.Sub(c.now())))
	return before
}

// Now returns a timestamp greater than every timestamp this clock has issued
// or observed.
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = next(c.last, c.Wall().UnixMilli())
	return c.last
}

// Observe moves the clock past a timestamp seen elsewhere: one stored in the
// log before a restart, or one received from a peer.
func (c *Clock) Observe(h HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h > c.last {
		c.last = h
	}
}

// MaxAhead is how far ahead of a plausible wall clock a peer's timestamp
// may be for the clock to take it up. A peer with a clock days ahead (a
// box that kept the wrong date) would otherwise drag this clock along, make
// it implausible here, and stamp everything written here after it into
// that future. It is maxBehind: taking up more would itself make this
// clock implausible.
const MaxAhead = maxBehind

// ObserveRemote is Observe for a peer's timestamp: while this wall clock
// is plausible it takes up only timestamps at most MaxAhead ahead of it,
// and reports false for one further ahead (the event is still stored and
// folded by its own timestamp; only this clock ignores it). A clock that
// is not plausible takes everything: a box that booted at 1970 learns the
// time from its peers.
func (c *Clock) ObserveRemote(h HLC) bool {
	if c.Plausible() && h.Time().Sub(c.Wall()) > MaxAhead {
		return false
	}
	c.Observe(h)
	return true
}

// Last is the greatest timestamp issued or observed.
func (c *Clock) Last() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// next is the HLC send rule: take the wall clock if it is ahead, otherwise
// keep the physical part and count up. When the counter would overflow the
// physical part advances by one millisecond, which keeps order at the cost
// of a drift the next real tick absorbs.
func next(last HLC, wall int64) HLC {
	if wall > last.WallMillis() {
		return MakeHLC(wall, 0)
	}
	if last.Logical() == 1<<logicalBits-1 {
		return MakeHLC(last.WallMillis()+1, 0)
	}
	return last + 1
}

// EarliestPlausible is the earliest wall time the node believes: anything
// before it is a box that booted without a real-time clock.
var EarliestPlausible = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// maxBehind is how far the wall clock may lag the greatest timestamp already
// seen before the clock is called wrong: a clock set back by more than this
// would show residents times earlier than ones they have already seen.
const maxBehind = 2 * time.Minute

// Plausible reports whether the wall clock can be shown to people: it is
// past EarliestPlausible, not absurdly far in the future, and not well behind
// timestamps already in the log.
func (c *Clock) Plausible() bool {
	wall := c.Wall()
	if wall.Before(EarliestPlausible) || wall.After(EarliestPlausible.AddDate(50, 0, 0)) {
		return false
	}
	return c.Last().Time().Sub(wall) <= maxBehind
}
