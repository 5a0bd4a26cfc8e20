package portal

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The public JSON API: the point's status and residents' submissions
// (docs/API.md).

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
	Sync    api.SyncStatus `json:"sync"`
	ClockOK bool           `json:"clock_ok"`
	// Time is the node's wall clock, absent while it is not plausible:
	// residents are never shown a 1970 time.
	Time    *time.Time `json:"time,omitempty"`
	Updated node.HLC   `json:"updated"`
}

func (s *Portal) status(w http.ResponseWriter, r *http.Request) {
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
	web.WriteJSON(w, http.StatusOK, st)
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

// readPost reads a public JSON post into req, and its Idempotency-Key; when
// it says no, the answer is written.
func readPost(w http.ResponseWriter, r *http.Request, req any) (key string, ok bool) {
	if !web.ReadJSON(w, r, req) {
		return "", false
	}
	if key, ok = apiKey(r); !ok {
		web.WriteError(w, http.StatusBadRequest, "Idempotency-Key: at most 128 printable ASCII characters")
	}
	return key, ok
}

func (s *Portal) createReport(w http.ResponseWriter, r *http.Request) {
	var req api.ReportRequest
	key, ok := readPost(w, r, &req)
	if !ok {
		return
	}
	p, v := api.Report(req, s.log.State())
	if v.Err != nil {
		web.WriteError(w, http.StatusBadRequest, v.Err.Error())
		return
	}
	e, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeReportCreated, Payload: p, Key: key})
	if err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	var stored node.ReportCreated // the first one's, when the key was seen before
	if err := json.Unmarshal(e.Payload, &stored); err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, api.Created{ID: stored.ID, Receipt: stored.Receipt})
}

func (s *Portal) createCheckIn(w http.ResponseWriter, r *http.Request) {
	var req api.CheckInRequest
	key, ok := readPost(w, r, &req)
	if !ok {
		return
	}
	p, personal, v := api.CheckIn(req, s.log.State())
	if v.Err != nil {
		web.WriteError(w, http.StatusBadRequest, v.Err.Error())
		return
	}
	d := node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: personal, PersonalKey: p.ID, Key: key}
	e, err := s.log.Append(r.Context(), d)
	if err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	var stored node.CheckInCreated
	if err := json.Unmarshal(e.Payload, &stored); err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, api.Created{ID: stored.ID, Receipt: stored.Receipt, Household: stored.Household})
}

func (s *Portal) syncStatus() api.SyncStatus {
	if s.opts.Sync == nil {
		return api.SyncStatus{}
	}
	return s.opts.Sync()
}
