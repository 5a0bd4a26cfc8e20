package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RecordPeerAck records a peer's acknowledgement, as SetPeerAcked, and,
// when it moves the pointer, when it did (the log's wall clock): a receipt
// says when its event reached central. It reports whether it moved.
func (l *Log) RecordPeerAck(ctx context.Context, peer string, acked uint64) (bool, error) {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("event log: peer ack: %w", err)
	}
	defer tx.Rollback()
	var cur uint64
	err = tx.QueryRowContext(ctx, `SELECT acked FROM peer_acks WHERE peer = ?`, peer).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("event log: peer ack: %w", err)
	}
	if acked <= cur && err == nil {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO peer_acks (peer, acked) VALUES (?, ?)
		ON CONFLICT (peer) DO UPDATE SET acked = excluded.acked`, peer, int64(acked)); err != nil {
		return false, fmt.Errorf("event log: peer ack: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ack_log (peer, acked, at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, peer, int64(acked), l.clock.Wall().UnixMilli()); err != nil {
		return false, fmt.Errorf("event log: peer ack: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("event log: peer ack: %w", err)
	}
	return true, nil
}

// AckedAt is when peer first acknowledged this log's event seq; ok is
// false while it has not.
func (l *Log) AckedAt(ctx context.Context, peer string, seq uint64) (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	err = l.Reader.db.QueryRowContext(ctx, `SELECT MIN(at) FROM ack_log WHERE peer = ? AND acked >= ?`,
		peer, int64(seq)).Scan(&ms)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("event log: acked at: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return unixMilli(ms.Int64), true, nil
}
