package node

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Counts are the numbers the portal and board show at a glance.
type Counts struct {
	Households  int `json:"households"`
	People      int `json:"people"`
	NeedsHelp   int `json:"needs_help"`
	ReportsOpen int `json:"reports_open"`
	Reports     int `json:"reports"`
}

// State is the fold of every known event into the point's current picture.
// Apply is commutative and idempotent: whatever order events arrive in, and
// however often, the same set of events gives the same View. Mutable fields
// are last-writer-wins registers ordered by (hlc, origin, seq); creations keep
// the earliest event for an id; comments are a set keyed by their event.
type State struct {
	mu       sync.RWMutex
	point    Point
	pointAt  stamp
	services map[string]serviceReg
	anns     map[string]*annState
	checkins map[string]*checkinState
	reports  map[string]*reportState
	receipts map[string]Receipt // an index: the entity's own Receipt field is the truth
	power    PowerChanged
	powerAt  stamp
	stock    map[string]stockReg
	roster   map[string]rosterReg
	journal  map[string]journalState
	acks     map[string]ackReg // alert.acknowledged, at central
	last     HLC

	activation   Activation
	activationAt stamp
	contacts     []Contact // the point's contact lines: point.configured or point.contacts_changed, the later wins
	contactsAt   stamp
	shown        map[string]bool // directives the node has shown
	purgedAt     stamp

	changeMu sync.Mutex
	changed  chan struct{} // closed, and replaced, by Fold
}

// Receipt is what a receipt code leads to.
type Receipt struct {
	Code     string `json:"code"`
	Kind     string `json:"kind"` // "report" or "checkin"
	ID       string `json:"id"`
	Recorded HLC    `json:"recorded"`
	// Origin and Seq are the event that recorded it: the receipt page asks
	// whether central has acknowledged that seq.
	Origin string `json:"origin"`
	Seq    uint64 `json:"seq"`
}

type serviceReg struct {
	svc Service
	at  stamp
}

type rosterReg struct {
	p  RosterChanged
	at stamp
}

type journalState struct {
	j  Journal
	at stamp
}

type stockReg struct {
	p  InventoryChanged
	at stamp
}

type annState struct {
	ann         Announcement
	created     stamp
	withdrawnAt stamp
}

type checkinState struct {
	c       CheckIn
	created stamp
}

type reportState struct {
	r        Report
	created  stamp // zero until report.created is seen
	statusAt stamp
	assignAt stamp
	comments map[stamp]Comment
	updated  HLC
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		services: map[string]serviceReg{},
		anns:     map[string]*annState{},
		checkins: map[string]*checkinState{},
		reports:  map[string]*reportState{},
		receipts: map[string]Receipt{},
		stock:    map[string]stockReg{},
		roster:   map[string]rosterReg{},
		journal:  map[string]journalState{},
		acks:     map[string]ackReg{},
		shown:    map[string]bool{},
		changed:  make(chan struct{}),
	}
}

// Fold applies events, then wakes whoever waits on Changed, once: the
// event log folds each commit in so, and central its directives.
func (s *State) Fold(events ...Event) {
	s.mu.Lock()
	for _, e := range events {
		s.apply(e)
	}
	s.mu.Unlock()
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel that is closed the next time Fold runs: a
// reader waits on it, then takes a new view and a new channel. It never
// blocks the folder, however slow the reader.
func (s *State) Changed() <-chan struct{} {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.changed
}

// Apply folds one event in. It reports whether the event's payload was
// understood; an event of an unknown type or with a payload that does not
// parse changes nothing, so a newer node's events cannot break an older fold.
func (s *State) Apply(e Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(e)
}

// decode parses a payload strictly enough that garbage is refused.
func decode(raw json.RawMessage, v any) bool {
	return json.Unmarshal(raw, v) == nil
}

// View is a consistent, deep-copied picture of the state: safe to keep, send
// and marshal while the log moves on.
type View struct {
	Point         Point          `json:"point"`
	Services      []Service      `json:"services"`
	Announcements []Announcement `json:"announcements"` // newest first, withdrawn included
	CheckIns      []CheckIn      `json:"checkins"`      // in recorded order
	Reports       []Report       `json:"reports"`       // in recorded order
	Counts        Counts         `json:"counts"`
	// Power is the last power.changed: what central knows of the point's
	// power. The node itself reads its monitor, which is fresher.
	Power *PowerEvent `json:"power,omitempty"`
	// Inventory is every item's latest count, by item name.
	Inventory []InventoryItem `json:"inventory"`
	// Roster is every person's latest role and duty, by name.
	Roster []RosterEntry `json:"roster"`
	// Journal is the stabsjournal, oldest first.
	Journal []Journal `json:"journal"`
	// Activation is the point's activation by the municipality, nil until
	// the first point.activation.
	Activation *Activation `json:"activation,omitempty"`
	Last       HLC         `json:"last"` // greatest HLC folded in
}

// View returns the current picture.
func (s *State) View() View {
	s.mu.RLock()
	defer s.mu.RUnlock()

	v := View{Point: clonePoint(s.point), Last: s.last}
	v.Point.Contacts = slices.Clone(s.contacts)
	if !s.activationAt.isZero() {
		a := s.activation
		v.Activation = &a
	}
	if !s.powerAt.isZero() {
		p := s.power
		p.Percent, p.Runtime = cloneFloat(p.Percent), cloneFloat(p.Runtime)
		p.GeneratorHours, p.Since = cloneFloat(p.GeneratorHours), cloneTime(p.Since)
		v.Power = &PowerEvent{PowerChanged: p, At: s.powerAt.hlc}
	}

	for _, name := range Services {
		if reg, ok := s.services[name]; ok {
			v.Services = append(v.Services, cloneService(reg.svc))
		} else {
			v.Services = append(v.Services, Service{Name: name, Status: ServiceUnknown})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.services)) {
		if !slices.Contains(Services, name) {
			v.Services = append(v.Services, cloneService(s.services[name].svc))
		}
	}

	for _, a := range s.anns {
		if a.created.isZero() {
			continue // withdrawal seen before publication
		}
		ann := a.ann
		ann.Title, ann.Body = maps.Clone(ann.Title), maps.Clone(ann.Body)
		ann.ValidUntil = cloneTime(ann.ValidUntil)
		ann.Withdrawn = !a.withdrawnAt.isZero()
		v.Announcements = append(v.Announcements, ann)
	}
	slices.SortFunc(v.Announcements, func(a, b Announcement) int {
		if a.Published != b.Published {
			return cmpDesc(a.Published, b.Published)
		}
		return strings.Compare(a.ID, b.ID)
	})

	cs := make([]*checkinState, 0, len(s.checkins))
	for _, c := range s.checkins {
		if !c.created.isZero() {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b *checkinState) int { return cmpStamp(a.created, b.created) })
	latest := map[string]CheckIn{}
	for _, c := range cs {
		ci := c.c
		ci.OccurredAt = cloneTime(ci.OccurredAt)
		v.CheckIns = append(v.CheckIns, ci)
		latest[ci.Household] = ci // sorted ascending: the last one wins
	}
	for _, c := range latest {
		v.Counts.Households++
		v.Counts.People += c.Size
		if c.Status == CheckInNeedsHelp {
			v.Counts.NeedsHelp++
		}
	}

	for _, item := range slices.Sorted(maps.Keys(s.stock)) {
		v.Inventory = append(v.Inventory, s.stock[item].item())
	}

	for _, person := range slices.Sorted(maps.Keys(s.roster)) {
		r := s.roster[person]
		v.Roster = append(v.Roster, RosterEntry{Person: r.p.Person, Role: r.p.Role, OnDuty: r.p.OnDuty, Changed: r.at.hlc, By: r.p.By})
	}
	js := slices.Collect(maps.Values(s.journal))
	slices.SortFunc(js, func(a, b journalState) int { return cmpStamp(a.at, b.at) })
	index := map[string]int{}
	for _, j := range js {
		e := j.j
		e.OccurredAt = cloneTime(e.OccurredAt)
		index[e.ID] = len(v.Journal)
		v.Journal = append(v.Journal, e)
	}
	for _, j := range v.Journal {
		if i, ok := index[j.Corrects]; ok && j.Corrects != "" {
			v.Journal[i].CorrectedBy = append(v.Journal[i].CorrectedBy, j.ID)
		}
	}

	rs := make([]*reportState, 0, len(s.reports))
	for _, r := range s.reports {
		if !r.created.isZero() {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b *reportState) int { return cmpStamp(a.created, b.created) })
	for _, r := range rs {
		rep := r.r
		if rep.Status == "" {
			rep.Status = ReportNew
		}
		rep.OccurredAt = cloneTime(rep.OccurredAt)
		rep.Updated = r.updated
		rep.Comments = nil
		for _, at := range slices.SortedFunc(maps.Keys(r.comments), cmpStamp) {
			rep.Comments = append(rep.Comments, r.comments[at])
		}
		v.Reports = append(v.Reports, rep)
		v.Counts.Reports++
		if rep.Status != ReportResolved {
			v.Counts.ReportsOpen++
		}
	}
	return v
}

// ActiveAnnouncements are the announcements to show at wall time now (zero
// when the clock is not trusted), newest first.
func (v View) ActiveAnnouncements(now time.Time) []Announcement {
	var out []Announcement
	for _, a := range v.Announcements {
		if a.ActiveAt(now) {
			out = append(out, a)
		}
	}
	return out
}

// LookupReceipt finds the check-in or report a receipt code belongs to.
func (s *State) LookupReceipt(code string) (Receipt, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.receipts[code]
	if !ok {
		return Receipt{}, false
	}
	// A creation replaced by an earlier one for the same id leaves a stale
	// index entry behind: the entity's own field decides.
	switch r.Kind {
	case "report":
		ok = s.reports[r.ID] != nil && s.reports[r.ID].r.Receipt == code
	case "checkin":
		ok = s.checkins[r.ID] != nil && s.checkins[r.ID].c.Receipt == code
	}
	return r, ok
}

func cmpStamp(a, b stamp) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

func cmpDesc(a, b HLC) int {
	if a > b {
		return -1
	}
	return 1
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func clonePoint(p Point) Point {
	if p.Location != nil {
		l := *p.Location
		p.Location = &l
	}
	p.Contacts = slices.Clone(p.Contacts)
	return p
}

func cloneService(s Service) Service {
	if s.Since != nil {
		h := *s.Since
		s.Since = &h
	}
	return s
}
