package node

import (
	"encoding/json"
	"time"
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

// Draft is an event to append: the log assigns origin, seq and hlc.
type Draft struct {
	Type string
	// OccurredAt is when the thing happened; nil means now, if the wall
	// clock is plausible, and unknown otherwise.
	OccurredAt *time.Time
	Payload    any
	// Personal, when not empty, is written beside the event in the same
	// transaction, keyed by PersonalKey (a check-in id). It never enters
	// the event.
	Personal    Personal
	PersonalKey string
	// Key, when set, makes the append idempotent: if an event was already
	// appended with this key, Append returns that event and writes nothing.
	Key string
}
