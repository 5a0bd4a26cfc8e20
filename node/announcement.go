package node

import (
	"maps"
	"time"
)

// Announcements to residents: published and withdrawn at the point or by
// central, and the node's word that it showed one of central's
// directives (directive.shown).

// Event types of this area.
const (
	TypeAnnouncementPublished = "announcement.published"
	TypeAnnouncementWithdrawn = "announcement.withdrawn"
	TypeDirectiveShown        = "directive.shown"
)

// DirectiveShown is the payload of directive.shown: the node shows a
// directive from central on its pages (an announcement while it is valid).
type DirectiveShown struct {
	ID string `json:"id"`
}

func (p DirectiveShown) valid() bool { return p.ID != "" }

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

// Announcement severities, least to most serious.
var Severities = []string{"info", "warning", "danger"}

// Announcement is a message to residents, with title and body per language
// code ("sv", "en", …). It is the payload of announcement.published and,
// with Published and Withdrawn set by the fold, what the pages show.
type Announcement struct {
	ID         string            `json:"id"`
	Title      map[string]string `json:"title"`
	Body       map[string]string `json:"body,omitempty"`
	Severity   string            `json:"severity"`
	ValidUntil *time.Time        `json:"valid_until,omitempty"`
	Source     string            `json:"source"`
	// By (the staff member who published it) and Directive (set by
	// central: the directive this event carries) travel in the payload
	// only; the fold leaves them out of what the pages show.
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"`
	// Published and Withdrawn are the fold's: never in a payload.
	Published HLC  `json:"published,omitzero"`
	Withdrawn bool `json:"withdrawn,omitempty"`
}

func (p Announcement) valid() bool { return p.ID != "" }

// ActiveAt reports whether the announcement should be shown at wall time
// now. An unknown clock (zero now) shows everything not withdrawn: hiding a
// warning because the box has no clock would be worse than showing an old one.
func (a Announcement) ActiveAt(now time.Time) bool {
	if a.Withdrawn {
		return false
	}
	return a.ValidUntil == nil || now.IsZero() || now.Before(*a.ValidUntil)
}

// AnnouncementWithdrawn is the payload of announcement.withdrawn.
type AnnouncementWithdrawn struct {
	ID        string `json:"id"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

func (p AnnouncementWithdrawn) valid() bool { return p.ID != "" }

// ann returns the fold's state of announcement id, creating it: a
// withdrawal may arrive before its publication.
func (s *State) ann(id string) *annState {
	a := s.anns[id]
	if a == nil {
		a = &annState{}
		s.anns[id] = a
	}
	return a
}

func (s *State) foldAnnouncementPublished(e Event, at stamp, p Announcement) {
	a := s.ann(p.ID)
	if a.created.isZero() || at.less(a.created) {
		a.created = at
		a.ann = Announcement{ID: p.ID, Title: p.Title, Body: p.Body, Severity: p.Severity,
			ValidUntil: p.ValidUntil, Source: p.Source, Published: e.HLC}
	}
}

func (s *State) foldAnnouncementWithdrawn(e Event, at stamp, p AnnouncementWithdrawn) {
	a := s.ann(p.ID)
	if a.withdrawnAt.isZero() || at.less(a.withdrawnAt) {
		a.withdrawnAt = at
	}
}

func (s *State) foldDirectiveShown(e Event, at stamp, p DirectiveShown) {
	s.shown[p.ID] = true
}
