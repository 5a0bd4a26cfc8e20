package node

import "slices"

// The catalogue: every event type the log may hold, the payload it
// carries and the rule that folds it into State. A type is dotted
// lowercase, noun first. Once written to a log a type keeps its meaning
// forever: a new meaning gets a new type, and payload fields are the wire
// format (renaming one is a protocol change). By in a payload names the
// staff account that acted, empty for residents and for the node itself.
//
// Each area's types, payloads and fold rules live together in one file:
// point.go, announcement.go, checkin.go, report.go, staff.go, power.go,
// alert.go.
// Adding a type means a constant and a payload there, a fold rule beside
// them, and a line here.
//
// Fold rules are commutative and idempotent: mutable fields are
// last-writer-wins registers ordered by (hlc, origin, seq), creations keep
// the earliest event for an id, comments are a set keyed by their event.
// A rule reports whether it understood the payload.
var catalogue = map[string]entry{
	TypePointConfigured: rule((*State).foldPointConfigured),
	TypeServiceChanged:  rule((*State).foldServiceChanged),
	TypePointActivation: rule((*State).foldPointActivation).down(),
	TypeContactsChanged: rule((*State).foldContactsChanged).down(),

	TypeAnnouncementPublished: rule((*State).foldAnnouncementPublished).down(),
	TypeAnnouncementWithdrawn: rule((*State).foldAnnouncementWithdrawn).down(),
	TypeDirectiveShown:        rule((*State).foldDirectiveShown),

	TypeCheckInCreated: rule((*State).foldCheckInCreated),
	TypePersonalPurged: rule((*State).foldPersonalPurged),

	TypeReportCreated:       rule((*State).foldReportCreated),
	TypeReportStatusChanged: rule((*State).foldReportStatusChanged).down(),
	TypeReportAssigned:      rule((*State).foldReportAssigned),
	TypeReportCommented:     rule((*State).foldReportCommented).down(),

	TypeInventoryChanged: rule((*State).foldInventoryChanged),
	TypeRosterChanged:    rule((*State).foldRosterChanged),
	TypeJournalEntry:     rule((*State).foldJournalEntry),
	TypeClockSet:         rule((*State).foldClockSet),

	TypeAlertAcknowledged: rule((*State).foldAlertAcknowledged),

	TypePowerChanged: rule((*State).foldPowerChanged),
	// power.critical and power.source_changed are the node's own audit
	// trail (the monitor acts on them, the board shows them from the log):
	// the fold keeps nothing of them.
	TypePowerCritical: recorded[PowerChanged](),
	TypePowerSource:   recorded[PowerSource](),
}

// entry is one event type of the catalogue.
type entry struct {
	payload any // its payload type, for documentation and tests
	fold    func(s *State, e Event, at stamp) bool
	// downlink: central may write it into a node's stream.
	downlink bool
}

// payload is what every payload type has: a check that a decoded payload
// names what it is about (an id, an item, a valid state).
type payload interface{ valid() bool }

// rule makes the catalogue entry of a payload type P from its fold: the
// payload is decoded and checked first, and one that does not parse or is
// not valid changes nothing.
func rule[P payload](fold func(s *State, e Event, at stamp, p P)) entry {
	var zero P
	return entry{payload: zero, fold: func(s *State, e Event, at stamp) bool {
		var p P
		if !decode(e.Payload, &p) || !p.valid() {
			return false
		}
		fold(s, e, at, p)
		return true
	}}
}

// recorded is the entry of a type the fold keeps nothing of.
func recorded[P payload]() entry {
	var zero P
	return entry{payload: zero}
}

// down marks a type central may write into a node's stream.
func (k entry) down() entry {
	k.downlink = true
	return k
}

// Types lists every event type of the catalogue, sorted.
func Types() []string {
	out := make([]string, 0, len(catalogue))
	for t := range catalogue {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// DownlinkTypes are the event types a node takes from central's stream;
// anything else in it is refused.
var DownlinkTypes = func() []string {
	var out []string
	for _, t := range Types() {
		if catalogue[t].downlink {
			out = append(out, t)
		}
	}
	return out
}()

// apply folds e in by its type's rule; an unknown type, a type the fold
// keeps nothing of, or a payload that does not parse changes nothing.
func (s *State) apply(e Event) bool {
	if e.HLC > s.last {
		s.last = e.HLC
	}
	k, ok := catalogue[e.Type]
	if !ok || k.fold == nil {
		return false
	}
	return k.fold(s, e, e.stamp())
}
