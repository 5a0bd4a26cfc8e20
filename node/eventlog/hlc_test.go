package eventlog

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// TestObserveRemote: a peer's timestamp far ahead of a plausible wall clock
// is stored and folded but does not drag the clock into the future, across
// a restart too; a clock that is not plausible (a box at 1970) takes it up.
func TestObserveRemote(t *testing.T) {
	ctx := context.Background()
	wall := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	file := filepath.Join(t.TempDir(), FileName)
	l, err := Open(ctx, file, Options{Origin: "central", Clock: node.NewClock(func() time.Time { return wall })})
	if err != nil {
		t.Fatal(err)
	}
	future := node.MakeHLC(wall.Add(72*time.Hour).UnixMilli(), 0)
	near := node.MakeHLC(wall.Add(time.Minute).UnixMilli(), 0)
	ev := func(seq uint64, h node.HLC) node.Event {
		return node.Event{Origin: "byhuset-a", Seq: seq, HLC: h, Type: node.TypeJournalEntry, Payload: []byte(`{"id":"j` + string(rune('0'+seq)) + `","text":"x"}`)}
	}
	if _, _, err := l.Ingest(ctx, []node.Event{ev(1, near), ev(2, future)}); err != nil {
		t.Fatal(err)
	}
	if !l.Clock().Plausible() || l.Clock().Last() >= future || l.Clock().Last() < near {
		t.Fatalf("clock last %v, plausible %v: want past the near one, short of the future one", l.Clock().Last(), l.Clock().Plausible())
	}
	if len(l.State().View().Journal) != 2 {
		t.Fatal("the future event was not folded")
	}
	l.Close()
	l, err = Open(ctx, file, Options{Clock: node.NewClock(func() time.Time { return wall })})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Clock().Plausible() || l.Clock().Last() >= future {
		t.Fatalf("after a restart: clock last %v, plausible %v", l.Clock().Last(), l.Clock().Plausible())
	}
	l.Close()
	// A box at 1970 learns the time from its peer.
	boot := time.Unix(30, 0)
	l, err = Open(ctx, filepath.Join(t.TempDir(), FileName), Options{Origin: "byhuset-b", Clock: node.NewClock(func() time.Time { return boot })})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.Ingest(ctx, []node.Event{ev(1, near)}); err != nil {
		t.Fatal(err)
	}
	if l.Clock().Last() < near {
		t.Fatalf("a 1970 clock did not take up the peer's time: %v", l.Clock().Last())
	}
}
