package node

import (
	"regexp"
	"time"
)

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

// Announcement severities, least to most serious.
var Severities = []string{"info", "warning", "danger"}

// Announcement is a message to residents, with title and body per language
// code ("sv", "en", …).
type Announcement struct {
	ID         string            `json:"id"`
	Title      map[string]string `json:"title"`
	Body       map[string]string `json:"body,omitempty"`
	Severity   string            `json:"severity"`
	ValidUntil *time.Time        `json:"valid_until,omitempty"`
	Source     string            `json:"source"`
	Published  HLC               `json:"published"`
	Withdrawn  bool              `json:"withdrawn,omitempty"`
}

// ActiveAt reports whether the announcement should be shown at wall time
// now. An unknown clock (zero now) shows everything not withdrawn: hiding a
// warning because the box has no clock would be worse than showing an old one.
func (a Announcement) ActiveAt(now time.Time) bool {
	if a.Withdrawn {
		return false
	}
	return a.ValidUntil == nil || now.IsZero() || now.Before(*a.ValidUntil)
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

// Counts are the numbers the portal and board show at a glance.
type Counts struct {
	Households  int `json:"households"`
	People      int `json:"people"`
	NeedsHelp   int `json:"needs_help"`
	ReportsOpen int `json:"reports_open"`
	Reports     int `json:"reports"`
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

// FuelItem is the inventory item whose litres feed the generator hours.
const FuelItem = "fuel"

// InventoryItem is one item's stock.
type InventoryItem struct {
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	Low      float64 `json:"low,omitempty"`
	IsLow    bool    `json:"is_low"`
	Counted  HLC     `json:"counted"` // when this count was recorded
	By       string  `json:"by,omitempty"`
}

// Roles people can have in the crisis staff (stabsroller); others are
// allowed, these are offered.
var StaffRoles = []string{"stabschef", "samband", "logistik", "sjukvård", "information", "värd", "teknik"}

// RosterEntry is one person in the staff roster.
type RosterEntry struct {
	Person  string `json:"person"`
	Role    string `json:"role"`
	OnDuty  bool   `json:"on_duty"`
	Changed HLC    `json:"changed"`
	By      string `json:"by,omitempty"`
}

// Journal is one stabsjournal entry. CorrectedBy lists later entries that
// correct it.
type Journal struct {
	ID          string     `json:"id"`
	Text        string     `json:"text"`
	Corrects    string     `json:"corrects,omitempty"`
	CorrectedBy []string   `json:"corrected_by,omitempty"`
	By          string     `json:"by,omitempty"`
	Recorded    HLC        `json:"recorded"`
	OccurredAt  *time.Time `json:"occurred_at,omitempty"`
	Origin      string     `json:"origin"`
}
