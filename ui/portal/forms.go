package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The resident forms (check in, report) without JavaScript, and the
// receipt page a submission leads to.

func (s *Portal) checkinPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "checkin", "checkin.title")
	p.Form = &form{Token: node.NewCode(16), Values: map[string]string{"size": "1"}}
	// no-cache, not no-store: Back must show the same form, with the same
	// one-time token, so that submitting it again finds the first receipt.
	s.renderPortal(w, r, http.StatusOK, "checkin.html", p)
}

func (s *Portal) reportPage(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "report", "report.title")
	p.Form = &form{Token: node.NewCode(16), Values: map[string]string{"urgency": "normal"}}
	s.renderPortal(w, r, http.StatusOK, "report.html", p)
}

// readForm parses a resident form, bounded. On failure it has answered.
func (s *Portal) readForm(w http.ResponseWriter, r *http.Request, nav, title string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxBody)
	if err := r.ParseForm(); err != nil {
		code, msg := http.StatusBadRequest, "form.again"
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		s.portalError(w, r, code, "error.title", msg)
		return false
	}
	return true
}

// formKey makes the log key of a form's one-time token, so that a double
// tap or a resubmission after "back" finds the first submission.
func formKey(token string) string {
	if node.ValidCode(token, 16) {
		return "form:" + token
	}
	return ""
}

func (s *Portal) checkinPost(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r, "checkin", "checkin.title") {
		return
	}
	f := r.PostForm
	size, err := strconv.Atoi(strings.TrimSpace(f.Get("size")))
	if err != nil {
		size = 0
	}
	req := api.CheckInRequest{Household: f.Get("household"), Size: size, Status: f.Get("status"), Need: f.Get("need"),
		Name: f.Get("name"), Contact: f.Get("contact"), Details: f.Get("details")}
	p, personal, v := api.CheckIn(req, s.log.State())
	if v.Err != nil {
		s.refill(w, r, "checkin", "checkin.title", "checkin.html", v)
		return
	}
	s.appendAndShowReceipt(w, r, node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: personal,
		PersonalKey: p.ID, Key: formKey(f.Get("token"))})
}

func (s *Portal) reportPost(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r, "report", "report.title") {
		return
	}
	f := r.PostForm
	req := api.ReportRequest{Category: f.Get("category"), Text: f.Get("text"), Place: f.Get("place"), Urgency: f.Get("urgency")}
	p, v := api.Report(req, s.log.State())
	if v.Err != nil {
		s.refill(w, r, "report", "report.title", "report.html", v)
		return
	}
	s.appendAndShowReceipt(w, r, node.Draft{Type: node.TypeReportCreated, Payload: p, Key: formKey(f.Get("token"))})
}

// appendAndShowReceipt appends a resident's submission and sends them to
// its receipt: the first submission's, when the form's token was seen
// before.
func (s *Portal) appendAndShowReceipt(w http.ResponseWriter, r *http.Request, d node.Draft) {
	e, err := s.log.Append(r.Context(), d)
	if err != nil {
		s.logger.Error("Append failed", "err", err)
		s.portalError(w, r, http.StatusServiceUnavailable, "error.title", "error.text")
		return
	}
	var stored struct {
		Receipt string `json:"receipt"`
	}
	json.Unmarshal(e.Payload, &stored)
	http.Redirect(w, r, "/r/"+stored.Receipt+"?new=1", http.StatusSeeOther)
}

// refill shows a form again with what was typed and the fields at fault.
func (s *Portal) refill(w http.ResponseWriter, r *http.Request, nav, title, tmpl string, v *api.Validator) {
	p := s.newPage(w, r, nav, title)
	values := map[string]string{}
	for k := range r.PostForm {
		values[k] = r.PostForm.Get(k)
	}
	token := r.PostForm.Get("token")
	if !node.ValidCode(token, 16) {
		token = node.NewCode(16)
	}
	p.Form = &form{Token: token, Values: values, Bad: v.Bad}
	w.Header().Set("Cache-Control", "no-store")
	s.renderPortal(w, r, http.StatusBadRequest, tmpl, p)
}

func (s *Portal) receiptPage(w http.ResponseWriter, r *http.Request) {
	code := node.NormalizeCode(r.PathValue("code"))
	p := s.newPage(w, r, "", "receipt.title")
	rec, ok := s.log.State().LookupReceipt(code)
	if !ok || !node.ValidCode(code, node.ReceiptLen) {
		p.Message = "receipt.notfound"
		s.renderPortal(w, r, http.StatusNotFound, "receipt.html", p)
		return
	}
	rv := &receiptView{Code: code, Kind: rec.Kind, Fresh: r.URL.Query().Get("new") == "1"}
	v := s.log.State().View()
	var occurred *time.Time
	switch rec.Kind {
	case "report":
		for _, rep := range v.Reports {
			if rep.ID == rec.ID {
				occurred, rv.Status = rep.OccurredAt, rep.Status
			}
		}
	case "checkin":
		for _, c := range v.CheckIns {
			if c.ID == rec.ID {
				occurred, rv.Household = c.OccurredAt, c.Household
			}
		}
	}
	// occurred_at is only set when the clock was trustworthy at the time.
	if occurred != nil {
		rv.Received = occurred.In(web.Stockholm).Format("15:04")
	}
	if rec.Origin == s.log.Origin() && s.opts.Sync != nil {
		at, acked, err := s.log.AckedAt(r.Context(), link.Peer, rec.Seq)
		switch {
		case err != nil:
			s.logger.Error("Reading the acknowledgement failed", "err", err)
		case acked:
			rv.Delivered = at.In(web.Stockholm).Format("15:04")
		default:
			rv.Pending = true
		}
	}
	p.Receipt = rv
	w.Header().Set("Cache-Control", "no-store")
	s.renderPortal(w, r, http.StatusOK, "receipt.html", p)
}
