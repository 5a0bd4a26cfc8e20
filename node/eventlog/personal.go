package eventlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/safepoint-se/safepoint/node"
)

// Personal returns the personal data stored for a check-in.
func (l *Log) Personal(ctx context.Context, checkinID string) (node.Personal, bool, error) {
	var p node.Personal
	err := l.Reader.db.QueryRowContext(ctx,
		`SELECT name, contact, details FROM personal WHERE checkin_id = ?`, checkinID).Scan(&p.Name, &p.Contact, &p.Details)
	if errors.Is(err, sql.ErrNoRows) {
		return node.Personal{}, false, nil
	}
	if err != nil {
		return node.Personal{}, false, fmt.Errorf("event log: read personal data: %w", err)
	}
	return p, true, nil
}

// SetStaffContact stores (or, when empty, removes) a roster person's
// contact: staff-only, beside the log.
func (l *Log) SetStaffContact(ctx context.Context, person, contact string) error {
	var err error
	if contact == "" {
		_, err = l.w.ExecContext(ctx, `DELETE FROM staff_contacts WHERE person = ?`, person)
	} else {
		_, err = l.w.ExecContext(ctx, `INSERT INTO staff_contacts (person, contact) VALUES (?, ?)
			ON CONFLICT (person) DO UPDATE SET contact = excluded.contact`, person, contact)
	}
	if err != nil {
		return fmt.Errorf("staff contacts: %w", err)
	}
	return nil
}

// StaffContacts returns every roster person's contact.
func (l *Log) StaffContacts(ctx context.Context) (map[string]string, error) {
	rows, err := l.Reader.db.QueryContext(ctx, `SELECT person, contact FROM staff_contacts`)
	if err != nil {
		return nil, fmt.Errorf("staff contacts: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, c string
		if err := rows.Scan(&p, &c); err != nil {
			return nil, fmt.Errorf("staff contacts: %w", err)
		}
		out[p] = c
	}
	return out, rows.Err()
}
