// Package nodetest has what tests of the packages around node share: a
// wall clock moved by hand, and plausible random histories for the fold.
package nodetest

import (
	"sync"
	"time"
)

// Wall is a wall clock a test moves by hand; pass its Now where a clock is
// taken (node.NewClock, accounts.Open, the power monitor).
type Wall struct {
	mu sync.Mutex
	t  time.Time
}

// NewWall returns a wall clock standing at t.
func NewWall(t time.Time) *Wall { return &Wall{t: t} }

// Now is the clock's time.
func (w *Wall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.t
}

// Set moves the clock to t, forwards or back.
func (w *Wall) Set(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = t
}

// Advance moves the clock by d.
func (w *Wall) Advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = w.t.Add(d)
}
