package sqlitedb_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central/store"
)

// The fixtures in testdata/v0 were written by the version before the
// stores were split (commit ee948fd, one migration chain, user_version 7),
// through its real code paths: a node's data directory and central's,
// after a real sync round over Mosquitto. testdata/v0/generator.go.txt is
// the program that wrote them; manifest.json is what they held then,
// read back from the files with an independent SQLite client.

type manifest struct {
	ClockEnd time.Time `json:"clock_end"`
	Node     side      `json:"node"`
	Central  side      `json:"central"`
}

type side struct {
	Origin   string `json:"origin"`
	Accounts []struct {
		Name, Role, Password string
	} `json:"accounts"`
	Sessions []struct {
		Account, Token string
	} `json:"sessions"`
	EventsByOrigin map[string]struct {
		Count  int    `json:"count"`
		MaxSeq uint64 `json:"max_seq"`
	} `json:"events_by_origin"`
	EventsSHA256 string `json:"events_sha256"`
	Personal     struct {
		CheckinID string `json:"checkin_id"`
		Name      string `json:"name"`
		Contact   string `json:"contact"`
		Details   string `json:"details"`
	} `json:"personal"`
	StaffContacts []struct{ Person, Contact string } `json:"staff_contacts"`
	Idempotency   []struct {
		Key string `json:"key"`
		Seq uint64 `json:"seq"`
	} `json:"idempotency"`
	Watermarks []struct {
		Origin string `json:"origin"`
		Held   uint64 `json:"held"`
	} `json:"watermarks"`
	PeerAcks []struct {
		Peer  string `json:"peer"`
		Acked uint64 `json:"acked"`
	} `json:"peer_acks"`
	AckLog []struct {
		Acked uint64 `json:"acked"`
		At    int64  `json:"at"`
	} `json:"ack_log"`
	PowerSamples struct {
		Count int `json:"count"`
	} `json:"power_samples"`
	Directives []struct {
		ID, Kind, Target, Type string
	} `json:"directives"`
	DeliveryState map[string]map[string]string `json:"delivery_state"`
	DownNodes     []struct {
		Node, Municipality string
	} `json:"down_nodes"`
	State struct {
		Activation string `json:"activation"`
		Counts     node.Counts
	} `json:"state"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile("testdata/v0/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Node.Origin == "" || m.Central.Origin == "" || m.ClockEnd.IsZero() {
		t.Fatal("manifest incomplete")
	}
	return m
}

// copyFixture copies a fixture database into a new data directory: the
// test never writes the fixture itself.
func copyFixture(t *testing.T, which string) string {
	t.Helper()
	src, err := os.Open(filepath.Join("testdata/v0", which, eventlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	file := filepath.Join(t.TempDir(), eventlog.FileName)
	dst, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

// digest is the manifest's events_sha256, computed the same way over the
// events as a reader sees them.
func digest(t *testing.T, l *eventlog.Log) string {
	t.Helper()
	h := sha256.New()
	err := l.Events(context.Background(), func(e node.Event) error {
		occurred := "NULL"
		if e.OccurredAt != nil {
			occurred = fmt.Sprint(e.OccurredAt.UnixMilli())
		}
		fmt.Fprintf(h, "%s\x1f%d\x1f%d\x1f%s\x1f%s\x1f", e.Origin, e.Seq, uint64(e.HLC), e.Type, occurred)
		h.Write(e.Payload)
		h.Write([]byte{0x1e})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func checkEvents(t *testing.T, l *eventlog.Log, want side) {
	t.Helper()
	got := map[string][2]uint64{}
	err := l.Events(context.Background(), func(e node.Event) error {
		c := got[e.Origin]
		got[e.Origin] = [2]uint64{c[0] + 1, max(c[1], e.Seq)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for origin, w := range want.EventsByOrigin {
		if g := got[origin]; g[0] != uint64(w.Count) || g[1] != w.MaxSeq {
			t.Errorf("%s: %d events up to seq %d, want %d up to %d", origin, g[0], g[1], w.Count, w.MaxSeq)
		}
	}
	if len(got) != len(want.EventsByOrigin) {
		t.Errorf("origins %v, want %d of them", got, len(want.EventsByOrigin))
	}
	if d := digest(t, l); d != want.EventsSHA256 {
		t.Errorf("events digest %s, want %s: an event changed", d, want.EventsSHA256)
	}
}

func checkWatermarks(t *testing.T, l *eventlog.Log, want side) {
	t.Helper()
	marks, err := l.Watermarks(context.Background())
	if err != nil || len(marks) != len(want.Watermarks) {
		t.Errorf("watermarks %v, %v; want %d", marks, err, len(want.Watermarks))
	}
	for _, w := range want.Watermarks {
		if marks[w.Origin] != w.Held {
			t.Errorf("watermark of %s: %d, want %d", w.Origin, marks[w.Origin], w.Held)
		}
	}
}

func checkAccounts(t *testing.T, file string, now time.Time, want side) {
	t.Helper()
	ctx := context.Background()
	a, err := accounts.Open(ctx, file, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	list, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want.Accounts) {
		t.Errorf("%d accounts, want %d", len(list), len(want.Accounts))
	}
	// Every account made before scopes sees every municipality.
	for _, w := range want.Accounts {
		acc, err := a.Authenticate(ctx, w.Name, w.Password)
		if err != nil || string(acc.Role) != w.Role || acc.Scoped() {
			t.Errorf("login %s: %+v, %v; want role %s, every municipality", w.Name, acc, err, w.Role)
		}
	}
	if len(want.Sessions) == 0 {
		t.Fatal("the fixture has no session to check")
	}
	for _, w := range want.Sessions {
		s, err := a.Session(ctx, w.Token)
		if err != nil || s.Account.Name != w.Account {
			t.Errorf("session of %s: %+v, %v", w.Account, s, err)
		}
	}
}

// tables lists the tables of the database at file.
func tables(t *testing.T, file string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// checkTables checks that the database at file has every table of want
// and none of without.
func checkTables(t *testing.T, file string, want, without []string) {
	t.Helper()
	got := tables(t, file)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: no table %s (%v)", file, w, got)
		}
	}
	for _, w := range without {
		if slices.Contains(got, w) {
			t.Errorf("%s: table %s should not be there", file, w)
		}
	}
}

// TestUpgradeNode: a node's data directory from the version before opens
// with every event, account, session, personal row, staff contact,
// idempotency key, acknowledgement and power sample intact; central's
// tables, always empty at a node, are gone; and it opens again unchanged.
func TestUpgradeNode(t *testing.T) {
	ctx := context.Background()
	m := readManifest(t)
	want := m.Node
	file := copyFixture(t, "node")
	for round := 1; round <= 2; round++ {
		l, err := eventlog.Open(ctx, file, eventlog.Options{Personal: true})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if l.Origin() != want.Origin {
			t.Errorf("origin %q, want %q", l.Origin(), want.Origin)
		}
		checkEvents(t, l, want)
		v := l.State().View()
		if v.Counts != want.State.Counts {
			t.Errorf("counts %+v, want %+v", v.Counts, want.State.Counts)
		}
		if a := l.State().Activation(); a == nil || a.State != want.State.Activation {
			t.Errorf("activation %+v, want %s", a, want.State.Activation)
		}
		p, ok, err := l.Personal(ctx, want.Personal.CheckinID)
		if err != nil || !ok || p != (node.Personal{Name: want.Personal.Name, Contact: want.Personal.Contact, Details: want.Personal.Details}) {
			t.Errorf("personal data: %+v %v %v", p, ok, err)
		}
		contacts, err := l.StaffContacts(ctx)
		if err != nil || len(contacts) != len(want.StaffContacts) {
			t.Errorf("staff contacts %v, %v", contacts, err)
		}
		for _, c := range want.StaffContacts {
			if contacts[c.Person] != c.Contact {
				t.Errorf("contact of %s: %q", c.Person, contacts[c.Person])
			}
		}
		checkWatermarks(t, l, want)
		for _, a := range want.PeerAcks {
			if got, err := l.PeerAcked(ctx, a.Peer); err != nil || got != a.Acked {
				t.Errorf("peer ack %s: %d, %v; want %d", a.Peer, got, err, a.Acked)
			}
		}
		for _, a := range want.AckLog {
			if at, ok, err := l.AckedAt(ctx, "central", a.Acked); err != nil || !ok || at.UnixMilli() != a.At {
				t.Errorf("acked at %d: %v %v %v; want %d", a.Acked, at, ok, err, a.At)
			}
		}
		// An idempotency key written before still finds its event: a
		// resubmitted form makes nothing new.
		for _, k := range want.Idempotency {
			e, err := l.Append(ctx, node.Draft{Type: node.TypeJournalEntry, Payload: node.JournalEntry{ID: "x", Text: "x"}, Key: k.Key})
			if err != nil || e.Seq != k.Seq {
				t.Errorf("key %s: seq %d, %v; want the earlier %d", k.Key, e.Seq, err, k.Seq)
			}
		}
		if l.Head() != want.EventsByOrigin[want.Origin].MaxSeq {
			t.Errorf("head %d after resubmissions", l.Head())
		}
		checkAccounts(t, file, m.ClockEnd, want)
		h, err := powermon.OpenHistory(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		samples, err := h.Since(ctx, time.Time{})
		if err != nil || len(samples) != want.PowerSamples.Count {
			t.Errorf("%d power samples, %v; want %d", len(samples), err, want.PowerSamples.Count)
		}
		h.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkTables(t, file, []string{"events", "personal", "staff_contacts", "accounts", "sessions", "power_samples", "idempotency", "ack_log"},
		[]string{"down_nodes", "directives", "downlink"})
}

// TestUpgradeCentral: central's data directory from the version before
// opens with every node's events, watermark, directive and its delivery
// state at each node, and every account and session; a node's tables,
// always empty at central, are gone.
func TestUpgradeCentral(t *testing.T) {
	ctx := context.Background()
	m := readManifest(t)
	want := m.Central
	file := copyFixture(t, "central")
	for round := 1; round <= 2; round++ {
		l, err := eventlog.Open(ctx, file, eventlog.Options{Origin: want.Origin})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkEvents(t, l, want)
		checkWatermarks(t, l, want)
		s, err := store.Open(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		sums, err := s.Directives(ctx, 100)
		if err != nil || len(sums) != len(want.Directives) {
			t.Errorf("%d directives, %v; want %d", len(sums), err, len(want.Directives))
		}
		for _, w := range want.Directives {
			d, ok, err := s.Directive(ctx, w.ID)
			if err != nil || !ok || d.Kind != w.Kind || d.Target != w.Target || d.Type != w.Type {
				t.Errorf("directive %s: %+v %v %v", w.ID, d, ok, err)
				continue
			}
			states := map[string]string{}
			for _, n := range d.Nodes {
				states[n.Node] = n.State
			}
			if fmt.Sprint(states) != fmt.Sprint(want.DeliveryState[w.ID]) {
				t.Errorf("directive %s delivery %v, want %v", w.ID, states, want.DeliveryState[w.ID])
			}
		}
		streams, err := s.Streams(ctx)
		if err != nil || len(streams) != len(want.DownNodes) {
			t.Errorf("streams %+v, %v; want %d nodes", streams, err, len(want.DownNodes))
		}
		s.Close()
		checkAccounts(t, file, m.ClockEnd, want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkTables(t, file, []string{"events", "accounts", "sessions", "down_nodes", "directives", "downlink", "watermarks"},
		[]string{"personal", "staff_contacts", "power_samples"})
}

// TestFreshDatabasesHoldOnlyTheirOwners: a new node database has no
// central tables, a new central database no personal data or power
// history.
func TestFreshDatabasesHoldOnlyTheirOwners(t *testing.T) {
	ctx := context.Background()
	nodeFile := filepath.Join(t.TempDir(), eventlog.FileName)
	l, err := eventlog.Open(ctx, nodeFile, eventlog.Options{Origin: "byhuset", Personal: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := accounts.Open(ctx, nodeFile, nil)
	h, _ := powermon.OpenHistory(ctx, nodeFile)
	h.Close()
	a.Close()
	l.Close()
	centralFile := filepath.Join(t.TempDir(), eventlog.FileName)
	c, err := eventlog.Open(ctx, centralFile, eventlog.Options{Origin: "central"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ = accounts.Open(ctx, centralFile, nil)
	s, _ := store.Open(ctx, centralFile)
	s.Close()
	a.Close()
	c.Close()
	checkTables(t, nodeFile, []string{"events", "personal", "staff_contacts", "accounts", "sessions", "power_samples"},
		[]string{"down_nodes", "directives", "downlink"})
	checkTables(t, centralFile, []string{"events", "accounts", "sessions", "down_nodes", "directives", "downlink"},
		[]string{"personal", "staff_contacts", "power_samples"})
}

// TestNewerSchemaRefused: a chain newer than the program is refused, and
// so is a database an older program would call newer.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	_, db := openWriter(t)
	steps := []sqlitedb.Step{{Name: "one", SQL: "CREATE TABLE a (x)"}, {Name: "two", SQL: "CREATE TABLE b (x)"}}
	if err := sqlitedb.Migrate(ctx, db, "demo", steps); err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, "demo", steps[:1]); !errors.Is(err, sqlitedb.ErrNewerSchema) {
		t.Fatalf("older program: %v, want ErrNewerSchema", err)
	}
	if _, err := db.Exec("PRAGMA user_version = 101"); err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, "demo", steps); !errors.Is(err, sqlitedb.ErrNewerSchema) {
		t.Fatalf("a newer layout: %v, want ErrNewerSchema", err)
	}
}

// TestDropIfEmptyKeepsRows: a leftover table with rows is an error, never
// dropped, and the migration that asked for it records nothing.
func TestDropIfEmptyKeepsRows(t *testing.T) {
	ctx := context.Background()
	file, db := openWriter(t)
	if _, err := db.Exec("CREATE TABLE leftover (x); INSERT INTO leftover VALUES (1); CREATE TABLE empty (x)"); err != nil {
		t.Fatal(err)
	}
	drop := func(tables ...string) []sqlitedb.Step {
		return []sqlitedb.Step{{Name: "drop", Go: func(ctx context.Context, tx *sql.Tx) error {
			return sqlitedb.DropIfEmpty(ctx, tx, tables...)
		}}}
	}
	if err := sqlitedb.Migrate(ctx, db, "a", drop("empty", "leftover")); err == nil {
		t.Fatal("a table with rows was dropped")
	}
	got := tables(t, file)
	if !slices.Contains(got, "leftover") || !slices.Contains(got, "empty") {
		t.Fatalf("tables after a failed migration: %v (it must roll back whole)", got)
	}
	if err := sqlitedb.Migrate(ctx, db, "b", drop("empty", "never-was")); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(tables(t, file), "empty") {
		t.Fatal("an empty leftover table was kept")
	}
}

// openWriter opens a writer on a new database file until the test ends.
func openWriter(t *testing.T) (string, *sql.DB) {
	t.Helper()
	file := filepath.Join(t.TempDir(), eventlog.FileName)
	db, err := sqlitedb.OpenWriter(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return file, db
}
