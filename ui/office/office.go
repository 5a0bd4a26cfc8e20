package office

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// Downlink is central's side of the directives: Send writes one into every
// target node's stream, Directive tells where it stands at each node.
// *central.Receiver implements it.
type Downlink interface {
	Send(ctx context.Context, d central.Draft) (central.Directive, error)
	Directive(ctx context.Context, id string) (central.Directive, bool, error)
	Directives(ctx context.Context, limit int) ([]central.Summary, error)
}

// Options configure an Office. Zero fields mean defaults.
type Options struct {
	Clock    *node.Clock  // central's clock: required
	Logger   *slog.Logger // slog.Default() when nil
	Downlink Downlink     // required
	// Nodes lists the nodes central hears from: required.
	Nodes func() []central.Node
	// Picture is the situation picture, every point's fold: required.
	Picture *picture.Picture
	// Append writes central's own events (an alert's acknowledgement) to
	// its log, which folds them into the picture: required.
	Append func(ctx context.Context, d node.Draft) (node.Event, error)
	// Throttle is the least time between two "changed" messages to the
	// live pages (500 ms).
	Throttle time.Duration
}

// Office serves the municipality's staff at central: the situation
// picture, the nodes, and the directives to them, as pages with forms and
// as JSON.
type Office struct {
	opts   Options
	logger *slog.Logger
	pages  *web.Pages
	hub    *web.Hub
	cache  answers
}

//go:embed templates
var templateFS embed.FS

// New builds central's pages on site, whose end ends their live updates.
func New(site *web.Site, opts Options) *Office {
	s := &Office{opts: opts, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.opts.Throttle <= 0 {
		s.opts.Throttle = 500 * time.Millisecond
	}
	s.pages = web.ParsePages(s.logger, nil, templateFS, "templates/*.html")
	s.hub = site.NewHub(web.HubOptions{Sections: s.liveSections, Changed: s.pictureChanged,
		Logger: s.logger, Throttle: s.opts.Throttle})
	return s
}

// Routes are central's JSON (docs/API.md, "Central") and its staff pages
// (forms without JavaScript), all for staff.
func (s *Office) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Path: "/api/nodes", Access: web.StaffAPI, Handler: s.nodes},
		{Method: "POST", Path: "/api/announcements", Access: web.StaffAPI, Handler: directive(s, s.centralAnnouncement)},
		{Method: "GET", Path: "/api/announcements/{id}", Access: web.StaffAPI, Handler: s.directiveStatus},
		{Method: "POST", Path: "/api/announcements/{id}/withdraw", Access: web.StaffAPI, Handler: s.withdrawAnnouncement},
		{Method: "POST", Path: "/api/activation", Access: web.StaffAPI, Role: accounts.RoleAdmin, Handler: directive(s, s.centralActivation)},
		{Method: "POST", Path: "/api/contacts", Access: web.StaffAPI, Handler: directive(s, s.centralContacts)},
		{Method: "POST", Path: "/api/reports/{id}/status", Access: web.StaffAPI, Handler: directive(s, s.centralReportStatus)},
		{Method: "POST", Path: "/api/reports/{id}/comments", Access: web.StaffAPI, Handler: directive(s, s.centralReportComment)},
		{Method: "GET", Path: "/api/directives/{id}", Access: web.StaffAPI, Handler: s.directiveStatus},
		{Method: "GET", Path: "/central", Access: web.StaffPage, Handler: s.centralPage},
		{Method: "POST", Path: "/central/announcements", Access: web.StaffPage, Handler: s.centralAnnounceForm},
		{Method: "POST", Path: "/central/activation", Access: web.StaffPage, Role: accounts.RoleAdmin, Handler: s.centralActivationForm},
		{Method: "GET", Path: "/central/directives/{id}", Access: web.StaffPage, Handler: s.centralDirectivePage},
		// The situation picture (lägesbild): JSON, GeoJSON, CSV, and the
		// pages, live over a websocket that only says "changed".
		{Method: "GET", Path: "/api/central/points", Access: web.StaffAPI, Handler: s.pointsAPI},
		{Method: "GET", Path: "/api/central/points/{id}", Access: web.StaffAPI, Handler: s.pointAPI},
		{Method: "GET", Path: "/api/central/points.geojson", Access: web.StaffAPI, Handler: s.pointsGeoJSON},
		{Method: "GET", Path: "/api/central/needs", Access: web.StaffAPI, Handler: s.needsAPI},
		{Method: "GET", Path: "/api/central/needs.csv", Access: web.StaffAPI, Handler: s.needsCSV},
		{Method: "GET", Path: "/api/central/alerts", Access: web.StaffAPI, Handler: s.alertsAPI},
		{Method: "POST", Path: "/api/central/alerts/{id}/ack", Access: web.StaffAPI, Handler: s.ackAPI},
		{Method: "POST", Path: "/central/alerts/{id}/ack", Access: web.StaffPage, Handler: s.ackForm},
		{Method: "GET", Path: "/central/points/{id}", Access: web.StaffPage, Handler: s.pointPage},
		{Method: "GET", Path: "/central/print", Access: web.StaffPage, Handler: s.printPage},
		// The live parts of /central, for its script to swap in.
		{Method: "GET", Path: "/central/live", Access: web.StaffAPI, Handler: s.livePage},
		{Method: "GET", Path: "/central/ws", Access: web.StaffAPI, Handler: s.hub.ServeHTTP},
		// Central has no point of its own: its staff page is /central.
		// The login lands on /board unless told otherwise.
		{Method: "GET", Path: "/board", Access: web.StaffPage, Handler: toCentral},
	}
}

func toCentral(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/central", http.StatusSeeOther)
}

func (s *Office) nodes(w http.ResponseWriter, r *http.Request) {
	web.WriteJSON(w, http.StatusOK, s.visibleNodes(account(r)))
}

// CentralAnnouncement is the body of POST /api/announcements at central.
type CentralAnnouncement struct {
	Target string `json:"target"`
	api.AnnouncementRequest
}

// ActivationRequest is the body of POST /api/activation.
type ActivationRequest struct {
	Target string `json:"target"`
	State  string `json:"state"`
	Note   string `json:"note"`
}

// ContactsRequest is the body of POST /api/contacts.
type ContactsRequest struct {
	Target   string         `json:"target"`
	Contacts []node.Contact `json:"contacts"`
}

// CentralReportStatus is the body of POST /api/reports/{id}/status at central.
type CentralReportStatus struct {
	Node   string `json:"node"`
	Status string `json:"status"`
}

// CentralReportComment is the body of POST /api/reports/{id}/comments at central.
type CentralReportComment struct {
	Node string `json:"node"`
	Text string `json:"text"`
}

// directive serves a POST that turns its JSON body into a directive:
// 201 {"id"} once the directive is in every target's stream, on disk.
func directive[T any](s *Office, build func(r *http.Request, by string, req T) (central.Draft, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !web.ReadJSON(w, r, &req) {
			return
		}
		acc := account(r)
		d, err := build(r, acc.Name, req)
		if err != nil {
			web.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		if !s.reaches(acc, d.Target) {
			web.WriteError(w, http.StatusForbidden, outOfScopeMessage(acc))
			return
		}
		out, err := s.opts.Downlink.Send(r.Context(), d)
		switch {
		case errors.Is(err, central.ErrTarget):
			web.WriteError(w, http.StatusBadRequest, "target: node:ID, municipality:CODE or all")
		case errors.Is(err, central.ErrUnknownNode):
			web.WriteError(w, http.StatusNotFound, "target: central has not heard from that node")
		case err != nil:
			s.logger.Error("Storing a directive failed", "err", err)
			web.WriteError(w, http.StatusServiceUnavailable, "could not store the directive; try again")
		default:
			web.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "nodes": len(out.Nodes)})
		}
	}
}

func (s *Office) centralAnnouncement(_ *http.Request, by string, req CentralAnnouncement) (central.Draft, error) {
	p, err := api.Announcement(req.AnnouncementRequest, by, "kommunen", s.opts.Clock)
	if err != nil {
		return central.Draft{}, err
	}
	return central.Draft{ID: p.ID, Kind: central.KindAnnouncement, Target: req.Target, By: by,
		Type: node.TypeAnnouncementPublished, Payload: p, ValidUntil: p.ValidUntil}, nil
}

func (s *Office) centralActivation(_ *http.Request, by string, req ActivationRequest) (central.Draft, error) {
	var v api.Validator
	p := node.PointActivation{State: req.State, Note: v.Text("note", req.Note, false, 500), By: by}
	if !node.ValidActivation(req.State) {
		v.FailField("state", "state: activated, deactivated or exercise")
	}
	return central.Draft{Kind: central.KindActivation, Target: req.Target, By: by, Type: node.TypePointActivation, Payload: p}, v.Err
}

func (s *Office) centralContacts(_ *http.Request, by string, req ContactsRequest) (central.Draft, error) {
	var v api.Validator
	if len(req.Contacts) > 20 {
		v.Fail("contacts: at most 20")
	}
	p := node.ContactsChanged{Contacts: []node.Contact{}, By: by}
	for _, c := range req.Contacts {
		label, phone := v.Text("contacts.label", c.Label, true, 100), v.Text("contacts.phone", c.Phone, true, 40)
		p.Contacts = append(p.Contacts, node.Contact{Label: label, Phone: phone})
	}
	return central.Draft{Kind: central.KindContacts, Target: req.Target, By: by, Type: node.TypeContactsChanged, Payload: p}, v.Err
}

func (s *Office) centralReportStatus(r *http.Request, by string, req CentralReportStatus) (central.Draft, error) {
	var v api.Validator
	id := v.Text("id", r.PathValue("id"), true, 64)
	p := node.ReportStatusChanged{ID: id, Status: v.OneOf("status", req.Status, "", node.ReportStatuses), By: by}
	return central.Draft{Kind: central.KindReportStatus, Target: "node:" + req.Node, By: by,
		Type: node.TypeReportStatusChanged, Payload: p}, v.Err
}

func (s *Office) centralReportComment(r *http.Request, by string, req CentralReportComment) (central.Draft, error) {
	var v api.Validator
	id := v.Text("id", r.PathValue("id"), true, 64)
	p := node.ReportCommented{ID: id, Text: v.Text("text", req.Text, true, 2000), By: by}
	return central.Draft{Kind: central.KindReportStatus, Target: "node:" + req.Node, By: by,
		Type: node.TypeReportCommented, Payload: p}, v.Err
}

// withdrawAnnouncement serves POST /api/announcements/{id}/withdraw: the
// withdrawal goes to the announcement's own target.
func (s *Office) withdrawAnnouncement(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok, err := s.opts.Downlink.Directive(r.Context(), id)
	switch {
	case err != nil:
		s.logger.Error("Reading a directive failed", "err", err)
		web.WriteError(w, http.StatusServiceUnavailable, "could not read the directive")
		return
	case !ok || d.Kind != central.KindAnnouncement || !s.reaches(account(r), d.Target):
		web.WriteError(w, http.StatusNotFound, "no such announcement")
		return
	}
	by := account(r).Name
	out, err := s.opts.Downlink.Send(r.Context(), central.Draft{Kind: central.KindWithdrawal, Target: d.Target, By: by,
		Type: node.TypeAnnouncementWithdrawn, Payload: node.AnnouncementWithdrawn{ID: id, By: by}})
	if err != nil {
		s.logger.Error("Storing a directive failed", "err", err)
		web.WriteError(w, http.StatusServiceUnavailable, "could not store the withdrawal; try again")
		return
	}
	web.WriteJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "nodes": len(out.Nodes)})
}

// directiveStatus serves GET /api/announcements/{id} and
// /api/directives/{id}; a directive outside the account's scope is not
// found.
func (s *Office) directiveStatus(w http.ResponseWriter, r *http.Request) {
	d, ok, err := s.opts.Downlink.Directive(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		s.logger.Error("Reading a directive failed", "err", err)
		web.WriteError(w, http.StatusServiceUnavailable, "could not read the directive")
	case !ok || !s.reaches(account(r), d.Target):
		web.WriteError(w, http.StatusNotFound, "no such directive")
	default:
		web.WriteJSON(w, http.StatusOK, d)
	}
}
