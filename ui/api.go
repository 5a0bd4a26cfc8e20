package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 64 << 10

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// Status is the public JSON picture of the point at GET /api/status.
type Status struct {
	Point         node.Point          `json:"point"`
	Services      []node.Service      `json:"services"`
	Announcements []node.Announcement `json:"announcements"`
	Counts        node.Counts         `json:"counts"`
	// Activation is the municipality's word on the point; absent until set.
	Activation *node.Activation `json:"activation,omitempty"`
	// Power is absent when the node watches no power source.
	Power *powermon.Status `json:"power,omitempty"`
	// Sync is the link to central.
	Sync    SyncStatus `json:"sync"`
	ClockOK bool       `json:"clock_ok"`
	// Time is the node's wall clock, absent while it is not plausible:
	// residents are never shown a 1970 time.
	Time    *time.Time `json:"time,omitempty"`
	Updated node.HLC   `json:"updated"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	v := s.log.State().View()
	clock := s.log.Clock()
	st := Status{Point: v.Point, Services: v.Services, Counts: v.Counts, Activation: v.Activation,
		ClockOK: clock.Plausible(), Updated: v.Last}
	st.Power = s.powerStatus()
	st.Sync = s.syncStatus()
	if st.Point.ID == "" { // before the first point.configured
		st.Point.ID = s.log.Origin()
	}
	var now time.Time
	if st.ClockOK {
		now = clock.Wall().UTC().Truncate(time.Second)
		st.Time = &now
	}
	st.Announcements = v.ActiveAnnouncements(now)
	if st.Announcements == nil {
		st.Announcements = []node.Announcement{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, st)
}

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

// buildReport validates a report request into an event payload.
func (s *Server) buildReport(req ReportRequest) (node.ReportCreated, *validator) {
	v := &validator{}
	return node.ReportCreated{
		ID:       node.NewID(),
		Receipt:  s.newReceipt(),
		Category: v.oneOf("category", req.Category, "", node.Categories),
		Text:     v.text("text", req.Text, true, 2000),
		Place:    v.text("place", req.Place, false, 200),
		Urgency:  v.oneOf("urgency", req.Urgency, "normal", node.Urgencies),
	}, v
}

// buildCheckIn validates a check-in request into an event payload and the
// personal data that goes beside it.
func (s *Server) buildCheckIn(req CheckInRequest) (node.CheckInCreated, node.Personal, *validator) {
	v := &validator{}
	household := node.NormalizeCode(req.Household)
	if household == "" {
		household = node.NewCode(HouseholdLen)
	} else if !node.ValidCode(household, HouseholdLen) {
		v.failField("household", "household: must be a %d-character household code, or empty for a new one", HouseholdLen)
	}
	if req.Size < 1 || req.Size > node.MaxHouseholdSize {
		v.failField("size", "size: must be a whole number from 1 to %d", node.MaxHouseholdSize)
	}
	p := node.CheckInCreated{
		ID:        node.NewID(),
		Receipt:   s.newReceipt(),
		Household: household,
		Size:      req.Size,
		Status:    v.oneOf("status", req.Status, "", node.CheckInStatuses),
		Need:      v.oneOf("need", req.Need, "none", node.Needs),
	}
	personal := node.Personal{
		Name:    v.text("name", req.Name, false, 100),
		Contact: v.text("contact", req.Contact, false, 200),
		Details: v.text("details", req.Details, false, 2000),
	}
	p.Personal = !personal.Empty()
	return p, personal, v
}

// apiKey turns an Idempotency-Key header into a log key: a client that
// retries a request it got no answer to gets the first answer again.
func apiKey(r *http.Request) (string, bool) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", true
	}
	if len(k) > 128 || strings.ContainsFunc(k, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return "", false
	}
	return "api:" + k, true
}

func (s *Server) createReport(w http.ResponseWriter, r *http.Request) {
	var req ReportRequest
	if !readJSON(w, r, &req) {
		return
	}
	key, ok := apiKey(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "Idempotency-Key: at most 128 printable ASCII characters")
		return
	}
	p, v := s.buildReport(req)
	if v.err != nil {
		writeError(w, http.StatusBadRequest, v.err.Error())
		return
	}
	e, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeReportCreated, Payload: p, Key: key})
	if err != nil {
		s.appendFailed(w, err)
		return
	}
	var stored node.ReportCreated // the first one's, when the key was seen before
	if err := json.Unmarshal(e.Payload, &stored); err != nil {
		s.appendFailed(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, Created{ID: stored.ID, Receipt: stored.Receipt})
}

func (s *Server) createCheckIn(w http.ResponseWriter, r *http.Request) {
	var req CheckInRequest
	if !readJSON(w, r, &req) {
		return
	}
	key, ok := apiKey(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "Idempotency-Key: at most 128 printable ASCII characters")
		return
	}
	p, personal, v := s.buildCheckIn(req)
	if v.err != nil {
		writeError(w, http.StatusBadRequest, v.err.Error())
		return
	}
	d := node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: personal, PersonalKey: p.ID, Key: key}
	e, err := s.log.Append(r.Context(), d)
	if err != nil {
		s.appendFailed(w, err)
		return
	}
	var stored node.CheckInCreated
	if err := json.Unmarshal(e.Payload, &stored); err != nil {
		s.appendFailed(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, Created{ID: stored.ID, Receipt: stored.Receipt, Household: stored.Household})
}

// newReceipt draws receipt codes until one is free. At 40 bits a clash is
// rare, but a receipt must lead to exactly one submission.
func (s *Server) newReceipt() string {
	for {
		code := node.NewCode(node.ReceiptLen)
		if _, taken := s.log.State().LookupReceipt(code); !taken {
			return code
		}
	}
}

func (s *Server) appendFailed(w http.ResponseWriter, err error) {
	// The error text may quote SQL but never a payload: safe to log.
	s.logger.Error("Append failed", "err", err)
	writeError(w, http.StatusServiceUnavailable, "could not store the submission; please try again")
}

// readJSON decodes a request body of at most MaxBody bytes into v, strictly:
// JSON content type, valid UTF-8, one object, no unknown fields, right types.
// On failure it has answered the request and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return readJSONLimit(w, r, v, MaxBody)
}

// readJSONLimit is readJSON with another size limit.
func readJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "body must be JSON (Content-Type: application/json)")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "could not read the body")
		return false
	}
	if !utf8.Valid(data) {
		// encoding/json would quietly turn bad bytes into U+FFFD.
		writeError(w, http.StatusBadRequest, "body is not valid UTF-8")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, describeJSONError(err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "body has data after the JSON object")
		return false
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("null")) {
		writeError(w, http.StatusBadRequest, "body must be a JSON object")
		return false
	}
	return true
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body is cut short: not a complete JSON object"
	case errors.As(err, &syntax):
		return fmt.Sprintf("body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "body must be a JSON object"
		}
		return fmt.Sprintf("%s: must be a %s, not a JSON %s", typ.Field, kindName(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "body is not valid JSON"
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	}
	return k
}

// validator collects the first validation error, for the API's answer,
// and every field at fault, for a form to mark.
type validator struct {
	err error
	bad map[string]string // field: "required" or "invalid"
}

func (v *validator) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf(format, args...)
	}
}

func (v *validator) failField(field, format string, args ...any) {
	v.mark(field, "invalid")
	v.fail(format, args...)
}

func (v *validator) mark(field, kind string) {
	if v.bad == nil {
		v.bad = map[string]string{}
	}
	if _, ok := v.bad[field]; !ok {
		v.bad[field] = kind
	}
}

// oneOf checks that value is among allowed; empty takes def when def is set.
func (v *validator) oneOf(field, value, def string, allowed []string) string {
	value = strings.TrimSpace(value)
	if value == "" && def != "" {
		return def
	}
	for _, a := range allowed {
		if value == a {
			return value
		}
	}
	if value == "" {
		v.mark(field, "required")
		v.fail("%s: required, one of %s", field, strings.Join(allowed, ", "))
	} else {
		v.mark(field, "invalid")
		v.fail("%s: %q is not one of %s", field, value, strings.Join(allowed, ", "))
	}
	return ""
}

// text trims value and checks its length in characters and that it holds no
// control characters but line breaks and tabs.
func (v *validator) text(field, value string, required bool, max int) string {
	value = strings.TrimSpace(value)
	if value == "" {
		if required {
			v.mark(field, "required")
			v.fail("%s: required", field)
		}
		return ""
	}
	if n := utf8.RuneCountInString(value); n > max {
		v.failField(field, "%s: at most %d characters (got %d)", field, max, n)
		return ""
	}
	for _, c := range value {
		if unicode.IsControl(c) && c != '\n' && c != '\r' && c != '\t' {
			v.failField(field, "%s: contains a control character", field)
			return ""
		}
	}
	return value
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// Error is the body of every 4xx and 5xx answer of the API.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{msg})
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

func (s *Server) syncStatus() SyncStatus {
	if s.opts.Sync == nil {
		return SyncStatus{}
	}
	return s.opts.Sync()
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) {
	if s.opts.Nodes == nil {
		writeError(w, http.StatusNotFound, "this is a node, not a central")
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Nodes())
}
