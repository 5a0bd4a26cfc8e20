package eventlog

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/nodetest"
)

func openTest(t *testing.T, file string, opts Options) *Log {
	t.Helper()
	if opts.Origin == "" {
		opts.Origin = "node-a"
	}
	l, err := Open(context.Background(), file, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func allEvents(t *testing.T, r *Reader) []node.Event {
	t.Helper()
	var out []node.Event
	if err := r.Events(context.Background(), func(e node.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func report(text string) node.Draft {
	return node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen),
		Category: "road", Text: text, Urgency: "normal"}}
}

func TestAppendReopen(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "sub", FileName)
	l := openTest(t, file, Options{})
	for i := 0; i < 5; i++ {
		e, err := l.Append(ctx, report("träd"))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Origin != "node-a" {
			t.Fatalf("append %d: got origin %q seq %d", i, e.Origin, e.Seq)
		}
	}
	before := l.State().View()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, report("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	l2 := openTest(t, file, Options{Origin: ""}) // the stored origin is used
	if l2.Origin() != "node-a" {
		t.Fatalf("origin after reopen = %q", l2.Origin())
	}
	if after := l2.State().View(); len(after.Reports) != 5 || after.Last != before.Last {
		t.Fatalf("reopened fold: %d reports, last %v; want 5, %v", len(after.Reports), after.Last, before.Last)
	}
	e, err := l2.Append(ctx, report("mer"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 6 || e.HLC <= before.Last {
		t.Fatalf("after reopen: seq %d hlc %v, want 6 and after %v", e.Seq, e.HLC, before.Last)
	}
}

func TestOriginMismatch(t *testing.T) {
	file := filepath.Join(t.TempDir(), FileName)
	openTest(t, file, Options{Origin: "node-a"}).Close()
	if _, err := Open(context.Background(), file, Options{Origin: "node-b"}); !errors.Is(err, ErrOriginMismatch) {
		t.Fatalf("open with another origin: %v", err)
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName), Options{Origin: ""}); err == nil {
		t.Fatal("a new log without an origin opened")
	}
}

// TestConcurrentAppendsGapFree drives group commit: many appends at once
// must get distinct, gap-free seqs and all be on disk.
func TestConcurrentAppendsGapFree(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	l := openTest(t, file, Options{})
	const workers, each = 16, 25
	var wg sync.WaitGroup
	seqs := make(chan uint64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e, err := l.Append(ctx, report("samtidigt"))
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- e.Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d handed out twice", s)
		}
		seen[s] = true
	}
	events := allEvents(t, &l.Reader)
	if len(events) != workers*each {
		t.Fatalf("%d events on disk, want %d", len(events), workers*each)
	}
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: gap", i, e.Seq)
		}
		if i > 0 && e.HLC <= events[i-1].HLC {
			t.Fatalf("hlc not increasing with seq at %d", e.Seq)
		}
	}
}

// TestClockJumpsKeepOrder: a box boots at 1970, gets its clock set, has it
// set back; seq and HLC order hold throughout, across a restart, and the
// clock is flagged implausible exactly while it is.
func TestClockJumpsKeepOrder(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	wall := nodetest.NewWall(time.Unix(3600, 0))
	l := openTest(t, file, Options{Clock: node.NewClock(wall.Now)})

	steps := []struct {
		name      string
		wall      time.Time
		plausible bool
	}{
		{"boot at 1970", time.Unix(3600, 0), false},
		{"set by NTP", time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC), true},
		{"set back a day", time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), false},
		{"back to 1970", time.Unix(7200, 0), false},
		{"right again", time.Date(2026, 11, 24, 14, 5, 0, 0, time.UTC), true},
	}
	for _, s := range steps {
		wall.Set(s.wall)
		for i := 0; i < 3; i++ {
			e, err := l.Append(ctx, report(s.name))
			if err != nil {
				t.Fatal(err)
			}
			if (e.OccurredAt != nil) != s.plausible {
				t.Errorf("%s: occurred_at %v with plausible clock %v", s.name, e.OccurredAt, s.plausible)
			}
		}
		if got := l.Clock().Plausible(); got != s.plausible {
			t.Errorf("%s: Plausible() = %v, want %v", s.name, got, s.plausible)
		}
	}
	l.Close()

	// Restart on a box that forgot the time again.
	wall.Set(time.Unix(0, 0))
	l2 := openTest(t, file, Options{Clock: node.NewClock(wall.Now)})
	if _, err := l2.Append(ctx, report("after restart")); err != nil {
		t.Fatal(err)
	}
	events := allEvents(t, &l2.Reader)
	if len(events) != len(steps)*3+1 {
		t.Fatalf("%d events", len(events))
	}
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			t.Fatalf("seq gap at %d: %d", i, e.Seq)
		}
		if i > 0 && e.HLC <= events[i-1].HLC {
			t.Fatalf("seq %d: hlc %v not after %v", e.Seq, e.HLC, events[i-1].HLC)
		}
	}
	if l2.Clock().Plausible() {
		t.Error("1970 after restart counted as plausible")
	}
}

func TestPersonalBesideTheLog(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	l := openTest(t, file, Options{Personal: true})
	secret := node.Personal{Name: "Greta Personsson", Contact: "070-000 00 00", Details: "syrgas, elberoende"}
	p := node.CheckInCreated{ID: "c1", Receipt: "ABCDEFGH", Household: "HHHHH2", Size: 2, Status: node.CheckInNeedsHelp, Need: "medical", Personal: true}
	if _, err := l.Append(ctx, node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: secret, PersonalKey: "c1"}); err != nil {
		t.Fatal(err)
	}
	for _, e := range allEvents(t, &l.Reader) {
		for _, s := range []string{secret.Name, secret.Contact, secret.Details} {
			if strings.Contains(string(e.Payload), s) {
				t.Fatalf("personal data %q in event %s", s, e.Payload)
			}
		}
	}
	got, ok, err := l.Personal(ctx, "c1")
	if err != nil || !ok || got != secret {
		t.Fatalf("Personal = %+v, %v, %v", got, ok, err)
	}

	// The event and its personal row are one transaction: when the row
	// cannot be written (a duplicate key here), the event is not either.
	_, err = l.Append(ctx, node.Draft{Type: node.TypeCheckInCreated, Payload: p, Personal: secret, PersonalKey: "c1"})
	if err == nil {
		t.Fatal("duplicate personal key accepted")
	}
	if n := len(allEvents(t, &l.Reader)); n != 1 {
		t.Fatalf("%d events after a failed append, want 1", n)
	}
	e, err := l.Append(ctx, report("next"))
	if err != nil || e.Seq != 2 {
		t.Fatalf("append after a failed one: seq %d, %v; want 2 (no gap)", e.Seq, err)
	}
}

// TestBadDraftDoesNotFailBatch: a failing append sharing a group commit
// with good ones fails alone.
func TestBadDraftDoesNotFailBatch(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{Personal: true})
	if _, err := l.Append(ctx, node.Draft{Type: node.TypeCheckInCreated, Payload: node.CheckInCreated{ID: "dup"}, Personal: node.Personal{Name: "x"}, PersonalKey: "dup"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, ok := 0, 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := report("ok")
			if i%10 == 0 {
				d = node.Draft{Type: node.TypeCheckInCreated, Payload: node.CheckInCreated{ID: "dup"}, Personal: node.Personal{Name: "x"}, PersonalKey: "dup"}
			}
			_, err := l.Append(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
			} else {
				ok++
			}
		}(i)
	}
	wg.Wait()
	if failed != 4 || ok != 36 {
		t.Fatalf("failed %d ok %d, want 4 and 36", failed, ok)
	}
	if n := len(allEvents(t, &l.Reader)); n != 37 {
		t.Fatalf("%d events, want 37", n)
	}
}

func TestAppendRejectsBadDrafts(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{})
	ctx := context.Background()
	for name, d := range map[string]node.Draft{
		"no type":             {Payload: map[string]int{}},
		"not an object":       {Type: "x.y", Payload: []int{1}},
		"unmarshalable":       {Type: "x.y", Payload: map[string]any{"f": func() {}}},
		"personal but no key": {Type: node.TypeCheckInCreated, Payload: map[string]int{}, Personal: node.Personal{Name: "x"}},
	} {
		if _, err := l.Append(ctx, d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(allEvents(t, &l.Reader)); n != 0 {
		t.Fatalf("%d events written by rejected drafts", n)
	}
}

func TestReaderBesideWriter(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	l := openTest(t, file, Options{})
	if _, err := OpenReader(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Fatal("OpenReader of a missing file succeeded")
	}
	r, err := OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if o, err := r.Origin(ctx); err != nil || o != l.Origin() {
		t.Fatalf("Origin: %q, %v; want %q", o, err, l.Origin())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			if _, err := l.Append(ctx, report("medan")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		events := allEvents(t, r)
		for i, e := range events { // every snapshot is a gap-free prefix
			if e.Seq != uint64(i+1) {
				t.Fatalf("snapshot has a gap at %d", i)
			}
		}
		select {
		case <-done:
			if n := len(allEvents(t, r)); n != 50 {
				t.Fatalf("reader sees %d events, want 50", n)
			}
			return
		default:
		}
	}
}

func TestConfigurePoint(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{Origin: "sp-abc"})
	p, changed, err := node.ConfigurePoint(ctx, l, node.Point{Name: "Byhuset", Municipality: "2161"})
	if err != nil || !changed || p.ID != "sp-abc" {
		t.Fatalf("first configure: %+v %v %v", p, changed, err)
	}
	if _, changed, _ := node.ConfigurePoint(ctx, l, node.Point{Name: "Byhuset"}); changed {
		t.Error("the same configuration appended an event")
	}
	p, changed, _ = node.ConfigurePoint(ctx, l, node.Point{Name: "Macken"})
	if !changed || p.Name != "Macken" || p.Municipality != "2161" {
		t.Errorf("rename: %+v %v", p, changed)
	}
	if n := len(allEvents(t, &l.Reader)); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// TestNewOrigin: a first start cut short after the schema but before the
// origin was written must not leave a log that never opens again.
func TestNewOrigin(t *testing.T) {
	file := filepath.Join(t.TempDir(), FileName)
	db, err := sqlitedb.OpenWriter(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(context.Background(), db, "log", logSteps); err != nil {
		t.Fatal(err)
	}
	db.Close()
	made := 0
	newOrigin := func() string { made++; return "sp-new" }
	for i := 0; i < 2; i++ {
		l, err := Open(context.Background(), file, Options{NewOrigin: newOrigin})
		if err != nil {
			t.Fatal(err)
		}
		if l.Origin() != "sp-new" || made != 1 {
			t.Fatalf("open %d: origin %q, NewOrigin called %d times; want one call, then the stored origin", i, l.Origin(), made)
		}
		l.Close()
	}
}

func TestIdempotentAppend(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	l := openTest(t, file, Options{})
	d := report("en gång")
	d.Key = "form-token-1"
	first, err := l.Append(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// A double tap: the same key, concurrently and after, gives the first event.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again := report("en gång till")
			again.Key = "form-token-1"
			e, err := l.Append(ctx, again)
			if err != nil || e.Seq != first.Seq || string(e.Payload) != string(first.Payload) {
				t.Errorf("repeat: seq %d payload %s err %v; want the first event", e.Seq, e.Payload, err)
			}
		}()
	}
	wg.Wait()
	if n := len(allEvents(t, &l.Reader)); n != 1 {
		t.Fatalf("%d events after repeats, want 1", n)
	}
	if n := len(l.State().View().Reports); n != 1 {
		t.Fatalf("%d reports folded, want 1", n)
	}
	// Across a restart, too.
	l.Close()
	l2 := openTest(t, file, Options{})
	again := report("efter omstart")
	again.Key = "form-token-1"
	if e, err := l2.Append(ctx, again); err != nil || e.Seq != first.Seq {
		t.Fatalf("repeat after restart: seq %d, %v", e.Seq, err)
	}
	other := report("annan")
	other.Key = "form-token-2"
	if e, err := l2.Append(ctx, other); err != nil || e.Seq != 2 {
		t.Fatalf("new key: seq %d, %v", e.Seq, err)
	}
	if n, err := l2.PurgeKeys(ctx, -time.Hour); err != nil || n != 2 {
		t.Fatalf("PurgeKeys = %d, %v", n, err)
	}
}

func TestChanged(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{})
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before any append")
	default:
	}
	if _, err := l.Append(context.Background(), report("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire after an append")
	}
	if l.Changed() == ch {
		t.Fatal("Changed did not hand out a new channel")
	}
}

// TestCentralLogKeepsNoPersonalData: a log opened without Personal (central's)
// has no personal tables and refuses personal data, writing nothing; a
// node's log has them.
func TestCentralLogKeepsNoPersonalData(t *testing.T) {
	ctx := context.Background()
	central := openTest(t, filepath.Join(t.TempDir(), FileName), Options{Origin: "central"})
	d := node.Draft{Type: node.TypeCheckInCreated, Payload: node.CheckInCreated{ID: "c1", Personal: true},
		Personal: node.Personal{Name: "Greta"}, PersonalKey: "c1"}
	if _, err := central.Append(ctx, d); !errors.Is(err, ErrNoPersonal) {
		t.Fatalf("personal data at central: %v, want ErrNoPersonal", err)
	}
	if central.Head() != 0 {
		t.Fatalf("head %d after a refused append", central.Head())
	}
	nodeLog := openTest(t, filepath.Join(t.TempDir(), FileName), Options{Origin: "byhuset", Personal: true})
	for _, c := range []struct {
		l    *Log
		want bool
	}{{central, false}, {nodeLog, true}} {
		for _, table := range []string{"personal", "staff_contacts"} {
			var n int
			if err := c.l.Reader.db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = ?`, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if (n == 1) != c.want {
				t.Errorf("%s: table %s there: %v, want %v", c.l.Origin(), table, n == 1, c.want)
			}
		}
	}
}

// TestHealthy: while commits fail the log says why; the first commit that
// succeeds makes it healthy again.
func TestHealthy(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{})
	if err := l.Healthy(); err != nil {
		t.Fatalf("a new log: %v", err)
	}
	// The writer refuses writes, as a full disk or a broken card would.
	if _, err := l.w.Exec("PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, report("x")); err == nil {
		t.Fatal("an append went through a read-only writer")
	}
	if err := l.Healthy(); err == nil || !strings.Contains(err.Error(), "cannot store") {
		t.Fatalf("after a failed commit: %v", err)
	}
	if _, err := l.w.Exec("PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, report("y")); err != nil {
		t.Fatal(err)
	}
	if err := l.Healthy(); err != nil {
		t.Fatalf("after a commit that succeeded: %v", err)
	}
}

// TestProbe: a probe passes while the writer can take SQLite's write
// lock, fails within its deadline while another connection holds that
// lock (a stuck store, as the watchdog must see it), and passes again
// once the lock is let go; it writes nothing.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), FileName)
	l := openTest(t, file, Options{})
	if err := l.Probe(ctx); err != nil {
		t.Fatalf("probe of a free log: %v", err)
	}

	other, err := sqlitedb.Open(file, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	err = l.Probe(pctx)
	cancel()
	if err == nil {
		t.Fatal("probe passed while another connection held the write lock")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("probe took %v to fail, want about its 300 ms deadline", took)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The writer may still be in the failed probe's BEGIN for up to the
	// busy timeout; it answers the next one once it is back.
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := l.Probe(pctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe still failing after the lock was let go: %v", err)
		}
	}
	if l.Head() != 0 || l.Appended() != 0 {
		t.Errorf("probes wrote: head %d, appended %d", l.Head(), l.Appended())
	}
	l.Close()
	if err := l.Probe(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("probe after close: %v, want ErrClosed", err)
	}
}

// TestCounters: Appended counts own events stored, not an idempotent
// retry; Ingested counts other origins' events stored, not duplicates.
func TestCounters(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), FileName), Options{})
	for i := 0; i < 3; i++ {
		if _, err := l.Append(ctx, report("träd")); err != nil {
			t.Fatal(err)
		}
	}
	d := report("samma")
	d.Key = "k1"
	for i := 0; i < 2; i++ {
		if _, err := l.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Appended(); got != 4 {
		t.Errorf("Appended = %d, want 4", got)
	}
	var peer []node.Event
	for seq := uint64(1); seq <= 3; seq++ {
		peer = append(peer, node.Event{Origin: "node-b", Seq: seq, HLC: node.HLC(seq << 16), Type: node.TypeReportCreated,
			Payload: []byte(`{"id":"x","receipt":"R","category":"road","text":"t","urgency":"normal"}`)})
	}
	for range 2 { // the second time, every event is a duplicate
		if _, _, err := l.Ingest(ctx, peer); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Ingested(); got != 3 {
		t.Errorf("Ingested = %d, want 3", got)
	}
	if got := l.Appended(); got != 4 {
		t.Errorf("Appended after ingest = %d, want 4", got)
	}
}
