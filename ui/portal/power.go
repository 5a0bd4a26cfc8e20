package portal

import (
	"fmt"
	"math"

	"github.com/safepoint-se/safepoint/hardware/powermon"
)

// powerWords is the power picture in a resident's words: the headline, the
// time left (if known) and the generator's fuel (if known).
type powerWords struct {
	Class    string // "ok", "warn", "bad", "unknown": for colour, never alone
	Headline string
	Left     string
	Fuel     string
}

// Power renders the point's power in the page's language; nil when the
// node watches no power source.
func (p *page) PowerWords() *powerWords {
	st := p.Power
	if st == nil {
		return nil
	}
	w := &powerWords{Class: "unknown"}
	state := powermon.ParseState(st.State)
	switch {
	case !st.SourceOK || st.State == "":
		w.Headline = p.T("power.unknown")
		return w
	case state.Supply == powermon.TokenOnline:
		w.Class, w.Headline = "ok", p.T("power.OL")
	case state.Supply == powermon.TokenGenerator:
		w.Class, w.Headline = "warn", p.T("power.GEN")
	case state.Low:
		w.Class, w.Headline = "bad", p.T("power.LB")
	default:
		w.Class, w.Headline = "warn", p.T("power.OB")
	}
	if state.Supply != powermon.TokenOnline && st.Runtime != nil {
		if st.RuntimeLow != nil && st.RuntimeHigh != nil && *st.RuntimeHigh-*st.RuntimeLow >= 10 {
			w.Left = p.T("power.left.band", "time", p.duration(*st.Runtime),
				"low", p.duration(*st.RuntimeLow), "high", p.duration(*st.RuntimeHigh))
		} else {
			w.Left = p.T("power.left", "time", p.duration(*st.Runtime))
		}
	}
	if st.GeneratorHours != nil {
		w.Fuel = p.T("power.fuel", "time", p.duration(*st.GeneratorHours*60))
	}
	return w
}

// duration says a number of minutes in words: whole hours from 90 minutes
// up, else tens of minutes ("about 5 hours", "about 40 minutes").
func (p *page) duration(minutes float64) string {
	switch {
	case minutes >= 90:
		h := int(math.Round(minutes / 60))
		return p.T("dur.hours", "n", h)
	case minutes >= 55:
		return p.T("dur.hour")
	case minutes >= 10:
		return p.T("dur.minutes", "n", int(math.Round(minutes/10))*10)
	default:
		return p.T("dur.few")
	}
}

// powerStatus is the monitor's picture, or nil without a monitor.
func (s *Portal) powerStatus() *powermon.Status {
	if s.opts.Power == nil {
		return nil
	}
	st := s.opts.Power()
	st.SourceProblem = "" // for staff: a driver's error may name an address
	return &st
}

// powerKey condenses what a page shows of the power into a cache key: the
// state, and the numbers at the precision the words use.
func powerKey(st *powermon.Status) string {
	if st == nil {
		return ""
	}
	round := func(f *float64, to float64) int64 {
		if f == nil {
			return -1
		}
		return int64(math.Round(*f / to))
	}
	return fmt.Sprintf("%s|%t|%d|%d|%d|%d", st.State, st.SourceOK,
		round(st.Runtime, 5), round(st.RuntimeLow, 5), round(st.RuntimeHigh, 5), round(st.GeneratorHours, 0.1))
}
