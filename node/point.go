package node

import (
	"context"
	"reflect"
)

// Log is what ConfigurePoint needs of an event log: its identity, its
// fold, and a way to append.
type Log interface {
	Origin() string
	State() *State
	Append(ctx context.Context, d Draft) (Event, error)
}

// ConfigurePoint makes the log's point identity agree with p: fields set in
// p replace the current ones, empty fields keep them. It appends one
// point.configured event when anything changed, and none otherwise, so a
// restart with the same configuration writes nothing.
func ConfigurePoint(ctx context.Context, l Log, p Point) (Point, bool, error) {
	cur := l.State().View().Point
	next := cur
	next.ID = l.Origin()
	if p.Name != "" {
		next.Name = p.Name
	}
	if p.Municipality != "" {
		next.Municipality = p.Municipality
	}
	if p.Location != nil {
		next.Location = p.Location
	}
	if p.OpeningHours != "" {
		next.OpeningHours = p.OpeningHours
	}
	if len(p.Contacts) > 0 {
		next.Contacts = p.Contacts
	}
	if reflect.DeepEqual(cur, next) {
		return cur, false, nil
	}
	if _, err := l.Append(ctx, Draft{Type: TypePointConfigured, Payload: next}); err != nil {
		return cur, false, err
	}
	return next, true, nil
}
