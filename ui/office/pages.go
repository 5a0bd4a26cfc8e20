package office

import (
	"errors"
	"net/http"
	"strings"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The situation picture's pages: the live parts of /central, the
// printout, a point's page, and the acknowledging form. All complete
// without JavaScript; central.js makes /central and a point's page live.

// timelineLen is how many of a point's latest events its page and its
// JSON show.
const timelineLen = 50

// livePage serves GET /central/live: /central's live parts alone, for its
// script to swap in.
func (s *Office) livePage(w http.ResponseWriter, r *http.Request) {
	sess := web.SessionFrom(r.Context())
	s.pages.Render(w, http.StatusOK, "live.html", s.situation(sess.Account, sess.CSRF, s.centralNow()))
}

type printView struct {
	Me  accounts.Account
	Sit situationView
}

// printPage serves GET /central/print: the picture on A4 for the staff
// meeting, with the time it was made; no forms.
func (s *Office) printPage(w http.ResponseWriter, r *http.Request) {
	sess := web.SessionFrom(r.Context())
	sit := s.situation(sess.Account, "", s.centralNow())
	sit.Print, sit.CanAck = true, false
	s.pages.Render(w, http.StatusOK, "print.html", printView{Me: sess.Account, Sit: sit})
}

// pointView is a point's page: its card, its alerts and open needs, and
// its timeline.
type pointView struct {
	Me            accounts.Account
	CSRF          string
	Now           string
	Notice, Error string
	ID, Path      string
	Found         bool
	Row           pointRow
	Sit           situationView // the point's alerts and needs only
	Resolved      int
	Timeline      []entryView
	TimelineError string
}

// pointPage serves GET /central/points/{id}; a point outside the
// account's scope is not found.
func (s *Office) pointPage(w http.ResponseWriter, r *http.Request) {
	sess := web.SessionFrom(r.Context())
	now := s.centralNow()
	id := r.PathValue("id")
	v := pointView{Me: sess.Account, CSRF: sess.CSRF, Now: localTime(now, now), ID: id, Path: pointLink(id)}
	if r.URL.Query().Get("acked") != "" {
		v.Notice = "Larmet är kvitterat. / The alert is acknowledged."
	}
	scope := scopeOf(r)
	pic := s.opts.Picture
	p, ok := pic.Point(id, scope)
	if !ok {
		s.pages.Render(w, http.StatusNotFound, "point.html", v)
		return
	}
	v.Found, v.Row = true, pointRowOf(p, now)
	v.Sit = situationView{CSRF: sess.CSRF, CanAck: sess.Account.Role.AtLeast(accounts.RoleStaff), Back: v.Path, Version: pic.Version()}
	for _, a := range pic.Alerts(scope) {
		if a.Point != id {
			continue
		}
		av := alertViewOf(a, now)
		if !av.Acked {
			v.Sit.OpenAlerts++
		}
		v.Sit.Alerts = append(v.Sit.Alerts, av)
	}
	for _, n := range pic.Needs(picture.NeedQuery{All: true, Point: id, Scope: scope}) {
		if n.Status == node.ReportResolved {
			v.Resolved++
			continue
		}
		v.Sit.Needs = append(v.Sit.Needs, needRowOf(n, now))
	}
	entries, err := pic.Timeline(r.Context(), id, timelineLen)
	if err != nil {
		s.logger.Error("Reading a point's timeline failed", "err", err)
		v.TimelineError = "Tidslinjen kunde inte läsas. / The timeline could not be read."
	}
	for _, e := range entries {
		v.Timeline = append(v.Timeline, entryViewOf(e, now))
	}
	s.pages.Render(w, http.StatusOK, "point.html", v)
}

// Errors of acknowledging an alert.
var (
	errNoAlert   = errors.New("no such alert: it is not current, or not in your municipalities")
	errStoreFail = errors.New("could not store the acknowledgement; try again")
)

// acknowledge writes central's acknowledgement of alert id, current and
// in acc's scope, to central's log (journaled: an alert.acknowledged
// event, folded into the picture before Append returns) and returns the
// alert as it then stands. An alert already acknowledged stays as it was:
// the first acknowledgement stands.
func (s *Office) acknowledge(r *http.Request, acc accounts.Account, id, note string) (picture.Alert, error) {
	var scope picture.Scope
	if acc.Scoped() {
		scope = acc.Sees
	}
	pic := s.opts.Picture
	var alert picture.Alert
	found := false
	for _, a := range pic.Alerts(scope) {
		if a.ID == id {
			alert, found = a, true
			break
		}
	}
	if !found {
		return picture.Alert{}, errNoAlert
	}
	if alert.Acknowledged != nil {
		return alert, nil
	}
	// The key makes a double click one event.
	_, err := s.opts.Append(r.Context(), node.Draft{Type: node.TypeAlertAcknowledged, Key: "alert.acknowledged " + id,
		Payload: node.AlertAcknowledged{Alert: id, Point: alert.Point, Note: note, By: acc.Name}})
	if err != nil {
		s.logger.Error("Storing an acknowledgement failed", "err", err)
		return picture.Alert{}, errStoreFail
	}
	if ack, ok := pic.Acknowledged(id); ok {
		alert.Acknowledged = &ack
	}
	return alert, nil
}

// ackBack is where the acknowledging form returns: the page it was on,
// /central or a point's page, never anywhere else.
func ackBack(back string) string {
	if rest, ok := strings.CutPrefix(back, "/central/points/"); ok && rest != "" && !strings.ContainsAny(rest, "/?#\\") {
		return back
	}
	return "/central"
}

// ackForm serves POST /central/alerts/{id}/ack: 303 back to the page
// (Post/Redirect/Get), or /central again with the reason.
func (s *Office) ackForm(w http.ResponseWriter, r *http.Request) {
	var v api.Validator
	note := v.Text("note", r.PostForm.Get("note"), false, 500)
	back := ackBack(r.PostForm.Get("back"))
	if v.Err != nil {
		s.renderCentral(w, r, http.StatusBadRequest, "", "", "Inte kvitterat: anteckningen är för lång eller ogiltig. / Not acknowledged: "+v.Err.Error(), centralAnnForm{}, centralActForm{})
		return
	}
	_, err := s.acknowledge(r, account(r), r.PathValue("id"), note)
	switch {
	case errors.Is(err, errNoAlert):
		s.renderCentral(w, r, http.StatusNotFound, "", "", "Inte kvitterat: larmet gäller inte längre. / Not acknowledged: the alert is no longer current.", centralAnnForm{}, centralActForm{})
	case err != nil:
		s.renderCentral(w, r, http.StatusServiceUnavailable, "", "", "Kunde inte spara. Försök igen. / Could not store the acknowledgement. Try again.", centralAnnForm{}, centralActForm{})
	default:
		http.Redirect(w, r, back+"?acked=1#"+alertsAnchor(back), http.StatusSeeOther)
	}
}

// alertsAnchor is the alerts' section on the page back is.
func alertsAnchor(back string) string {
	if back == "/central" {
		return "alerts"
	}
	return "point-alerts"
}
