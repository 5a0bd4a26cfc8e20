package node

import (
	"encoding/json"
	"time"
)

// Event types: dotted lowercase, noun first. A type, once written to a log,
// keeps its meaning forever: a new meaning gets a new type.
const (
	TypePointConfigured       = "point.configured"
	TypeServiceChanged        = "service.changed"
	TypeAnnouncementPublished = "announcement.published"
	TypeAnnouncementWithdrawn = "announcement.withdrawn"
	TypeCheckInCreated        = "checkin.created"
	TypeReportCreated         = "report.created"
	TypeReportStatusChanged   = "report.status_changed"
	TypeReportAssigned        = "report.assigned"
	TypeReportCommented       = "report.commented"
	TypeInventoryChanged      = "inventory.changed"
	TypeRosterChanged         = "roster.changed"
	TypeJournalEntry          = "journal.entry"
	TypeClockSet              = "clock.set"
)

// Event is one immutable entry of the log. Origin and Seq identify it
// everywhere (Seq is gap-free per origin); HLC orders it; OccurredAt says when
// the thing happened in the world, which may be earlier than when it was
// recorded and is nil when nobody knows.
type Event struct {
	Origin     string          `json:"origin"`
	Seq        uint64          `json:"seq"`
	HLC        HLC             `json:"hlc"`
	Type       string          `json:"type"`
	OccurredAt *time.Time      `json:"occurred_at"`
	Payload    json.RawMessage `json:"payload"`

	fresh bool // written by this append, not found by its idempotency key
}

// stamp is an event's position in the total order every fold uses:
// (hlc, origin, seq). Two distinct events never share a stamp.
type stamp struct {
	hlc    HLC
	origin string
	seq    uint64
}

func (e Event) stamp() stamp { return stamp{e.HLC, e.Origin, e.Seq} }

func (a stamp) less(b stamp) bool {
	if a.hlc != b.hlc {
		return a.hlc < b.hlc
	}
	if a.origin != b.origin {
		return a.origin < b.origin
	}
	return a.seq < b.seq
}

func (a stamp) isZero() bool { return a == stamp{} }
