package node

import "time"

// The crisis staff's records: stock (inventory.changed), the roster
// (roster.changed), the stabsjournal (journal.entry) and the clock set
// from a tablet (clock.set).

// Event types of this area.
const (
	TypeInventoryChanged = "inventory.changed"
	TypeRosterChanged    = "roster.changed"
	TypeJournalEntry     = "journal.entry"
	TypeClockSet         = "clock.set"
)

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

func (p InventoryChanged) valid() bool { return p.Item != "" }

// RosterChanged is the payload of roster.changed: one person's role and
// whether they are on duty now. Their contact is staff-only and stays on
// the node, beside the log.
type RosterChanged struct {
	Person string `json:"person"`
	Role   string `json:"role"`
	OnDuty bool   `json:"on_duty"`
	By     string `json:"by,omitempty"`
}

func (p RosterChanged) valid() bool { return p.Person != "" }

// JournalEntry is the payload of journal.entry (stabsjournal). Entries are
// never changed: a correction is a new entry whose Corrects names the old.
type JournalEntry struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Corrects string `json:"corrects,omitempty"`
	By       string `json:"by,omitempty"`
}

func (p JournalEntry) valid() bool { return p.ID != "" }

// ClockSet is the payload of clock.set: staff set the box's clock from
// their tablet.
type ClockSet struct {
	From time.Time `json:"from"` // the box's wall clock before
	To   time.Time `json:"to"`
	By   string    `json:"by,omitempty"`
}

func (p ClockSet) valid() bool { return true }

// Stock returns one item's latest count.
func (s *State) Stock(item string) (InventoryItem, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.stock[item]
	return r.item(), ok
}

func (r stockReg) item() InventoryItem {
	return InventoryItem{Item: r.p.Item, Quantity: r.p.Quantity, Unit: r.p.Unit, Low: r.p.Low,
		IsLow: r.p.Low > 0 && r.p.Quantity <= r.p.Low, Counted: r.at.hlc, By: r.p.By}
}

func (s *State) foldInventoryChanged(e Event, at stamp, p InventoryChanged) {
	if cur, ok := s.stock[p.Item]; !ok || cur.at.less(at) {
		s.stock[p.Item] = stockReg{p, at}
	}
}

func (s *State) foldRosterChanged(e Event, at stamp, p RosterChanged) {
	if cur, ok := s.roster[p.Person]; !ok || cur.at.less(at) {
		s.roster[p.Person] = rosterReg{p, at}
	}
}

func (s *State) foldJournalEntry(e Event, at stamp, p JournalEntry) {
	if cur, ok := s.journal[p.ID]; !ok || at.less(cur.at) {
		s.journal[p.ID] = journalState{Journal{ID: p.ID, Text: p.Text, Corrects: p.Corrects, By: p.By,
			Recorded: e.HLC, OccurredAt: e.OccurredAt, Origin: e.Origin}, at}
	}
}

// foldClockSet keeps nothing: clock.set is the audit trail only, the
// clock itself is the node's.
func (s *State) foldClockSet(Event, stamp, ClockSet) {}
