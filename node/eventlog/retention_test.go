package eventlog

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// TestRetention: with a fake clock, personal data stays while the point is
// active and for RetentionDays after it is deactivated, then goes, with a
// personal.purged event as the audit trail; the events themselves, and
// central's acknowledgement of them, are untouched; a second run purges
// nothing more; a restart keeps it so.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	var wall atomic.Int64
	wall.Store(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, wall.Load()).UTC() }
	advance := func(d time.Duration) { wall.Add(int64(d)) }
	file := filepath.Join(t.TempDir(), FileName)
	open := func() *Log {
		l, err := Open(ctx, file, Options{Origin: "byhuset", Clock: node.NewClock(now), Personal: true})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	defer func() { l.Close() }()
	secret := node.Personal{Name: "Anna Andersson", Contact: "070-1234567", Details: "rullstol"}
	for i, id := range []string{"c1", "c2", "c3"} {
		p := node.CheckInCreated{ID: id, Receipt: "ABCDEFG" + string(rune('2'+i)), Household: "HHHHH" + string(rune('2'+i)),
			Size: 2, Status: node.CheckInNeedsHelp, Personal: true}
		if _, err := l.Append(ctx, node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: secret, PersonalKey: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.RecordPeerAck(ctx, "central", l.Head()); err != nil {
		t.Fatal(err)
	}
	before := l.Head()
	const days = 14
	purge := func() (int, bool) {
		t.Helper()
		n, ok, err := l.PurgePersonal(ctx, days)
		if err != nil {
			t.Fatal(err)
		}
		return n, ok
	}
	activation := func(state string, seq uint64) {
		t.Helper()
		payload, _ := json.Marshal(node.PointActivation{State: state, Directive: state})
		if _, _, err := l.Ingest(ctx, []node.Event{{Origin: "central", Seq: seq, HLC: l.Clock().Now(),
			Type: node.TypePointActivation, Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	activation(node.ActivationActivated, 1)
	advance(60 * 24 * time.Hour)
	if n, ok := purge(); ok || n != 0 {
		t.Fatalf("purged %d while active", n)
	}
	activation(node.ActivationDeactivate, 2)
	advance(days*24*time.Hour - time.Minute)
	if _, ok := purge(); ok {
		t.Fatal("purged a minute before the retention time")
	}
	if _, ok, _ := l.Personal(ctx, "c1"); !ok {
		t.Fatal("personal data gone before the retention time")
	}
	advance(2 * time.Minute)
	if n, ok := purge(); !ok || n != 3 {
		t.Fatalf("after %d days: purged %d (%v), want 3", days, n, ok)
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		if _, ok, _ := l.Personal(ctx, id); ok {
			t.Errorf("personal data of %s still there", id)
		}
	}
	if n, ok := purge(); ok || n != 0 {
		t.Fatalf("a second run purged again: %d %v", n, ok)
	}
	// The audit trail: one personal.purged, with counts, no names.
	var audits []node.Event
	var checkins int
	l.Events(ctx, func(e node.Event) error {
		switch e.Type {
		case node.TypePersonalPurged:
			audits = append(audits, e)
		case node.TypeCheckInCreated:
			checkins++
		}
		return nil
	})
	if len(audits) != 1 || checkins != 3 {
		t.Fatalf("%d audit events and %d check-ins, want 1 and 3", len(audits), checkins)
	}
	var p node.PersonalPurged
	if err := json.Unmarshal(audits[0].Payload, &p); err != nil || p.Rows != 3 || p.RetentionDays != days {
		t.Fatalf("audit payload %s: %v", audits[0].Payload, err)
	}
	if audits[0].Seq != before+1 {
		t.Fatalf("audit event seq %d, want %d: it goes to central like any event", audits[0].Seq, before+1)
	}
	if acked, _ := l.PeerAcked(ctx, "central"); acked != before {
		t.Fatalf("central's acknowledgement moved: %d, want %d", acked, before)
	}
	if v := l.State().View(); len(v.CheckIns) != 3 {
		t.Fatalf("the fold lost check-ins: %d", len(v.CheckIns))
	}
	// Restarted, the rule stays satisfied; the file holds no name.
	l.Close()
	l = open()
	if n, ok := purge(); ok || n != 0 {
		t.Fatalf("after a restart the rule purged again: %d %v", n, ok)
	}
	l.Close()
	for _, f := range []string{file, file + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(secret.Name)) || bytes.Contains(b, []byte(secret.Contact)) {
			t.Errorf("%s still holds the personal data", filepath.Base(f))
		}
	}
	l = open()
}
