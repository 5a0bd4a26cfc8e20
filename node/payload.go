package node

import "time"

// Payloads of the event types. Fields are the wire format: renaming one is a
// protocol change. By names the staff account that acted, empty for
// residents and for the node itself.

// ServiceChanged is the payload of service.changed.
type ServiceChanged struct {
	Service string `json:"service"`
	Status  string `json:"status"`
	Note    string `json:"note,omitempty"`
	By      string `json:"by,omitempty"`
}

// AnnouncementPublished is the payload of announcement.published.
type AnnouncementPublished struct {
	ID         string            `json:"id"`
	Title      map[string]string `json:"title"`
	Body       map[string]string `json:"body,omitempty"`
	Severity   string            `json:"severity"`
	ValidUntil *time.Time        `json:"valid_until,omitempty"`
	Source     string            `json:"source"`
	By         string            `json:"by,omitempty"`
	Directive  string            `json:"directive,omitempty"` // set by central: the directive this event carries
}

// AnnouncementWithdrawn is the payload of announcement.withdrawn.
type AnnouncementWithdrawn struct {
	ID        string `json:"id"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

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

// ReportStatusChanged is the payload of report.status_changed.
type ReportStatusChanged struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

// ReportAssigned is the payload of report.assigned.
type ReportAssigned struct {
	ID       string `json:"id"`
	Assignee string `json:"assignee"`
	By       string `json:"by,omitempty"`
}

// ReportCommented is the payload of report.commented.
type ReportCommented struct {
	ID        string `json:"id"`
	Text      string `json:"text"`
	By        string `json:"by,omitempty"`
	Directive string `json:"directive,omitempty"` // set by central: the directive this event carries
}

// InventoryChanged is the payload of inventory.changed: the stock of one
// item as counted now. Quantity is what is on hand; Low is the level at or
// below which the board warns.
type InventoryChanged struct {
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	Low      float64 `json:"low,omitempty"`
	By       string  `json:"by,omitempty"`
}

// RosterChanged is the payload of roster.changed: one person's role and
// whether they are on duty now. Their contact is staff-only and stays on
// the node, beside the log.
type RosterChanged struct {
	Person string `json:"person"`
	Role   string `json:"role"`
	OnDuty bool   `json:"on_duty"`
	By     string `json:"by,omitempty"`
}

// JournalEntry is the payload of journal.entry (stabsjournal). Entries are
// never changed: a correction is a new entry whose Corrects names the old.
type JournalEntry struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Corrects string `json:"corrects,omitempty"`
	By       string `json:"by,omitempty"`
}

// ClockSet is the payload of clock.set: staff set the box's clock from
// their tablet.
type ClockSet struct {
	From time.Time `json:"from"` // the box's wall clock before
	To   time.Time `json:"to"`
	By   string    `json:"by,omitempty"`
}
