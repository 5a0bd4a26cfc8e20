// Package store is central's own store: the directives staff make, every
// node central knows, and each node's downlink stream with when each entry
// was queued, delivered and shown. Its tables live in central's database
// beside the event log (which holds the nodes' events), with their own
// migration chain; only this package touches them.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
)

//go:embed migrations/*.sql
var migrations embed.FS

var steps = append(sqlitedb.MustSteps(migrations, "migrations"), sqlitedb.Step{
	Name: "0002_no_node_tables",
	// Central's database made before the stores were split held a node's
	// tables too, always empty at central: personal data and the power
	// history live only at a node.
	Go: func(ctx context.Context, tx *sql.Tx) error {
		return sqlitedb.DropIfEmpty(ctx, tx, "personal", "staff_contacts", "power_samples")
	},
})

// Directive kinds.
const (
	KindAnnouncement = "announcement"
	KindActivation   = "activation"
	KindReportStatus = "report_status"
	KindContacts     = "contacts"
	KindWithdrawal   = "withdrawal"
)

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

// Header is a directive as staff made it: what Directive and Summary both
// begin with.
type Header struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Target  string          `json:"target"`
	Created time.Time       `json:"created"`
	By      string          `json:"by"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// Directive is a directive and where it stands at each target node.
type Directive struct {
	Header
	Nodes []Delivery `json:"nodes"`
}

// Summary is a directive with its delivery counted over its target nodes.
type Summary struct {
	Header
	Nodes     int `json:"nodes"`
	Delivered int `json:"delivered"`
	Shown     int `json:"shown"`
}

// Stream is where a node's downlink stands.
type Stream struct {
	Node, Municipality string
	Head               uint64 // last seq queued
	Delivered          uint64 // last seq the node acknowledged
}

// New is a directive to store: the event written into each target's
// stream (Type, Payload with its "directive" field set) and who made it.
type New struct {
	ID, Kind, Target, By, Type string
	Payload                    json.RawMessage
	HLC                        node.HLC
	Created                    time.Time
	ValidUntil                 *time.Time
}

// Store is central's store.
type Store struct{ w, r *sql.DB }

// Open opens central's store in the database at file, creating and
// migrating its tables if needed.
func Open(ctx context.Context, file string) (*Store, error) {
	w, r, err := sqlitedb.OpenOwner(ctx, file, "central", steps, 2)
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	return &Store{w: w, r: r}, nil
}

// Close closes the store's connections.
func (s *Store) Close() error { return errors.Join(s.r.Close(), s.w.Close()) }

func wrap(err error) error { return fmt.Errorf("central store: %w", err) }

// Events returns every directive as the event its streams carry, in HLC
// order, for central's own fold. Seq is 1: the fold orders by HLC.
func (s *Store) Events(ctx context.Context, origin string) ([]node.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT hlc, type, created_at, payload FROM directives ORDER BY hlc`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []node.Event
	for rows.Next() {
		var hlc, created int64
		e := node.Event{Origin: origin, Seq: 1}
		if err := rows.Scan(&hlc, &e.Type, &created, &e.Payload); err != nil {
			return nil, wrap(err)
		}
		t := unixMilli(created)
		e.HLC, e.OccurredAt = node.HLC(hlc), &t
		out = append(out, e)
	}
	return out, rows.Err()
}

// Streams returns every known node's stream position.
func (s *Store) Streams(ctx context.Context) ([]Stream, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT n.node, n.municipality,
		COALESCE((SELECT MAX(seq) FROM downlink d WHERE d.node = n.node), 0),
		COALESCE((SELECT MAX(seq) FROM downlink d WHERE d.node = n.node AND delivered_at IS NOT NULL), 0)
		FROM down_nodes n`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Stream
	for rows.Next() {
		var x Stream
		if err := rows.Scan(&x.Node, &x.Municipality, &x.Head, &x.Delivered); err != nil {
			return nil, wrap(err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Register records a node of municipality (moving it, if it was known in
// another). A node new to the store gets, queued in its stream at once,
// the directives still in force for its municipality and for all:
// announcements not expired nor withdrawn, activations, contacts. It
// returns the head of the node's stream.
func (s *Store) Register(ctx context.Context, id, municipality string, now time.Time) (uint64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO down_nodes (node, municipality, first_seen) VALUES (?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET municipality = excluded.municipality
		WHERE municipality != excluded.municipality`, id, municipality, now.UnixMilli())
	if err != nil {
		return 0, wrap(err)
	}
	head, err := streamHead(ctx, tx, id)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 1 && head == 0 {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM directives
			WHERE target IN ('all', ?) AND kind IN (?, ?, ?)
			  AND (valid_until IS NULL OR valid_until > ?)
			  AND id NOT IN (SELECT json_extract(payload, '$.id') FROM directives WHERE kind = ?)
			ORDER BY hlc`,
			"municipality:"+municipality, KindAnnouncement, KindActivation, KindContacts, now.UnixMilli(), KindWithdrawal)
		if err != nil {
			return 0, wrap(err)
		}
		var ids []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return 0, wrap(err)
			}
			ids = append(ids, d)
		}
		rows.Close()
		for _, d := range ids {
			head++
			if err := queue(ctx, tx, id, head, d, now); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap(err)
	}
	return head, nil
}

// Add stores a directive and queues it in every target node's stream, in
// one transaction, and returns each target's new head.
func (s *Store) Add(ctx context.Context, d New, targets []string) (map[string]uint64, error) {
	var validUntil sql.NullInt64
	if d.ValidUntil != nil {
		validUntil = sql.NullInt64{Int64: d.ValidUntil.UnixMilli(), Valid: true}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO directives (id, kind, target, created_at, hlc, by, type, payload, valid_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.Kind, d.Target, d.Created.UnixMilli(), int64(d.HLC), d.By, d.Type,
		[]byte(d.Payload), validUntil); err != nil {
		return nil, wrap(err)
	}
	heads := map[string]uint64{}
	for _, id := range targets {
		head, err := streamHead(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		head++
		if err := queue(ctx, tx, id, head, d.ID, d.Created); err != nil {
			return nil, err
		}
		heads[id] = head
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(err)
	}
	return heads, nil
}

func streamHead(ctx context.Context, tx *sql.Tx, id string) (uint64, error) {
	var head uint64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM downlink WHERE node = ?`, id).Scan(&head); err != nil {
		return 0, wrap(err)
	}
	return head, nil
}

func queue(ctx context.Context, tx *sql.Tx, id string, seq uint64, directive string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO downlink (node, seq, directive, queued_at) VALUES (?, ?, ?, ?)`,
		id, int64(seq), directive, now.UnixMilli()); err != nil {
		return wrap(err)
	}
	return nil
}

// Directive returns a directive and its delivery at each target node.
func (s *Store) Directive(ctx context.Context, id string) (Directive, bool, error) {
	var d Directive
	var created int64
	var payload []byte
	err := s.r.QueryRowContext(ctx, `SELECT id, kind, target, created_at, by, type, payload FROM directives WHERE id = ?`, id).
		Scan(&d.ID, &d.Kind, &d.Target, &created, &d.By, &d.Type, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Directive{}, false, nil
	}
	if err != nil {
		return Directive{}, false, wrap(err)
	}
	d.Created, d.Payload = unixMilli(created), payload
	rows, err := s.r.QueryContext(ctx, `SELECT d.node, COALESCE(n.municipality, ''), d.seq, d.queued_at, d.delivered_at, d.shown_at
		FROM downlink d LEFT JOIN down_nodes n ON n.node = d.node WHERE d.directive = ? ORDER BY d.node`, id)
	if err != nil {
		return Directive{}, false, wrap(err)
	}
	defer rows.Close()
	d.Nodes = []Delivery{}
	for rows.Next() {
		var x Delivery
		var queued int64
		var delivered, shown sql.NullInt64
		if err := rows.Scan(&x.Node, &x.Municipality, &x.Seq, &queued, &delivered, &shown); err != nil {
			return Directive{}, false, wrap(err)
		}
		x.Queued, x.State = unixMilli(queued), "queued"
		if delivered.Valid {
			t := unixMilli(delivered.Int64)
			x.Delivered, x.State = &t, "delivered"
		}
		if shown.Valid {
			t := unixMilli(shown.Int64)
			x.Shown, x.State = &t, "shown"
		}
		d.Nodes = append(d.Nodes, x)
	}
	return d, true, rows.Err()
}

// Directives lists the latest directives, newest first, at most limit.
func (s *Store) Directives(ctx context.Context, limit int) ([]Summary, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT x.id, x.kind, x.target, x.created_at, x.by, x.type, x.payload,
		COUNT(d.node), COUNT(d.delivered_at), COUNT(d.shown_at)
		FROM directives x LEFT JOIN downlink d ON d.directive = x.id
		GROUP BY x.id ORDER BY x.hlc DESC LIMIT ?`, limit)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var x Summary
		var created int64
		var payload []byte
		if err := rows.Scan(&x.ID, &x.Kind, &x.Target, &created, &x.By, &x.Type, &payload, &x.Nodes, &x.Delivered, &x.Shown); err != nil {
			return nil, wrap(err)
		}
		x.Created, x.Payload = unixMilli(created), payload
		out = append(out, x)
	}
	return out, rows.Err()
}

// MarkDelivered stamps every entry of node id's stream up to acked
// delivered, at now.
func (s *Store) MarkDelivered(ctx context.Context, id string, acked uint64, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE downlink SET delivered_at = ?
		WHERE node = ? AND seq <= ? AND delivered_at IS NULL`, now.UnixMilli(), id, int64(acked)); err != nil {
		return wrap(err)
	}
	return nil
}

// MarkShown records that node id showed directive at at.
func (s *Store) MarkShown(ctx context.Context, id, directive string, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE downlink SET shown_at = ?
		WHERE node = ? AND directive = ? AND shown_at IS NULL`, at.UnixMilli(), id, directive); err != nil {
		return wrap(err)
	}
	return nil
}

// StreamEvents builds the events of node id's stream with seq in (from,
// to], as origin.
func (s *Store) StreamEvents(ctx context.Context, origin, id string, from, to uint64) ([]node.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.seq, x.hlc, x.type, x.created_at, x.payload
		FROM downlink d JOIN directives x ON x.id = d.directive
		WHERE d.node = ? AND d.seq > ? AND d.seq <= ? ORDER BY d.seq`, id, int64(from), int64(to))
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []node.Event
	for rows.Next() {
		var e node.Event
		var hlc, created int64
		var payload []byte
		if err := rows.Scan(&e.Seq, &hlc, &e.Type, &created, &payload); err != nil {
			return nil, wrap(err)
		}
		t := unixMilli(created)
		e.Origin, e.HLC, e.OccurredAt, e.Payload = origin, node.HLC(hlc), &t, payload
		out = append(out, e)
	}
	return out, rows.Err()
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
