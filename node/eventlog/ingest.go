package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/safepoint-se/safepoint/node"
)

// ErrOwnOrigin refuses events that claim to come from this log's own
// origin: only this log writes those.
var ErrOwnOrigin = errors.New("event log: events of our own origin come only from us")

// Ingest stores events of other origins (at central: the nodes' events) in
// one transaction, ignoring any already held (same origin and seq), folds
// the new ones in and returns, per origin, the watermark: the highest seq
// with every seq up to it held. Duplicates, gaps and any arrival order are
// fine; the watermark only moves over a contiguous run.
func (l *Log) Ingest(ctx context.Context, events []node.Event) (added int, watermarks map[string]uint64, err error) {
	for _, e := range events {
		if e.Origin == l.origin {
			return 0, nil, ErrOwnOrigin
		}
		if e.Origin == "" || e.Seq == 0 || e.Type == "" {
			return 0, nil, fmt.Errorf("event log: ingest: incomplete event %q/%d", e.Origin, e.Seq)
		}
	}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("event log: ingest: %w", err)
	}
	defer tx.Rollback()
	// Each statement is prepared once per transaction, not once per event
	// or origin: parsing the SQL again for every row took about a third of
	// the time a batch took to store. The transaction's end closes them.
	insert, err := tx.PrepareContext(ctx, `INSERT INTO events (origin, seq, hlc, type, occurred_at, payload)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin, seq) DO NOTHING`)
	if err != nil {
		return 0, nil, fmt.Errorf("event log: ingest: %w", err)
	}
	var fresh []node.Event
	for _, e := range events {
		var occurred sql.NullInt64
		if e.OccurredAt != nil {
			occurred = sql.NullInt64{Int64: e.OccurredAt.UnixMilli(), Valid: true}
		}
		res, err := insert.ExecContext(ctx, e.Origin, int64(e.Seq), int64(e.HLC), e.Type, occurred, []byte(e.Payload))
		if err != nil {
			return 0, nil, fmt.Errorf("event log: ingest: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			fresh = append(fresh, e)
		}
	}
	wm, err := prepareWatermarks(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	watermarks = map[string]uint64{}
	for _, e := range events {
		if _, done := watermarks[e.Origin]; done {
			continue
		}
		w, err := wm.advance(ctx, e.Origin)
		if err != nil {
			return 0, nil, err
		}
		watermarks[e.Origin] = w
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("event log: ingest: %w", err)
	}
	l.ingested.Add(uint64(len(fresh)))
	for _, e := range fresh {
		l.clock.ObserveRemote(e.HLC)
	}
	if len(fresh) > 0 {
		l.folder.Fold(fresh...)
	}
	return len(fresh), watermarks, nil
}

// watermarkStmts are the statements that advance watermarks, prepared
// once for a transaction and used for every origin in it; the
// transaction's end closes them.
type watermarkStmts struct {
	held, seqs, store *sql.Stmt
}

func prepareWatermarks(ctx context.Context, tx *sql.Tx) (*watermarkStmts, error) {
	w := &watermarkStmts{}
	var err error
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.held, `SELECT held FROM watermarks WHERE origin = ?`},
		{&w.seqs, `SELECT seq FROM events WHERE origin = ? AND seq > ? ORDER BY seq`},
		{&w.store, `INSERT INTO watermarks (origin, held) VALUES (?, ?)
			ON CONFLICT (origin) DO UPDATE SET held = excluded.held`},
	} {
		if *p.stmt, err = tx.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("event log: watermark: %w", err)
		}
	}
	return w, nil
}

// advance moves an origin's watermark over every contiguous seq now held,
// and stores it.
func (w *watermarkStmts) advance(ctx context.Context, origin string) (uint64, error) {
	var held uint64
	err := w.held.QueryRowContext(ctx, origin).Scan(&held)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("event log: watermark: %w", err)
	}
	rows, err := w.seqs.QueryContext(ctx, origin, int64(held))
	if err != nil {
		return 0, fmt.Errorf("event log: watermark: %w", err)
	}
	start := held
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return 0, fmt.Errorf("event log: watermark: %w", err)
		}
		if seq != held+1 {
			break
		}
		held = seq
	}
	rows.Close()
	if held != start {
		if _, err := w.store.ExecContext(ctx, origin, int64(held)); err != nil {
			return 0, fmt.Errorf("event log: watermark: %w", err)
		}
	}
	return held, nil
}

// Watermarks returns every origin's watermark (at central: what each node
// has been acknowledged).
func (l *Log) Watermarks(ctx context.Context) (map[string]uint64, error) {
	rows, err := l.Reader.db.QueryContext(ctx, `SELECT origin, held FROM watermarks`)
	if err != nil {
		return nil, fmt.Errorf("event log: watermarks: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var o string
		var h uint64
		if err := rows.Scan(&o, &h); err != nil {
			return nil, err
		}
		out[o] = h
	}
	return out, rows.Err()
}

// EventsAfter returns up to limit of this log's own events with seq above
// after, in seq order: the outbox.
func (l *Log) EventsAfter(ctx context.Context, after uint64, limit int) ([]node.Event, error) {
	var out []node.Event
	err := scanEvents(ctx, l.Reader.db, selectEvents+` WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?`,
		func(e node.Event) error { out = append(out, e); return nil }, l.origin, int64(after), limit)
	return out, err
}

// PeerAcked is how far a peer has acknowledged this log's events.
func (l *Log) PeerAcked(ctx context.Context, peer string) (uint64, error) {
	var acked uint64
	err := l.Reader.db.QueryRowContext(ctx, `SELECT acked FROM peer_acks WHERE peer = ?`, peer).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return acked, err
}

// SetPeerAcked records a peer's acknowledgement; it never moves backwards.
func (l *Log) SetPeerAcked(ctx context.Context, peer string, acked uint64) error {
	_, err := l.w.ExecContext(ctx, `INSERT INTO peer_acks (peer, acked) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET acked = MAX(acked, excluded.acked)`, peer, int64(acked))
	if err != nil {
		return fmt.Errorf("event log: peer ack: %w", err)
	}
	return nil
}

// Head is the last seq of this log's own origin.
func (l *Log) Head() uint64 {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.head
}
