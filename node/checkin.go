package node

import "time"

// Check-ins: households reporting in at the point. Personal data stays
// beside the log (Personal, Draft.Personal), never in an event; the
// retention rule's purge leaves personal.purged as its audit trail.

// Event types of this area.
const (
	TypeCheckInCreated = "checkin.created"
	TypePersonalPurged = "personal.purged"
)

// PersonalPurged is the payload of personal.purged, the audit trail of the
// retention rule: no names, no contacts, only how many and why.
type PersonalPurged struct {
	Rows          int       `json:"rows"`
	DeactivatedAt time.Time `json:"deactivated_at"`
	RetentionDays int       `json:"retention_days"`
}

func (p PersonalPurged) valid() bool { return true }

// LastPurge is the time of the latest personal.purged, zero if none.
func (s *State) LastPurge() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.purgedAt.isZero() {
		return time.Time{}
	}
	return s.purgedAt.hlc.Time()
}

// Check-in statuses.
const (
	CheckInSafe      = "safe"
	CheckInNeedsHelp = "needs_help"
)

// CheckInStatuses are the statuses a check-in may carry.
var CheckInStatuses = []string{CheckInSafe, CheckInNeedsHelp}

// Needs are the coarse need categories a check-in may carry. They are
// deliberately coarse: details (medication, power-dependent equipment) are
// health data and stay in the personal table.
var Needs = []string{"none", "supplies", "heat", "power", "medical", "transport", "other"}

// MaxHouseholdSize bounds a check-in's household size.
const MaxHouseholdSize = 50

// CheckIn is a household reporting in at the point. It carries nothing
// personal: names, contacts and details live in the node-local personal table
// keyed by ID, and HasPersonal says whether such a row was written.
type CheckIn struct {
	ID          string     `json:"id"`
	Receipt     string     `json:"receipt"`
	Household   string     `json:"household"`
	Size        int        `json:"size"`
	Status      string     `json:"status"`
	Need        string     `json:"need"`
	HasPersonal bool       `json:"has_personal"`
	Recorded    HLC        `json:"recorded"`
	OccurredAt  *time.Time `json:"occurred_at,omitempty"`
}

// Personal holds what a resident told the point about themselves. It never
// enters an event, a log line or the wire.
type Personal struct {
	Name    string
	Contact string
	Details string
}

// Empty reports whether nothing personal was given.
func (p Personal) Empty() bool { return p == Personal{} }

// CheckInCreated is the payload of checkin.created. Personal says only
// whether the node holds personal data for it; the data itself never
// enters the log.
type CheckInCreated struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	Household string `json:"household"`
	Size      int    `json:"size"`
	Status    string `json:"status"`
	Need      string `json:"need"`
	Personal  bool   `json:"personal"`
	By        string `json:"by,omitempty"`
}

func (p CheckInCreated) valid() bool { return p.ID != "" }

func (s *State) foldCheckInCreated(e Event, at stamp, p CheckInCreated) {
	c := s.checkins[p.ID]
	if c == nil {
		c = &checkinState{}
		s.checkins[p.ID] = c
	}
	if c.created.isZero() || at.less(c.created) {
		c.created = at
		c.c = CheckIn{ID: p.ID, Receipt: p.Receipt, Household: p.Household, Size: p.Size,
			Status: p.Status, Need: p.Need, HasPersonal: p.Personal, Recorded: e.HLC, OccurredAt: e.OccurredAt}
		s.receipts[p.Receipt] = Receipt{p.Receipt, "checkin", p.ID, e.HLC, e.Origin, e.Seq}
	}
}

func (s *State) foldPersonalPurged(e Event, at stamp, _ PersonalPurged) {
	if s.purgedAt.less(at) {
		s.purgedAt = at
	}
}
