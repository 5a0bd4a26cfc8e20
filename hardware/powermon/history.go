package powermon

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

var steps = sqlitedb.MustSteps(migrations, "migrations")

// History is the stored power history: one sample a minute, in the
// node's database beside the event log, written in batches. Samples are
// not events (an SD card must not take a write per reading); only the
// monitor writes them, and only here.
type History struct{ w, r *sql.DB }

// OpenHistory opens the power history in the database at file, creating
// and migrating its table if needed.
func OpenHistory(ctx context.Context, file string) (*History, error) {
	w, r, err := sqlitedb.OpenOwner(ctx, file, "power", steps, 1)
	if err != nil {
		return nil, fmt.Errorf("power history: %w", err)
	}
	return &History{w: w, r: r}, nil
}

// Close closes the history's connections.
func (h *History) Close() error { return errors.Join(h.r.Close(), h.w.Close()) }

// Write stores samples in one transaction and forgets those before cutoff.
func (h *History) Write(ctx context.Context, samples []Sample, cutoff time.Time) error {
	tx, err := h.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("power history: %w", err)
	}
	defer tx.Rollback()
	for _, s := range samples {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO power_samples (at, state, volts, amps, percent, runtime) VALUES (?, ?, ?, ?, ?, ?)`,
			s.At.UnixMilli(), s.State, nullable(s.Volts), nullable(s.Amps), nullable(s.Percent), nullableInt(s.Runtime*60)); err != nil {
			return fmt.Errorf("power history: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM power_samples WHERE at < ?`, cutoff.UnixMilli()); err != nil {
		return fmt.Errorf("power history: %w", err)
	}
	return tx.Commit()
}

// Since reads the samples from t on, oldest first.
func (h *History) Since(ctx context.Context, t time.Time) ([]Sample, error) {
	rows, err := h.r.QueryContext(ctx,
		`SELECT at, state, volts, amps, percent, runtime FROM power_samples WHERE at >= ? ORDER BY at`, t.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("power history: %w", err)
	}
	defer rows.Close()
	var hist []Sample
	for rows.Next() {
		var at int64
		var s Sample
		var v, a, p sql.NullFloat64
		var rt sql.NullInt64
		if err := rows.Scan(&at, &s.State, &v, &a, &p, &rt); err != nil {
			return nil, fmt.Errorf("power history: %w", err)
		}
		s.At = time.UnixMilli(at).UTC()
		s.Volts, s.Amps, s.Percent, s.Runtime = fromNull(v), fromNull(a), fromNull(p), math.NaN()
		if rt.Valid {
			s.Runtime = float64(rt.Int64) / 60
		}
		hist = append(hist, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("power history: %w", err)
	}
	return hist, nil
}
