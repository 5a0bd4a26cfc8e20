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
// point.go, announcement.go, checkin.go, report.go, staff.go, power.go.
// Adding a type means a constant and a payload there, a fold rule beside
// them, and a line here.
//
// Fold rules are commutative and idempotent: mutable fields are
// last-writer-wins registers ordered by (hlc, origin, seq), creations keep
// the earliest event for an id, comments are a set keyed by their event.
// A rule reports whether it understood the payload.
var catalogue = map[string]entry{
	TypePointConfigured: {Point{}, (*State).foldPointConfigured, false},
	TypeServiceChanged:  {ServiceChanged{}, (*State).foldServiceChanged, false},
	TypePointActivation: {PointActivation{}, (*State).foldPointActivation, true},
	TypeContactsChanged: {ContactsChanged{}, (*State).foldContactsChanged, true},

	TypeAnnouncementPublished: {Announcement{}, (*State).foldAnnouncementPublished, true},
	TypeAnnouncementWithdrawn: {AnnouncementWithdrawn{}, (*State).foldAnnouncementWithdrawn, true},
	TypeDirectiveShown:        {DirectiveShown{}, (*State).foldDirectiveShown, false},

	TypeCheckInCreated: {CheckInCreated{}, (*State).foldCheckInCreated, false},
	TypePersonalPurged: {PersonalPurged{}, (*State).foldPersonalPurged, false},

	TypeReportCreated:       {ReportCreated{}, (*State).foldReportCreated, false},
	TypeReportStatusChanged: {ReportStatusChanged{}, (*State).foldReportStatusChanged, true},
	TypeReportAssigned:      {ReportAssigned{}, (*State).foldReportAssigned, false},
	TypeReportCommented:     {ReportCommented{}, (*State).foldReportCommented, true},

	TypeInventoryChanged: {InventoryChanged{}, (*State).foldInventoryChanged, false},
	TypeRosterChanged:    {RosterChanged{}, (*State).foldRosterChanged, false},
	TypeJournalEntry:     {JournalEntry{}, (*State).foldJournalEntry, false},
	TypeClockSet:         {ClockSet{}, (*State).foldClockSet, false},

	TypePowerChanged: {PowerChanged{}, (*State).foldPowerChanged, false},
	// power.critical and power.source_changed are the node's own audit
	// trail (the monitor acts on them, the board shows them from the log):
	// the fold keeps nothing of them.
	TypePowerCritical: {PowerChanged{}, nil, false},
	TypePowerSource:   {PowerSource{}, nil, false},
}

// entry is one event type of the catalogue.
type entry struct {
	payload any // its payload type, for documentation and tests
	fold    func(s *State, e Event, at stamp) bool
	// downlink: central may write it into a node's stream.
	downlink bool
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
