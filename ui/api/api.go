// Package api holds the HTTP API's bodies (docs/API.md) that more than one
// audience's package uses, and the checks that turn them into event
// payloads: a resident's report and check-in (the portal's forms and JSON,
// and staff typing in a paper record on the board), an announcement (the
// board's and central's), and the link's status (the portal's and the
// board's).
package api

import (
	"regexp"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// ReportRequest is the body of POST /api/reports.
type ReportRequest struct {
	Category string `json:"category"`
	Text     string `json:"text"`
	Place    string `json:"place"`
	Urgency  string `json:"urgency"`
}

// CheckInRequest is the body of POST /api/checkins. Name, Contact and
// Details are personal: they go to the node-local personal table only.
type CheckInRequest struct {
	Household string `json:"household"`
	Size      int    `json:"size"`
	Status    string `json:"status"`
	Need      string `json:"need"`
	Name      string `json:"name"`
	Contact   string `json:"contact"`
	Details   string `json:"details"`
}

// Created is the answer to a successful submission.
type Created struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	Household string `json:"household,omitempty"`
}

// HouseholdLen is the length of a household code.
const HouseholdLen = 6

// Receipts are the receipt codes in use: *node.State.
type Receipts interface {
	LookupReceipt(code string) (node.Receipt, bool)
}

// Report validates a report request into an event payload, with a receipt
// code not in taken.
func Report(req ReportRequest, taken Receipts) (node.ReportCreated, *Validator) {
	v := &Validator{}
	return node.ReportCreated{
		ID:       node.NewID(),
		Receipt:  newReceipt(taken),
		Category: v.OneOf("category", req.Category, "", node.Categories),
		Text:     v.Text("text", req.Text, true, 2000),
		Place:    v.Text("place", req.Place, false, 200),
		Urgency:  v.OneOf("urgency", req.Urgency, "normal", node.Urgencies),
	}, v
}

// CheckIn validates a check-in request into an event payload, with a
// receipt code not in taken, and the personal data that goes beside it.
func CheckIn(req CheckInRequest, taken Receipts) (node.CheckInCreated, node.Personal, *Validator) {
	v := &Validator{}
	household := node.NormalizeCode(req.Household)
	if household == "" {
		household = node.NewCode(HouseholdLen)
	} else if !node.ValidCode(household, HouseholdLen) {
		v.FailField("household", "household: must be a %d-character household code, or empty for a new one", HouseholdLen)
	}
	if req.Size < 1 || req.Size > node.MaxHouseholdSize {
		v.FailField("size", "size: must be a whole number from 1 to %d", node.MaxHouseholdSize)
	}
	p := node.CheckInCreated{
		ID:        node.NewID(),
		Receipt:   newReceipt(taken),
		Household: household,
		Size:      req.Size,
		Status:    v.OneOf("status", req.Status, "", node.CheckInStatuses),
		Need:      v.OneOf("need", req.Need, "none", node.Needs),
	}
	personal := node.Personal{
		Name:    v.Text("name", req.Name, false, 100),
		Contact: v.Text("contact", req.Contact, false, 200),
		Details: v.Text("details", req.Details, false, 2000),
	}
	p.Personal = !personal.Empty()
	return p, personal, v
}

// newReceipt draws receipt codes until one is free. At 40 bits a clash is
// rare, but a receipt must lead to exactly one submission.
func newReceipt(taken Receipts) string {
	for {
		code := node.NewCode(node.ReceiptLen)
		if _, ok := taken.LookupReceipt(code); !ok {
			return code
		}
	}
}

// AnnouncementRequest is the body of POST /api/staff/announcements.
type AnnouncementRequest struct {
	Title      map[string]string `json:"title"`
	Body       map[string]string `json:"body"`
	Severity   string            `json:"severity"`
	ValidUntil *time.Time        `json:"valid_until"`
}

var langCode = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)

// Announcement validates a request into an event payload by the account
// by, from source ("node:ID", "kommunen"); clock refuses a valid_until
// already past, when it is trusted.
func Announcement(req AnnouncementRequest, by, source string, clock *node.Clock) (node.Announcement, error) {
	var v Validator
	p := node.Announcement{ID: node.NewID(), Title: map[string]string{}, Body: map[string]string{},
		Severity: v.OneOf("severity", req.Severity, "info", node.Severities), Source: source, By: by}
	if len(req.Title) > 20 || len(req.Body) > 20 {
		v.Fail("title, body: at most 20 languages")
	}
	for lang, t := range req.Title {
		if !langCode.MatchString(lang) {
			v.Fail("title: %q is not a language code", lang)
		}
		if t = v.Text("title."+lang, t, false, 200); t != "" {
			p.Title[lang] = t
		}
	}
	for lang, b := range req.Body {
		if !langCode.MatchString(lang) {
			v.Fail("body: %q is not a language code", lang)
		}
		if b = v.Text("body."+lang, b, false, 4000); b != "" {
			p.Body[lang] = b
		}
	}
	if p.Title["sv"] == "" {
		v.Fail("title.sv: required (Swedish first)")
	}
	if req.ValidUntil != nil {
		until := req.ValidUntil.UTC()
		if clock.Plausible() && !until.After(clock.Wall()) {
			v.Fail("valid_until: already past")
		}
		p.ValidUntil = &until
	}
	return p, v.Err
}

// SyncStatus is the link to central, as /api/status and the board show it.
type SyncStatus struct {
	Configured bool       `json:"configured"`
	Online     bool       `json:"online"`
	LastSync   *time.Time `json:"last_sync"`
	Backlog    uint64     `json:"backlog"`
	// Problem, when set, says why the link has stopped: staff must act.
	Problem string `json:"problem,omitempty"`
}
