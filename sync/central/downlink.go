package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/sync/mqttx"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// The downlink: every node has its own stream from central with its own
// gap-free seq (origin "central" on the node). A directive for a
// municipality or for all is written into every target node's stream in
// one transaction, so each node's watermark always advances. The node
// stores its stream with the same ingest as central uses and acknowledges
// the watermark on its downack topic; central sends from that watermark
// on every birth, and again when acknowledgements stall.

// Directive kinds, as the store knows them.
const (
	KindAnnouncement = store.KindAnnouncement
	KindActivation   = store.KindActivation
	KindReportStatus = store.KindReportStatus
	KindContacts     = store.KindContacts
	KindWithdrawal   = store.KindWithdrawal
)

// Errors of Send.
var (
	ErrTarget      = errors.New("central: target must be node:ID, municipality:CODE or all")
	ErrUnknownNode = errors.New("central: no such node")
	ErrNoNodes     = errors.New("central: no node in the target yet")
)

const (
	downBatch    = 100 // directives per down message
	downInFlight = 4   // messages beyond the node's watermark
)

// Draft is a directive to send.
type Draft struct {
	ID     string // the directive's id; made up when empty
	Kind   string
	Target string
	By     string // the staff member's name, for the audit trail
	// Type and Payload are the event written into each target's stream;
	// Send sets the payload's "directive" field to the directive's id.
	Type       string
	Payload    any
	ValidUntil *time.Time // announcements: not sent to nodes first seen after it
}

// Directive, Delivery and Summary are the store's: a directive and where it
// stands at each target node.
type (
	Directive = store.Directive
	Delivery  = store.Delivery
	Summary   = store.Summary
)

// stream is a node's downlink as the sender sees it.
type stream struct {
	municipality string
	head         uint64 // last seq queued
	delivered    uint64 // the node's watermark
	sent         uint64 // last seq sent on this connection
	progress     time.Time
	online       bool
}

// ParseTarget checks a target: node:ID, municipality:CODE or all.
func ParseTarget(t string) (kind, value string, err error) {
	if t == "all" {
		return "all", "", nil
	}
	k, v, ok := strings.Cut(t, ":")
	switch {
	case ok && k == "node" && wire.ValidNode(v):
		return k, v, nil
	case ok && k == "municipality" && node.ValidMunicipality(v):
		return k, v, nil
	}
	return "", "", ErrTarget
}

// loadStreams reads every node's stream position, and folds what each
// node has acknowledged of its stream into that point's picture.
func (r *Receiver) loadStreams(ctx context.Context) error {
	streams, err := r.opts.Store.Streams(ctx)
	if err != nil {
		return err
	}
	for _, x := range streams {
		r.streams[x.Node] = &stream{municipality: x.Municipality, head: x.Head, delivered: x.Delivered, sent: x.Delivered}
		r.nodeLocked(x.Node, x.Municipality)
		r.opts.Picture.Heard(x.Node, picture.Link{Municipality: x.Municipality})
		if err := r.foldDelivered(ctx, x.Node, x.Delivered); err != nil {
			return err
		}
		// What was sent and not yet delivered: the activations.
		pending, err := r.opts.Store.StreamEvents(ctx, wire.Central, x.Node, x.Delivered, x.Head)
		if err != nil {
			return err
		}
		for _, e := range pending {
			r.opts.Picture.Sent(x.Node, e)
		}
	}
	return nil
}

// foldDelivered folds node id's stream, as far as the node has
// acknowledged it, into that point's picture: central's view of a point
// holds the directives the point holds, no more.
func (r *Receiver) foldDelivered(ctx context.Context, id string, acked uint64) error {
	from := r.opts.Picture.Down(id)
	if acked <= from {
		return nil
	}
	events, err := r.opts.Store.StreamEvents(ctx, wire.Central, id, from, acked)
	if err != nil {
		return err
	}
	r.opts.Picture.FoldDown(id, events, acked)
	return nil
}

// Register makes a node known to the downlink (central does so itself when
// it first hears from a node): directives for its municipality or for all
// reach it from then on, and the ones still in force (announcements not
// expired, activations) are queued for it at once.
func (r *Receiver) Register(ctx context.Context, id, municipality string) error {
	if !wire.ValidNode(id) || !node.ValidMunicipality(municipality) {
		return fmt.Errorf("central: register %q in %q: invalid", id, municipality)
	}
	r.mu.Lock()
	s := r.streams[id]
	known := s != nil && s.municipality == municipality
	r.mu.Unlock()
	if known {
		return nil
	}
	head, err := r.opts.Store.Register(ctx, id, municipality, r.opts.Log.Clock().Wall())
	if err != nil {
		return fmt.Errorf("central: register: %w", err)
	}
	r.mu.Lock()
	if s := r.streams[id]; s != nil {
		s.municipality, s.head = municipality, max(s.head, head)
	} else {
		r.streams[id] = &stream{municipality: municipality, head: head}
	}
	link := r.nodeLocked(id, municipality).link()
	r.mu.Unlock()
	r.opts.Picture.Heard(id, link)
	r.kickDown()
	return nil
}

// Send writes a directive into every target node's stream, in one
// transaction, and wakes the sender. Nodes offline get it when they come
// back.
func (r *Receiver) Send(ctx context.Context, d Draft) (Directive, error) {
	tk, tv, err := ParseTarget(d.Target)
	if err != nil {
		return Directive{}, err
	}
	id := d.ID
	if id == "" {
		id = node.NewID()
	}
	payload, err := withDirective(d.Payload, id)
	if err != nil {
		return Directive{}, err
	}
	r.mu.Lock()
	var targets []string
	for nid, s := range r.streams {
		if tk == "all" || tk == "node" && nid == tv || tk == "municipality" && s.municipality == tv {
			targets = append(targets, nid)
		}
	}
	r.mu.Unlock()
	slices.Sort(targets)
	if len(targets) == 0 {
		if tk == "node" {
			return Directive{}, fmt.Errorf("%w: %s", ErrUnknownNode, tv)
		}
		// Written all the same: a node of the municipality that appears
		// later gets an announcement or activation still in force.
	}
	now := r.opts.Log.Clock().Wall()
	hlc := r.opts.Log.Clock().Now()
	heads, err := r.opts.Store.Add(ctx, store.New{ID: id, Kind: d.Kind, Target: d.Target, By: d.By, Type: d.Type,
		Payload: payload, HLC: hlc, Created: now, ValidUntil: d.ValidUntil}, targets)
	if err != nil {
		return Directive{}, fmt.Errorf("central: send: %w", err)
	}
	r.mu.Lock()
	for nid, h := range heads {
		if s := r.streams[nid]; s != nil && h > s.head {
			s.head = h
		}
	}
	r.mu.Unlock()
	for nid, h := range heads {
		r.opts.Picture.Sent(nid, node.Event{Origin: wire.Central, Seq: h, HLC: hlc, Type: d.Type, Payload: payload})
	}
	r.kickDown()
	out, _, err := r.Directive(ctx, id)
	return out, err
}

// withDirective marshals payload with its "directive" field set to id.
func withDirective(payload any, id string) (json.RawMessage, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("central: payload: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("central: a payload is a JSON object")
	}
	m["directive"], _ = json.Marshal(id)
	return json.Marshal(m)
}

// Directive returns a directive and its delivery at each target node.
func (r *Receiver) Directive(ctx context.Context, id string) (Directive, bool, error) {
	return r.opts.Store.Directive(ctx, id)
}

// Directives lists the latest directives, newest first, at most limit.
func (r *Receiver) Directives(ctx context.Context, limit int) ([]Summary, error) {
	return r.opts.Store.Directives(ctx, limit)
}

// kickDown wakes the sender.
func (r *Receiver) kickDown() {
	select {
	case r.downKick <- struct{}{}:
	default:
	}
}

// noteBirthDown starts a node's stream over from the watermark its birth
// carries: the node's own word for what it holds.
func (r *Receiver) noteBirthDown(id string, online bool, down uint64) {
	r.mu.Lock()
	s := r.streams[id]
	if s != nil {
		s.online = online
		if online {
			s.delivered, s.sent, s.progress = min(down, s.head), min(down, s.head), time.Now()
		}
	}
	r.mu.Unlock()
	if s != nil && online {
		r.markDelivered(context.Background(), id, down)
		r.kickDown()
	}
}

// handleDownAck takes a node's downlink watermark.
func (r *Receiver) handleDownAck(municipality, id string, p []byte) {
	a, err := wire.DecodeAck(p)
	if err == nil && a.Origin != id {
		err = fmt.Errorf("downack for %q on %s's topic", a.Origin, id)
	}
	if err != nil {
		r.refuse(id, "downack", err)
		return
	}
	r.mu.Lock()
	s := r.streams[id]
	if s == nil || s.municipality != municipality {
		r.mu.Unlock()
		r.refuse(id, "downack", errors.New("not a known node of that municipality"))
		return
	}
	if a.Acked > s.head {
		r.mu.Unlock()
		r.refuse(id, "downack", fmt.Errorf("acknowledges %d of %d", a.Acked, s.head))
		return
	}
	moved := a.Acked > s.delivered
	if moved {
		s.delivered, s.progress = a.Acked, time.Now()
		s.sent = max(s.sent, a.Acked)
	}
	r.mu.Unlock()
	if moved {
		r.markDelivered(context.Background(), id, a.Acked)
		r.kickDown()
	}
}

// markDelivered stamps every entry of id's stream up to acked delivered.
func (r *Receiver) markDelivered(ctx context.Context, id string, acked uint64) {
	if acked == 0 {
		return
	}
	if err := r.opts.Store.MarkDelivered(ctx, id, acked, r.opts.Log.Clock().Wall()); err != nil {
		r.opts.Logger.Error("Recording a delivery failed", "node", id, "err", err)
	}
	if err := r.foldDelivered(ctx, id, acked); err != nil {
		r.opts.Logger.Error("Folding a delivery into the picture failed", "node", id, "err", err)
	}
}

// markShown records the directive.shown events among a node's events.
func (r *Receiver) markShown(ctx context.Context, events []node.Event) {
	for _, e := range events {
		if e.Type != node.TypeDirectiveShown {
			continue
		}
		var p node.DirectiveShown
		if json.Unmarshal(e.Payload, &p) != nil || p.ID == "" {
			continue
		}
		if err := r.opts.Store.MarkShown(ctx, e.Origin, p.ID, e.HLC.Time()); err != nil {
			r.opts.Logger.Error("Recording a directive shown failed", "node", e.Origin, "err", err)
		}
	}
}

// downLoop sends each online node its stream beyond its watermark, a few
// messages at a time, and again from the watermark when acknowledgements
// stall.
func (r *Receiver) downLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.downKick:
		case <-tick.C:
		}
		r.sendDown(ctx)
	}
}

type downJob struct {
	node, municipality string
	from, to, head     uint64
}

func (r *Receiver) sendDown(ctx context.Context) {
	r.mu.Lock()
	c, online := r.client, r.online
	var jobs []downJob
	for id, s := range r.streams {
		if !s.online || !online {
			continue
		}
		if s.sent > s.delivered && time.Since(s.progress) > r.opts.AckTimeout {
			s.sent = s.delivered // no word from the node: send again from its watermark
		}
		limit := s.delivered + downBatch*downInFlight
		for s.sent < s.head && s.sent < limit {
			to := min(s.head, s.sent+downBatch, limit)
			if s.sent == s.delivered {
				s.progress = time.Now()
			}
			jobs = append(jobs, downJob{id, s.municipality, s.sent, to, s.head})
			s.sent = to
		}
	}
	r.mu.Unlock()
	for _, j := range jobs {
		events, err := r.opts.Store.StreamEvents(ctx, wire.Central, j.node, j.from, j.to)
		if err == nil && len(events) > 0 {
			var msg []byte
			msg, err = wire.EncodeBatch(wire.Batch{Origin: wire.Central, Municipality: j.municipality, Head: j.head, Events: events})
			if err == nil {
				err = mqttx.Wait(ctx, c.Publish(wire.Topic(j.municipality, j.node, wire.KindDown), 1, false, msg))
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				r.opts.Logger.Warn("Sending a node its directives failed", "node", j.node, "err", err)
			}
			r.mu.Lock()
			if s := r.streams[j.node]; s != nil {
				s.sent = s.delivered
			}
			r.mu.Unlock()
			return
		}
	}
}
