package eventlog

import (
	"context"
	"fmt"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// DefaultRetentionDays is how long a node keeps residents' personal data
// after its point is deactivated.
const DefaultRetentionDays = 30

// PurgeDue reports whether the retention rule asks for a purge now: the
// point has been deactivated for at least days (by the log's wall clock),
// and no purge has been recorded since the deactivation, or personal data
// was recorded after the last one.
func (l *Log) PurgeDue(ctx context.Context, days int) (bool, time.Time, error) {
	if l.state == nil || !l.personal {
		return false, time.Time{}, nil
	}
	a := l.state.Activation()
	if a == nil || a.State != node.ActivationDeactivate || days < 0 {
		return false, time.Time{}, nil
	}
	since := a.Since.Time()
	now := l.clock.Wall()
	if !l.clock.Plausible() || now.Sub(since) < time.Duration(days)*24*time.Hour {
		return false, since, nil
	}
	last := l.state.LastPurge()
	if last.Before(since) {
		return true, since, nil
	}
	var n int
	if err := l.Reader.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM personal`).Scan(&n); err != nil {
		return false, since, fmt.Errorf("event log: retention: %w", err)
	}
	return n > 0, since, nil
}

// PurgePersonal applies the retention rule: when PurgeDue, it deletes every
// resident's personal data (names, contacts, details kept beside the log)
// and records personal.purged with how many rows went, as the audit trail.
// The events themselves, synced or not, are untouched. It returns the rows
// deleted, and whether it purged.
func (l *Log) PurgePersonal(ctx context.Context, days int) (int, bool, error) {
	due, since, err := l.PurgeDue(ctx, days)
	if err != nil || !due {
		return 0, false, err
	}
	res, err := l.w.ExecContext(ctx, `DELETE FROM personal`)
	if err != nil {
		return 0, false, fmt.Errorf("event log: retention: %w", err)
	}
	n, _ := res.RowsAffected()
	// The WAL still holds the pages as they were before (and as the
	// check-ins wrote them): fold it into the file, which secure_delete
	// has zeroed, and empty it. Best effort: a reader may hold it back,
	// and the next checkpoint does it.
	if _, err := l.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return int(n), false, fmt.Errorf("event log: retention: %w", err)
	}
	// A crash between the delete and the audit event leaves the rule due
	// (no purge recorded since the deactivation): the next run deletes
	// nothing more and records the event.
	if _, err := l.Append(ctx, node.Draft{Type: node.TypePersonalPurged,
		Payload: node.PersonalPurged{Rows: int(n), DeactivatedAt: since, RetentionDays: days}}); err != nil {
		return int(n), false, err
	}
	return int(n), true, nil
}
