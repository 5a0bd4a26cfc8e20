package node

import (
	"context"
	"reflect"
	"regexp"
	"slices"
)

// The point: its identity (point.configured), its services
// (service.changed), and what the municipality says of it
// (point.activation, point.contacts_changed).

// Event types of this area.
const (
	TypePointConfigured = "point.configured"
	TypeServiceChanged  = "service.changed"
	TypePointActivation = "point.activation"
	TypeContactsChanged = "point.contacts_changed"
)

// Activation states of point.activation.
const (
	ActivationActivated  = "activated"
	ActivationDeactivate = "deactivated"
	ActivationExercise   = "exercise"
)

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

func (p PointActivation) valid() bool { return ValidActivation(p.State) }

// ContactsChanged is the payload of point.contacts_changed: the point's
// contact lines, replaced as a whole.
type ContactsChanged struct {
	Contacts  []Contact `json:"contacts"`
	By        string    `json:"by,omitempty"`
	Directive string    `json:"directive,omitempty"`
}

func (p ContactsChanged) valid() bool { return true }

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

// Point is the safety point's identity and the facts residents need to find
// and reach it.
type Point struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Municipality string    `json:"municipality"` // SCB kommunkod, four digits
	Location     *Location `json:"location,omitempty"`
	OpeningHours string    `json:"opening_hours,omitempty"`
	Contacts     []Contact `json:"contacts,omitempty"`
}

func (p Point) valid() bool { return true }

// Location is a WGS 84 position.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Contact is a public phone line residents may call.
type Contact struct {
	Label string `json:"label"`
	Phone string `json:"phone"`
}

var municipalityCode = regexp.MustCompile(`^[0-9]{4}$`)

// ValidMunicipality reports whether s looks like an SCB kommunkod: four
// digits, the first two the county (län).
func ValidMunicipality(s string) bool { return municipalityCode.MatchString(s) }

// Services a point can offer, in the order pages list them.
var Services = []string{
	"warmth", "charging", "water", "toilets", "first_aid",
	"food", "information", "wifi", "emergency_call",
}

// Service statuses. A service nobody has set yet is StatusUnknown.
const (
	ServiceOpen    = "open"
	ServiceClosed  = "closed"
	ServiceLimited = "limited"
	ServiceUnknown = "unknown"
)

// ServiceStatuses are the statuses staff may set.
var ServiceStatuses = []string{ServiceOpen, ServiceClosed, ServiceLimited}

// Service is one service's current state.
type Service struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	Since  *HLC   `json:"since,omitempty"`
}

// ServiceChanged is the payload of service.changed.
type ServiceChanged struct {
	Service string `json:"service"`
	Status  string `json:"status"`
	Note    string `json:"note,omitempty"`
	By      string `json:"by,omitempty"`
}

func (p ServiceChanged) valid() bool { return p.Service != "" }

// Log is what ConfigurePoint needs of an event log: its identity, its
// fold, and a way to append.
type Log interface {
	Origin() string
	State() *State
	Append(ctx context.Context, d Draft) (Event, error)
}

// ConfigurePoint makes the log's point identity agree with p: fields set in
// p replace the current ones, empty fields keep them. It appends one
// point.configured event when anything changed, and none otherwise, so a
// restart with the same configuration writes nothing.
func ConfigurePoint(ctx context.Context, l Log, p Point) (Point, bool, error) {
	cur := l.State().View().Point
	next := cur
	next.ID = l.Origin()
	if p.Name != "" {
		next.Name = p.Name
	}
	if p.Municipality != "" {
		next.Municipality = p.Municipality
	}
	if p.Location != nil {
		next.Location = p.Location
	}
	if p.OpeningHours != "" {
		next.OpeningHours = p.OpeningHours
	}
	if len(p.Contacts) > 0 {
		next.Contacts = p.Contacts
	}
	if reflect.DeepEqual(cur, next) {
		return cur, false, nil
	}
	if _, err := l.Append(ctx, Draft{Type: TypePointConfigured, Payload: next}); err != nil {
		return cur, false, err
	}
	return next, true, nil
}

func (s *State) foldPointConfigured(e Event, at stamp, p Point) {
	if s.pointAt.less(at) {
		s.point, s.pointAt = p, at
	}
	if s.contactsAt.less(at) {
		s.contacts, s.contactsAt = slices.Clone(p.Contacts), at
	}
}

func (s *State) foldServiceChanged(e Event, at stamp, p ServiceChanged) {
	if cur, ok := s.services[p.Service]; !ok || cur.at.less(at) {
		h := e.HLC
		s.services[p.Service] = serviceReg{Service{Name: p.Service, Status: p.Status, Note: p.Note, Since: &h}, at}
	}
}

func (s *State) foldPointActivation(e Event, at stamp, p PointActivation) {
	if s.activationAt.less(at) {
		s.activation = Activation{State: p.State, Note: p.Note, By: p.By, Since: e.HLC}
		s.activationAt = at
	}
}

func (s *State) foldContactsChanged(e Event, at stamp, p ContactsChanged) {
	if s.contactsAt.less(at) {
		s.contacts, s.contactsAt = slices.Clone(p.Contacts), at
	}
}
