package node

import (
	"maps"
	"slices"
	"time"
)

// Event types of the downlink and of retention. Central writes the first
// two (and announcement.published, report.status_changed,
// report.commented) into a node's downlink stream; the node writes the
// last two into its own log.
const (
	TypePointActivation  = "point.activation"
	TypeContactsChanged  = "point.contacts_changed"
	TypeDirectiveShown   = "directive.shown"
	TypePersonalPurged   = "personal.purged"
	ActivationActivated  = "activated"
	ActivationDeactivate = "deactivated"
	ActivationExercise   = "exercise"
)

// DownlinkTypes are the event types a node takes from central's stream;
// anything else in it is refused.
var DownlinkTypes = []string{TypeAnnouncementPublished, TypeAnnouncementWithdrawn, TypePointActivation,
	TypeContactsChanged, TypeReportStatusChanged, TypeReportCommented}

// ValidActivation reports whether s is an activation state.
func ValidActivation(s string) bool {
	return s == ActivationActivated || s == ActivationDeactivate || s == ActivationExercise
}

// PointActivation is the payload of point.activation: the municipality
// activates the point, ends it, or runs it as an exercise.
type PointActivation struct {
	State     string `json:"state"`
	Note      string `json:"note,omitempty"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"`
}

// ContactsChanged is the payload of point.contacts_changed: the point's
// contact lines, replaced as a whole.
type ContactsChanged struct {
	Contacts  []Contact `json:"contacts"`
	By        string    `json:"by,omitempty"`
	Directive string    `json:"directive,omitempty"`
}

// DirectiveShown is the payload of directive.shown: the node shows a
// directive from central on its pages (an announcement while it is valid).
type DirectiveShown struct {
	ID string `json:"id"`
}

// PersonalPurged is the payload of personal.purged, the audit trail of the
// retention rule: no names, no contacts, only how many and why.
type PersonalPurged struct {
	Rows          int       `json:"rows"`
	DeactivatedAt time.Time `json:"deactivated_at"`
	RetentionDays int       `json:"retention_days"`
}

// Activation is the point's activation as the fold has it.
type Activation struct {
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
	By    string `json:"by,omitempty"`
	Since HLC    `json:"since"`
}

// Exercise reports whether the point runs as an exercise.
func (a *Activation) Exercise() bool { return a != nil && a.State == ActivationExercise }

// Activation returns the point's activation, nil if never set.
func (s *State) Activation() *Activation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.activationAt.isZero() {
		return nil
	}
	a := s.activation
	return &a
}

// Announcement returns announcement id as the fold has it.
func (s *State) Announcement(id string) (Announcement, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.anns[id]
	if a == nil || a.created.isZero() {
		return Announcement{}, false
	}
	ann := a.ann
	ann.Title, ann.Body = maps.Clone(ann.Title), maps.Clone(ann.Body)
	ann.ValidUntil = cloneTime(ann.ValidUntil)
	ann.Withdrawn = !a.withdrawnAt.isZero()
	return ann, true
}

// Shown reports whether the node has recorded showing directive id.
func (s *State) Shown(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.shown[id]
}

// LastPurge is the time of the latest personal.purged, zero if none.
func (s *State) LastPurge() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.purgedAt.isZero() {
		return time.Time{}
	}
	return s.purgedAt.hlc.Time()
}

func (s *State) applyDirective(e Event, at stamp) bool {
	switch e.Type {
	case TypePointActivation:
		var p PointActivation
		if !decode(e.Payload, &p) || !ValidActivation(p.State) {
			return false
		}
		if s.activationAt.less(at) {
			s.activation = Activation{State: p.State, Note: p.Note, By: p.By, Since: e.HLC}
			s.activationAt = at
		}
	case TypeContactsChanged:
		var p ContactsChanged
		if !decode(e.Payload, &p) {
			return false
		}
		if s.contactsAt.less(at) {
			s.contacts, s.contactsAt = slices.Clone(p.Contacts), at
		}
	case TypeDirectiveShown:
		var p DirectiveShown
		if !decode(e.Payload, &p) || p.ID == "" {
			return false
		}
		s.shown[p.ID] = true
	case TypePersonalPurged:
		if s.purgedAt.less(at) {
			s.purgedAt = at
		}
	default:
		return false
	}
	return true
}
