package central

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
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

// Directive kinds.
const (
	KindAnnouncement = "announcement"
	KindActivation   = "activation"
	KindReportStatus = "report_status"
	KindContacts     = "contacts"
	KindWithdrawal   = "withdrawal"
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

// Delivery is one target node's copy of a directive.
type Delivery struct {
	Node         string     `json:"node"`
	Municipality string     `json:"municipality"`
	Seq          uint64     `json:"seq"`
	State        string     `json:"state"` // queued, delivered or shown
	Queued       time.Time  `json:"queued"`
	Delivered    *time.Time `json:"delivered"`
	Shown        *time.Time `json:"shown"`
}

// Directive is a directive and where it stands at each target node.
type Directive struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Target  string          `json:"target"`
	Created time.Time       `json:"created"`
	By      string          `json:"by"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Nodes   []Delivery      `json:"nodes"`
}

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

// loadStreams reads every node's stream position, and folds the
// directives into central's state.
func (r *Receiver) loadStreams(ctx context.Context) error {
	db := r.opts.Log.DB()
	drows, err := db.QueryContext(ctx, `SELECT hlc, type, created_at, payload FROM directives ORDER BY hlc`)
	if err != nil {
		return fmt.Errorf("central: downlink: %w", err)
	}
	var folded []node.Event
	for drows.Next() {
		var hlc, created int64
		e := node.Event{Origin: wire.Central, Seq: 1}
		if err := drows.Scan(&hlc, &e.Type, &created, &e.Payload); err != nil {
			drows.Close()
			return err
		}
		t := time.UnixMilli(created).UTC()
		e.HLC, e.OccurredAt = node.HLC(hlc), &t
		folded = append(folded, e)
	}
	drows.Close()
	r.opts.Log.Fold(folded...)
	rows, err := db.QueryContext(ctx, `SELECT n.node, n.municipality,
		COALESCE((SELECT MAX(seq) FROM downlink d WHERE d.node = n.node), 0),
		COALESCE((SELECT MAX(seq) FROM downlink d WHERE d.node = n.node AND delivered_at IS NOT NULL), 0)
		FROM down_nodes n`)
	if err != nil {
		return fmt.Errorf("central: downlink: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, m string
		var head, delivered uint64
		if err := rows.Scan(&id, &m, &head, &delivered); err != nil {
			return err
		}
		r.streams[id] = &stream{municipality: m, head: head, delivered: delivered, sent: delivered}
		r.nodeLocked(id, m)
	}
	return rows.Err()
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
	now := r.opts.Log.Clock().Wall()
	tx, err := r.opts.Log.DB().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("central: register: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO down_nodes (node, municipality, first_seen) VALUES (?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET municipality = excluded.municipality
		WHERE municipality != excluded.municipality`, id, municipality, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("central: register: %w", err)
	}
	var head uint64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM downlink WHERE node = ?`, id).Scan(&head); err != nil {
		return fmt.Errorf("central: register: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 && head == 0 {
		// New: queue what is in force for its municipality and for all.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM directives
			WHERE target IN ('all', ?) AND kind IN (?, ?, ?)
			  AND (valid_until IS NULL OR valid_until > ?)
			  AND id NOT IN (SELECT json_extract(payload, '$.id') FROM directives WHERE kind = ?)
			ORDER BY hlc`,
			"municipality:"+municipality, KindAnnouncement, KindActivation, KindContacts, now.UnixMilli(), KindWithdrawal)
		if err != nil {
			return fmt.Errorf("central: register: %w", err)
		}
		var ids []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, d)
		}
		rows.Close()
		for _, d := range ids {
			head++
			if _, err := tx.ExecContext(ctx, `INSERT INTO downlink (node, seq, directive, queued_at) VALUES (?, ?, ?, ?)`,
				id, int64(head), d, now.UnixMilli()); err != nil {
				return fmt.Errorf("central: register: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("central: register: %w", err)
	}
	r.mu.Lock()
	if s := r.streams[id]; s != nil {
		s.municipality, s.head = municipality, max(s.head, head)
	} else {
		r.streams[id] = &stream{municipality: municipality, head: head}
	}
	r.nodeLocked(id, municipality)
	r.mu.Unlock()
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
	var validUntil sql.NullInt64
	if d.ValidUntil != nil {
		validUntil = sql.NullInt64{Int64: d.ValidUntil.UnixMilli(), Valid: true}
	}
	tx, err := r.opts.Log.DB().BeginTx(ctx, nil)
	if err != nil {
		return Directive{}, fmt.Errorf("central: send: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO directives (id, kind, target, created_at, hlc, by, type, payload, valid_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, d.Kind, d.Target, now.UnixMilli(), int64(hlc), d.By, d.Type,
		[]byte(payload), validUntil); err != nil {
		return Directive{}, fmt.Errorf("central: send: %w", err)
	}
	heads := map[string]uint64{}
	for _, nid := range targets {
		var head uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM downlink WHERE node = ?`, nid).Scan(&head); err != nil {
			return Directive{}, fmt.Errorf("central: send: %w", err)
		}
		head++
		if _, err := tx.ExecContext(ctx, `INSERT INTO downlink (node, seq, directive, queued_at) VALUES (?, ?, ?, ?)`,
			nid, int64(head), id, now.UnixMilli()); err != nil {
			return Directive{}, fmt.Errorf("central: send: %w", err)
		}
		heads[nid] = head
	}
	if err := tx.Commit(); err != nil {
		return Directive{}, fmt.Errorf("central: send: %w", err)
	}
	r.mu.Lock()
	for nid, h := range heads {
		if s := r.streams[nid]; s != nil && h > s.head {
			s.head = h
		}
	}
	r.mu.Unlock()
	// Central's own picture takes the directive as the nodes will, so
	// both sides resolve concurrent edits the same way.
	r.opts.Log.Fold(node.Event{Origin: wire.Central, Seq: 1, HLC: hlc, Type: d.Type, OccurredAt: &now, Payload: payload})
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
	db := r.opts.Log.DB()
	var d Directive
	var created int64
	var payload []byte
	err := db.QueryRowContext(ctx, `SELECT id, kind, target, created_at, by, type, payload FROM directives WHERE id = ?`, id).
		Scan(&d.ID, &d.Kind, &d.Target, &created, &d.By, &d.Type, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Directive{}, false, nil
	}
	if err != nil {
		return Directive{}, false, fmt.Errorf("central: directive: %w", err)
	}
	d.Created, d.Payload = time.UnixMilli(created).UTC(), payload
	rows, err := db.QueryContext(ctx, `SELECT d.node, COALESCE(n.municipality, ''), d.seq, d.queued_at, d.delivered_at, d.shown_at
		FROM downlink d LEFT JOIN down_nodes n ON n.node = d.node WHERE d.directive = ? ORDER BY d.node`, id)
	if err != nil {
		return Directive{}, false, fmt.Errorf("central: directive: %w", err)
	}
	defer rows.Close()
	d.Nodes = []Delivery{}
	for rows.Next() {
		var x Delivery
		var queued int64
		var delivered, shown sql.NullInt64
		if err := rows.Scan(&x.Node, &x.Municipality, &x.Seq, &queued, &delivered, &shown); err != nil {
			return Directive{}, false, err
		}
		x.Queued, x.State = time.UnixMilli(queued).UTC(), "queued"
		if delivered.Valid {
			t := time.UnixMilli(delivered.Int64).UTC()
			x.Delivered, x.State = &t, "delivered"
		}
		if shown.Valid {
			t := time.UnixMilli(shown.Int64).UTC()
			x.Shown, x.State = &t, "shown"
		}
		d.Nodes = append(d.Nodes, x)
	}
	return d, true, rows.Err()
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
	now := r.opts.Log.Clock().Wall().UnixMilli()
	if _, err := r.opts.Log.DB().ExecContext(ctx, `UPDATE downlink SET delivered_at = ?
		WHERE node = ? AND seq <= ? AND delivered_at IS NULL`, now, id, int64(acked)); err != nil {
		r.opts.Logger.Error("Recording a delivery failed", "node", id, "err", err)
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
		at := e.HLC.Time()
		if _, err := r.opts.Log.DB().ExecContext(ctx, `UPDATE downlink SET shown_at = ?
			WHERE node = ? AND directive = ? AND shown_at IS NULL`, at.UnixMilli(), e.Origin, p.ID); err != nil {
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
		events, err := r.streamEvents(ctx, j.node, j.from, j.to)
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

// streamEvents builds the events of id's stream with seq in (from, to].
func (r *Receiver) streamEvents(ctx context.Context, id string, from, to uint64) ([]node.Event, error) {
	rows, err := r.opts.Log.DB().QueryContext(ctx, `SELECT d.seq, x.hlc, x.type, x.created_at, x.payload
		FROM downlink d JOIN directives x ON x.id = d.directive
		WHERE d.node = ? AND d.seq > ? AND d.seq <= ? ORDER BY d.seq`, id, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("central: downlink: %w", err)
	}
	defer rows.Close()
	var out []node.Event
	for rows.Next() {
		var e node.Event
		var hlc, created int64
		var payload []byte
		if err := rows.Scan(&e.Seq, &hlc, &e.Type, &created, &payload); err != nil {
			return nil, err
		}
		t := time.UnixMilli(created).UTC()
		e.Origin, e.HLC, e.OccurredAt, e.Payload = wire.Central, node.HLC(hlc), &t, payload
		out = append(out, e)
	}
	return out, rows.Err()
}

// Summary is a directive with its delivery counted over its target nodes.
type Summary struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Target    string          `json:"target"`
	Created   time.Time       `json:"created"`
	By        string          `json:"by"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	Nodes     int             `json:"nodes"`
	Delivered int             `json:"delivered"`
	Shown     int             `json:"shown"`
}

// Directives lists the latest directives, newest first, at most limit.
func (r *Receiver) Directives(ctx context.Context, limit int) ([]Summary, error) {
	rows, err := r.opts.Log.DB().QueryContext(ctx, `SELECT x.id, x.kind, x.target, x.created_at, x.by, x.type, x.payload,
		COUNT(d.node), COUNT(d.delivered_at), COUNT(d.shown_at)
		FROM directives x LEFT JOIN downlink d ON d.directive = x.id
		GROUP BY x.id ORDER BY x.hlc DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("central: directives: %w", err)
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var s Summary
		var created int64
		var payload []byte
		if err := rows.Scan(&s.ID, &s.Kind, &s.Target, &created, &s.By, &s.Type, &payload, &s.Nodes, &s.Delivered, &s.Shown); err != nil {
			return nil, err
		}
		s.Created, s.Payload = time.UnixMilli(created).UTC(), payload
		out = append(out, s)
	}
	return out, rows.Err()
}
