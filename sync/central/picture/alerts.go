package picture

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// Alert kinds: what the "action needed" strip shows.
const (
	AlertSilent = "silent" // activated, not heard from for SilentAfter
	AlertPower  = "power"  // on battery with under 2 h left, or low battery
	AlertNeed   = "need"   // an urgent need open for over UrgentOpen
)

// UrgentOpen is how long an urgent need may stay open before it is an
// alert.
const UrgentOpen = 30 * time.Minute

// Alert is one thing staff must act on. Its ID names the situation (the
// point and what raised it), so the same trouble coming back later is a
// new alert, and an acknowledged one stays acknowledged.
type Alert struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	Point        string         `json:"point"`
	PointName    string         `json:"point_name"`
	Municipality string         `json:"municipality"`
	Need         *Need          `json:"need,omitempty"`
	Power        *Power         `json:"power,omitempty"`
	Since        time.Time      `json:"since"` // when the situation began
	Acknowledged *node.AlertAck `json:"acknowledged,omitempty"`
}

// Alerts lists the alerts at now for the points in scope: those not
// acknowledged first, then by when they began.
func (p *Picture) Alerts(scope Scope) []Alert {
	now := p.opts.Now()
	out := []Alert{}
	p.each(scope, now, func(s Point, needs []Need, _ []byte) {
		base := Alert{Point: s.ID, PointName: s.Name, Municipality: s.Municipality}
		if s.Status == StatusSilent {
			a := base
			a.Kind = AlertSilent
			switch {
			case s.LastHeard != nil:
				a.Since = *s.LastHeard
			case s.Sent != nil:
				a.Since = s.Sent.At
			case s.Activation != nil:
				a.Since = s.Activation.At
			}
			a.ID = fmt.Sprintf("%s:%s:%d", AlertSilent, s.ID, a.Since.UnixMilli())
			out = append(out, a)
		}
		if s.Power.critical() {
			a := base
			a.Kind = AlertPower
			pw := s.Power
			a.Power = &pw
			if pw.Since != nil {
				a.Since = *pw.Since
			}
			a.ID = fmt.Sprintf("%s:%s:%d", AlertPower, s.ID, a.Since.UnixMilli())
			out = append(out, a)
		}
		for _, n := range needs {
			if Urgent(n.Urgency) && n.Status != node.ReportResolved && now.Sub(n.Created) > UrgentOpen {
				a := base
				a.Kind, a.Since = AlertNeed, n.Created
				need := n
				need.Municipality = s.Municipality
				a.Need = &need
				a.ID = fmt.Sprintf("%s:%s:%s", AlertNeed, s.ID, n.ID)
				out = append(out, a)
			}
		}
	})
	for i := range out {
		if ack, ok := p.Acknowledged(out[i].ID); ok {
			out[i].Acknowledged = &ack
		}
	}
	slices.SortFunc(out, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(boolRank(a.Acknowledged != nil), boolRank(b.Acknowledged != nil)),
			a.Since.Compare(b.Since), strings.Compare(a.ID, b.ID))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Entry is one line of a point's timeline.
type Entry struct {
	At   time.Time `json:"at"`
	Seq  uint64    `json:"seq"`
	Type string    `json:"type"`
	// Detail is the event's payload as central shows it: a check-in's
	// counts, a need's category and urgency. Residents' names and
	// contacts never reach central, so none are here.
	Detail map[string]any `json:"detail"`
}

// timelineFields are the payload fields a timeline shows, per type; any
// other type shows none.
var timelineFields = map[string][]string{
	node.TypePointConfigured:       {"name", "municipality"},
	node.TypeServiceChanged:        {"service", "status", "note"},
	node.TypePointActivation:       {"state", "note"},
	node.TypeCheckInCreated:        {"size", "status", "need"},
	node.TypeReportCreated:         {"id", "category", "urgency", "text", "place"},
	node.TypeReportStatusChanged:   {"id", "status", "by"},
	node.TypeReportAssigned:        {"id", "assignee"},
	node.TypeReportCommented:       {"id", "text", "by"},
	node.TypePowerChanged:          {"state", "previous", "battery_percent", "runtime_minutes", "generator_hours"},
	node.TypePowerCritical:         {"state", "battery_percent", "runtime_minutes"},
	node.TypePowerSource:           {"source", "state"},
	node.TypeInventoryChanged:      {"item", "quantity", "unit", "low"},
	node.TypeRosterChanged:         {"role", "on_duty"},
	node.TypeJournalEntry:          {"text"},
	node.TypeAnnouncementPublished: {"id", "severity"},
	node.TypeAnnouncementWithdrawn: {"id"},
	node.TypeDirectiveShown:        {"id"},
	node.TypePersonalPurged:        {"rows"},
}

// Timeline is point id's latest n events, newest first.
func (p *Picture) Timeline(ctx context.Context, id string, n int) ([]Entry, error) {
	out := []Entry{}
	if p.opts.Recent == nil {
		return out, nil
	}
	events, err := p.opts.Recent(ctx, id, n)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		x := Entry{At: e.HLC.Time(), Seq: e.Seq, Type: e.Type, Detail: map[string]any{}}
		var all map[string]any
		if json.Unmarshal(e.Payload, &all) == nil {
			for _, f := range timelineFields[e.Type] {
				if v, ok := all[f]; ok && v != "" {
					x.Detail[f] = v
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}
