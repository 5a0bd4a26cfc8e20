package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central"
)

// Downlink is central's side of the directives: Send writes one into every
// target node's stream, Directive tells where it stands at each node.
// *central.Receiver implements it.
type Downlink interface {
	Send(ctx context.Context, d central.Draft) (central.Directive, error)
	Directive(ctx context.Context, id string) (central.Directive, bool, error)
	Directives(ctx context.Context, limit int) ([]central.Summary, error)
}

// CentralAnnouncement is the body of POST /api/announcements at central.
type CentralAnnouncement struct {
	Target string `json:"target"`
	AnnouncementRequest
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
func directive[T any](s *Server, build func(r *http.Request, by string, req T) (central.Draft, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Downlink == nil {
			writeError(w, http.StatusNotFound, "this is a node, not a central")
			return
		}
		var req T
		if !readJSON(w, r, &req) {
			return
		}
		d, err := build(r, sessionFrom(r.Context()).Account.Name, req)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		out, err := s.opts.Downlink.Send(r.Context(), d)
		switch {
		case errors.Is(err, central.ErrTarget):
			writeError(w, http.StatusBadRequest, "target: node:ID, municipality:CODE or all")
		case errors.Is(err, central.ErrUnknownNode):
			writeError(w, http.StatusNotFound, "target: central has not heard from that node")
		case err != nil:
			s.logger.Error("Storing a directive failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not store the directive; try again")
		default:
			writeJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "nodes": len(out.Nodes)})
		}
	}
}

func (s *Server) centralAnnouncement(_ *http.Request, by string, req CentralAnnouncement) (central.Draft, error) {
	p, err := s.announcement(req.AnnouncementRequest, by)
	if err != nil {
		return central.Draft{}, err
	}
	p.Source = "kommunen"
	return central.Draft{ID: p.ID, Kind: central.KindAnnouncement, Target: req.Target, By: by,
		Type: node.TypeAnnouncementPublished, Payload: p, ValidUntil: p.ValidUntil}, nil
}

func (s *Server) centralActivation(_ *http.Request, by string, req ActivationRequest) (central.Draft, error) {
	var v validator
	p := node.PointActivation{State: req.State, Note: v.text("note", req.Note, false, 500), By: by}
	if !node.ValidActivation(req.State) {
		v.failField("state", "state: activated, deactivated or exercise")
	}
	return central.Draft{Kind: central.KindActivation, Target: req.Target, By: by, Type: node.TypePointActivation, Payload: p}, v.err
}

func (s *Server) centralContacts(_ *http.Request, by string, req ContactsRequest) (central.Draft, error) {
	var v validator
	if len(req.Contacts) > 20 {
		v.fail("contacts: at most 20")
	}
	p := node.ContactsChanged{Contacts: []node.Contact{}, By: by}
	for _, c := range req.Contacts {
		label, phone := v.text("contacts.label", c.Label, true, 100), v.text("contacts.phone", c.Phone, true, 40)
		p.Contacts = append(p.Contacts, node.Contact{Label: label, Phone: phone})
	}
	return central.Draft{Kind: central.KindContacts, Target: req.Target, By: by, Type: node.TypeContactsChanged, Payload: p}, v.err
}

func (s *Server) centralReportStatus(r *http.Request, by string, req CentralReportStatus) (central.Draft, error) {
	var v validator
	id := v.text("id", r.PathValue("id"), true, 64)
	p := node.ReportStatusChanged{ID: id, Status: v.oneOf("status", req.Status, "", node.ReportStatuses), By: by}
	return central.Draft{Kind: central.KindReportStatus, Target: "node:" + req.Node, By: by,
		Type: node.TypeReportStatusChanged, Payload: p}, v.err
}

func (s *Server) centralReportComment(r *http.Request, by string, req CentralReportComment) (central.Draft, error) {
	var v validator
	id := v.text("id", r.PathValue("id"), true, 64)
	p := node.ReportCommented{ID: id, Text: v.text("text", req.Text, true, 2000), By: by}
	return central.Draft{Kind: central.KindReportStatus, Target: "node:" + req.Node, By: by,
		Type: node.TypeReportCommented, Payload: p}, v.err
}

// withdrawAnnouncement serves POST /api/announcements/{id}/withdraw: the
// withdrawal goes to the announcement's own target.
func (s *Server) withdrawAnnouncement(w http.ResponseWriter, r *http.Request) {
	if s.opts.Downlink == nil {
		writeError(w, http.StatusNotFound, "this is a node, not a central")
		return
	}
	id := r.PathValue("id")
	d, ok, err := s.opts.Downlink.Directive(r.Context(), id)
	switch {
	case err != nil:
		s.logger.Error("Reading a directive failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not read the directive")
		return
	case !ok || d.Kind != central.KindAnnouncement:
		writeError(w, http.StatusNotFound, "no such announcement")
		return
	}
	by := sessionFrom(r.Context()).Account.Name
	out, err := s.opts.Downlink.Send(r.Context(), central.Draft{Kind: central.KindWithdrawal, Target: d.Target, By: by,
		Type: node.TypeAnnouncementWithdrawn, Payload: node.AnnouncementWithdrawn{ID: id, By: by}})
	if err != nil {
		s.logger.Error("Storing a directive failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not store the withdrawal; try again")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": out.ID, "nodes": len(out.Nodes)})
}

// directiveStatus serves GET /api/announcements/{id} and /api/directives/{id}.
func (s *Server) directiveStatus(w http.ResponseWriter, r *http.Request) {
	if s.opts.Downlink == nil {
		writeError(w, http.StatusNotFound, "this is a node, not a central")
		return
	}
	d, ok, err := s.opts.Downlink.Directive(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		s.logger.Error("Reading a directive failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not read the directive")
	case !ok:
		writeError(w, http.StatusNotFound, "no such directive")
	default:
		writeJSON(w, http.StatusOK, d)
	}
}
