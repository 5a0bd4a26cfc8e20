package board

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The board's actions. Each is one function on a request struct, reached
// two ways: as JSON under /api/staff/… and as a plain form under /board/…,
// which answers with a redirect back to the board (no JavaScript needed).
// Every action is an event carrying its author.

// errInput marks a request at fault: 400, with the message.
type errInput struct{ msg string }

func (e errInput) Error() string { return e.msg }

func bad(v *api.Validator) error {
	if v.Err == nil {
		return nil
	}
	return errInput{v.Err.Error()}
}

// jsonAction serves an action as JSON: 201 with what it returns.
func jsonAction[T any](s *Board, act func(context.Context, string, *http.Request, T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !web.ReadJSON(w, r, &req) {
			return
		}
		out, err := act(r.Context(), web.SessionFrom(r.Context()).Account.Name, r, req)
		if s.actionFailed(w, err) {
			return
		}
		web.WriteJSON(w, http.StatusCreated, out)
	}
}

// formAction serves an action as a form post: 303 back to the board's
// panel, or the board again with the error.
func formAction[T any](s *Board, panel string, parse func(url.Values) T, act func(context.Context, string, *http.Request, T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The site's guard has parsed the form (bounded) for the CSRF token.
		_, err := act(r.Context(), web.SessionFrom(r.Context()).Account.Name, r, parse(r.PostForm))
		var in errInput
		switch {
		case err == nil:
			http.Redirect(w, r, "/board#"+panel, http.StatusSeeOther)
		case errors.As(err, &in):
			s.renderBoard(w, r, http.StatusBadRequest, "", in.msg)
		case errors.Is(err, errNotFound):
			s.renderBoard(w, r, http.StatusNotFound, "", "Finns inte. / Not found.")
		default:
			s.logger.Error("Board action failed", "panel", panel, "err", err)
			s.renderBoard(w, r, http.StatusServiceUnavailable, "", "Kunde inte spara. Försök igen. / Could not store it. Try again.")
		}
	}
}

var errNotFound = errors.New("not found")

func (s *Board) actionFailed(w http.ResponseWriter, err error) bool {
	var in errInput
	switch {
	case err == nil:
		return false
	case errors.As(err, &in):
		web.WriteError(w, http.StatusBadRequest, in.msg)
	case errors.Is(err, errNotFound):
		web.WriteError(w, http.StatusNotFound, "no such report or check-in")
	default:
		web.AppendFailed(w, s.logger, err)
	}
	return true
}

func (s *Board) append(ctx context.Context, typ string, payload any, occurred *time.Time) error {
	_, err := s.log.Append(ctx, node.Draft{Type: typ, Payload: payload, OccurredAt: occurred})
	return err
}

// reportExists makes actions on unknown reports a 404 rather than an event
// nobody will ever see.
func (s *Board) reportExists(id string) bool {
	for _, r := range s.log.State().View().Reports {
		if r.ID == id {
			return true
		}
	}
	return false
}

// ReportAction is the body of POST /api/staff/reports/{id}/status, …/assign
// and …/comments: the field the action uses.
type ReportAction struct {
	Status   string `json:"status"`
	Assignee string `json:"assignee"`
	Text     string `json:"text"`
}

func reportActionForm(f url.Values) ReportAction {
	return ReportAction{Status: f.Get("status"), Assignee: f.Get("assignee"), Text: f.Get("text")}
}

func (s *Board) setReportStatus(ctx context.Context, by string, r *http.Request, req ReportAction) (any, error) {
	id := r.PathValue("id")
	var v api.Validator
	status := v.OneOf("status", req.Status, "", node.ReportStatuses)
	if err := bad(&v); err != nil {
		return nil, err
	}
	if !s.reportExists(id) {
		return nil, errNotFound
	}
	return map[string]string{"id": id}, s.append(ctx, node.TypeReportStatusChanged, node.ReportStatusChanged{ID: id, Status: status, By: by}, nil)
}

func (s *Board) assignReport(ctx context.Context, by string, r *http.Request, req ReportAction) (any, error) {
	id := r.PathValue("id")
	var v api.Validator
	assignee := v.Text("assignee", req.Assignee, false, 64)
	if err := bad(&v); err != nil {
		return nil, err
	}
	if !s.reportExists(id) {
		return nil, errNotFound
	}
	return map[string]string{"id": id}, s.append(ctx, node.TypeReportAssigned, node.ReportAssigned{ID: id, Assignee: assignee, By: by}, nil)
}

func (s *Board) commentReport(ctx context.Context, by string, r *http.Request, req ReportAction) (any, error) {
	id := r.PathValue("id")
	var v api.Validator
	text := v.Text("text", req.Text, true, 2000)
	if err := bad(&v); err != nil {
		return nil, err
	}
	if !s.reportExists(id) {
		return nil, errNotFound
	}
	return map[string]string{"id": id}, s.append(ctx, node.TypeReportCommented, node.ReportCommented{ID: id, Text: text, By: by}, nil)
}

// StaffCheckIn is the body of POST /api/staff/checkins: a resident checked
// in by staff, maybe from a paper record typed in later (occurred_at).
type StaffCheckIn struct {
	api.CheckInRequest
	OccurredAt *time.Time `json:"occurred_at"`
}

func staffCheckInForm(f url.Values) StaffCheckIn {
	size, _ := strconv.Atoi(strings.TrimSpace(f.Get("size")))
	req := StaffCheckIn{CheckInRequest: api.CheckInRequest{Household: f.Get("household"), Size: size, Status: f.Get("status"),
		Need: f.Get("need"), Name: f.Get("name"), Contact: f.Get("contact"), Details: f.Get("details")}}
	if t, err := time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(f.Get("occurred_at")), web.Stockholm); err == nil {
		req.OccurredAt = &t
	}
	return req
}

func (s *Board) staffCheckIn(ctx context.Context, by string, _ *http.Request, req StaffCheckIn) (any, error) {
	p, personal, v := api.CheckIn(req.CheckInRequest, s.log.State())
	if req.OccurredAt != nil {
		if t := *req.OccurredAt; t.After(s.log.Clock().Wall().Add(5*time.Minute)) || t.Before(node.EarliestPlausible) {
			v.FailField("occurred_at", "occurred_at: not in the future, and not before %d", node.EarliestPlausible.Year())
		}
	}
	if err := bad(v); err != nil {
		return nil, err
	}
	p.By = by
	_, err := s.log.Append(ctx, node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: personal,
		PersonalKey: p.ID, OccurredAt: req.OccurredAt})
	return api.Created{ID: p.ID, Receipt: p.Receipt, Household: p.Household}, err
}

// checkinPersonal answers a check-in's personal data: staff-only, never
// pushed over the board's websocket, fetched when staff open it.
func (s *Board) checkinPersonal(w http.ResponseWriter, r *http.Request) {
	p, ok, err := s.log.Personal(r.Context(), r.PathValue("id"))
	if err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	if !ok {
		web.WriteError(w, http.StatusNotFound, "no personal data for that check-in")
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"name": p.Name, "contact": p.Contact, "details": p.Details})
}

// ServiceRequest is the body of POST /api/staff/services.
type ServiceRequest struct {
	Service string `json:"service"`
	Status  string `json:"status"`
	Note    string `json:"note"`
}

func serviceForm(f url.Values) ServiceRequest {
	return ServiceRequest{Service: f.Get("service"), Status: f.Get("status"), Note: f.Get("note")}
}

func (s *Board) setService(ctx context.Context, by string, _ *http.Request, req ServiceRequest) (any, error) {
	var v api.Validator
	p := node.ServiceChanged{Service: v.OneOf("service", req.Service, "", node.Services),
		Status: v.OneOf("status", req.Status, "", node.ServiceStatuses), Note: v.Text("note", req.Note, false, 200), By: by}
	if err := bad(&v); err != nil {
		return nil, err
	}
	return map[string]string{"service": p.Service}, s.append(ctx, node.TypeServiceChanged, p, nil)
}

// RosterRequest is the body of POST /api/staff/roster.
type RosterRequest struct {
	Person  string `json:"person"`
	Role    string `json:"role"`
	OnDuty  bool   `json:"on_duty"`
	Contact string `json:"contact"` // staff-only, kept beside the log
}

func rosterForm(f url.Values) RosterRequest {
	return RosterRequest{Person: f.Get("person"), Role: f.Get("role"), OnDuty: f.Get("on_duty") != "", Contact: f.Get("contact")}
}

func (s *Board) setRoster(ctx context.Context, by string, _ *http.Request, req RosterRequest) (any, error) {
	var v api.Validator
	p := node.RosterChanged{Person: v.Text("person", req.Person, true, 64), Role: v.Text("role", req.Role, true, 40),
		OnDuty: req.OnDuty, By: by}
	contact := v.Text("contact", req.Contact, false, 200)
	if err := bad(&v); err != nil {
		return nil, err
	}
	// An empty contact keeps the one on file: toggling duty must not erase it.
	if contact != "" {
		if err := s.log.SetStaffContact(ctx, p.Person, contact); err != nil {
			return nil, err
		}
	}
	return map[string]string{"person": p.Person}, s.append(ctx, node.TypeRosterChanged, p, nil)
}

func (s *Board) rosterContacts(w http.ResponseWriter, r *http.Request) {
	c, err := s.log.StaffContacts(r.Context())
	if err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

// JournalRequest is the body of POST /api/staff/journal.
type JournalRequest struct {
	Text       string     `json:"text"`
	Corrects   string     `json:"corrects"`
	OccurredAt *time.Time `json:"occurred_at"`
}

func journalForm(f url.Values) JournalRequest {
	req := JournalRequest{Text: f.Get("text"), Corrects: f.Get("corrects")}
	if t, err := time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(f.Get("occurred_at")), web.Stockholm); err == nil {
		req.OccurredAt = &t
	}
	return req
}

func (s *Board) addJournal(ctx context.Context, by string, _ *http.Request, req JournalRequest) (any, error) {
	var v api.Validator
	p := node.JournalEntry{ID: node.NewID(), Text: v.Text("text", req.Text, true, 4000), Corrects: strings.TrimSpace(req.Corrects), By: by}
	if err := bad(&v); err != nil {
		return nil, err
	}
	if p.Corrects != "" {
		found := false
		for _, j := range s.log.State().View().Journal {
			found = found || j.ID == p.Corrects
		}
		if !found {
			return nil, errInput{"corrects: no journal entry with that id"}
		}
	}
	return map[string]string{"id": p.ID}, s.append(ctx, node.TypeJournalEntry, p, req.OccurredAt)
}

// ClockRequest is the body of POST /api/staff/clock: the tablet's time.
type ClockRequest struct {
	Now time.Time `json:"now"`
}

func clockForm(f url.Values) ClockRequest {
	var req ClockRequest
	if ms, err := strconv.ParseInt(f.Get("now_ms"), 10, 64); err == nil {
		req.Now = time.UnixMilli(ms)
	} else if t, err := time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(f.Get("now")), web.Stockholm); err == nil {
		req.Now = t
	}
	return req
}

func (s *Board) setClock(ctx context.Context, by string, _ *http.Request, req ClockRequest) (any, error) {
	if req.Now.Before(node.EarliestPlausible) || req.Now.After(node.EarliestPlausible.AddDate(50, 0, 0)) {
		return nil, errInput{"now: not a plausible time"}
	}
	from := s.log.Clock().SetWall(req.Now)
	s.logger.Warn("Clock set by staff", "from", from.UTC().Format(time.RFC3339), "to", req.Now.UTC().Format(time.RFC3339))
	return map[string]bool{"clock_ok": s.log.Clock().Plausible()},
		s.append(ctx, node.TypeClockSet, node.ClockSet{From: from.UTC(), To: req.Now.UTC(), By: by}, nil)
}

// powerHistory answers the power samples of the last hours (24 by
// default, 168 at most), for the board's chart.
func (s *Board) powerHistory(w http.ResponseWriter, r *http.Request) {
	if s.opts.PowerHistory == nil {
		web.WriteJSON(w, http.StatusOK, []powermon.Sample{})
		return
	}
	hours := 24
	if h, err := strconv.Atoi(r.URL.Query().Get("hours")); err == nil && h > 0 && h <= 168 {
		hours = h
	}
	samples := s.opts.PowerHistory(s.log.Clock().Wall().Add(-time.Duration(hours) * time.Hour))
	if samples == nil {
		samples = []powermon.Sample{}
	}
	web.WriteJSON(w, http.StatusOK, samples)
}
