package node

import "time"

// Reports: needs and incidents, reported by residents or staff, triaged
// at the point or by central.

// Event types of this area.
const (
	TypeReportCreated       = "report.created"
	TypeReportStatusChanged = "report.status_changed"
	TypeReportAssigned      = "report.assigned"
	TypeReportCommented     = "report.commented"
)

// Report categories and urgencies.
var (
	Categories = []string{"road", "power", "water", "heat", "medical", "welfare-check", "supplies", "other"}
	Urgencies  = []string{"low", "normal", "high", "life-threatening"}
)

// Report statuses, in their usual order.
const (
	ReportNew          = "new"
	ReportAcknowledged = "acknowledged"
	ReportInProgress   = "in_progress"
	ReportResolved     = "resolved"
)

// ReportStatuses lists the statuses in workflow order.
var ReportStatuses = []string{ReportNew, ReportAcknowledged, ReportInProgress, ReportResolved}

// Report is a need or incident reported by a resident or staff.
type Report struct {
	ID         string     `json:"id"`
	Receipt    string     `json:"receipt"`
	Category   string     `json:"category"`
	Text       string     `json:"text"`
	Place      string     `json:"place,omitempty"`
	Urgency    string     `json:"urgency"`
	Status     string     `json:"status"`
	Assignee   string     `json:"assignee,omitempty"`
	Comments   []Comment  `json:"comments,omitempty"`
	Recorded   HLC        `json:"recorded"`
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	Updated    HLC        `json:"updated"`
}

// Comment is a note on a report.
type Comment struct {
	Author string `json:"author,omitempty"`
	Text   string `json:"text"`
	At     HLC    `json:"at"`
	Origin string `json:"origin"`
}

// ReportCreated is the payload of report.created.
type ReportCreated struct {
	ID       string `json:"id"`
	Receipt  string `json:"receipt"`
	Category string `json:"category"`
	Text     string `json:"text"`
	Place    string `json:"place,omitempty"`
	Urgency  string `json:"urgency"`
	By       string `json:"by,omitempty"`
}

func (p ReportCreated) valid() bool { return p.ID != "" }

// ReportStatusChanged is the payload of report.status_changed.
type ReportStatusChanged struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

func (p ReportStatusChanged) valid() bool { return p.ID != "" }

// ReportAssigned is the payload of report.assigned.
type ReportAssigned struct {
	ID       string `json:"id"`
	Assignee string `json:"assignee"`
	By       string `json:"by,omitempty"`
}

func (p ReportAssigned) valid() bool { return p.ID != "" }

// ReportCommented is the payload of report.commented.
type ReportCommented struct {
	ID        string `json:"id"`
	Text      string `json:"text"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

func (p ReportCommented) valid() bool { return p.ID != "" }

// report returns the state for id, creating it, and notes an update at h.
func (s *State) report(id string, h HLC) *reportState {
	r := s.reports[id]
	if r == nil {
		r = &reportState{comments: map[stamp]Comment{}}
		s.reports[id] = r
	}
	if h > r.updated {
		r.updated = h
	}
	return r
}

func (s *State) foldReportCreated(e Event, at stamp, p ReportCreated) {
	r := s.report(p.ID, e.HLC)
	if r.created.isZero() || at.less(r.created) {
		r.created = at
		r.r.ID, r.r.Receipt, r.r.Category, r.r.Text = p.ID, p.Receipt, p.Category, p.Text
		r.r.Place, r.r.Urgency, r.r.Recorded, r.r.OccurredAt = p.Place, p.Urgency, e.HLC, e.OccurredAt
		s.receipts[p.Receipt] = Receipt{p.Receipt, "report", p.ID, e.HLC, e.Origin, e.Seq}
	}
}

func (s *State) foldReportStatusChanged(e Event, at stamp, p ReportStatusChanged) {
	r := s.report(p.ID, e.HLC)
	if r.statusAt.less(at) {
		r.r.Status, r.statusAt = p.Status, at
	}
}

func (s *State) foldReportAssigned(e Event, at stamp, p ReportAssigned) {
	r := s.report(p.ID, e.HLC)
	if r.assignAt.less(at) {
		r.r.Assignee, r.assignAt = p.Assignee, at
	}
}

func (s *State) foldReportCommented(e Event, at stamp, p ReportCommented) {
	r := s.report(p.ID, e.HLC)
	r.comments[at] = Comment{Author: p.By, Text: p.Text, At: e.HLC, Origin: e.Origin}
}
