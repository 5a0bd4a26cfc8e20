package board

import (
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/api"
)

// The live board: the picture the hub sends every open board, by section.

// sections splits the board's picture into the parts a board renders.
func (s *Board) sections() map[string]any {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	clock := s.log.Clock()
	var now time.Time
	if clock.Plausible() {
		now = clock.Wall()
	}
	nz := func(x any) any { return x }
	return map[string]any{
		"point":         v.Point,
		"activation":    v.Activation,
		"services":      v.Services,
		"announcements": nonNil(v.Announcements),
		"checkins":      nonNil(v.CheckIns),
		"reports":       nonNil(v.Reports),
		"counts":        v.Counts,
		"inventory":     nonNil(v.Inventory),
		"roster":        nonNil(v.Roster),
		"journal":       nonNil(v.Journal),
		"power":         nz(s.powerStatus()),
		"calldown":      s.callDown(v.Reports, now),
		"link":          s.syncStatus(),
		"clock":         map[string]any{"ok": clock.Plausible(), "minute": now.Truncate(time.Minute)},
		"fingerprint":   s.site.Fingerprint(),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// callDown lists the open reports nobody has touched for the call-down
// time: staff should check on them again.
func (s *Board) callDown(reports []node.Report, now time.Time) []string {
	out := []string{}
	if now.IsZero() {
		return out
	}
	for _, r := range reports {
		if r.Status != node.ReportResolved && now.Sub(r.Updated.Time()) > s.callDownAfter() {
			out = append(out, r.ID)
		}
	}
	return out
}

func (s *Board) callDownAfter() time.Duration {
	if s.opts.CallDown > 0 {
		return s.opts.CallDown
	}
	return 30 * time.Minute
}

// powerStatus is the monitor's picture, or nil without a monitor.
func (s *Board) powerStatus() *powermon.Status {
	if s.opts.Power == nil {
		return nil
	}
	st := s.opts.Power()
	return &st
}

// lowPower reports whether the monitor has the node in low-power mode:
// boards are updated less often then.
func (s *Board) lowPower() bool {
	p := s.powerStatus()
	return p != nil && p.LowPower
}

func (s *Board) syncStatus() api.SyncStatus {
	if s.opts.Sync == nil {
		return api.SyncStatus{}
	}
	return s.opts.Sync()
}
