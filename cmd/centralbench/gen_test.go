package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
)

var end = time.Date(2026, 12, 10, 18, 0, 0, 0, time.UTC)

// all drains a generator in batches of n.
func all(g *generator, n int) [][]node.Event {
	var out [][]node.Event
	for {
		b := g.batch(nil, n)
		if len(b) == 0 {
			return out
		}
		out = append(out, b)
	}
}

// TestGenerator: the count is exact and every point's stream complete and
// in order; each point starts with its point.configured (a location, one
// of the municipalities); the mix is what the doc says; every payload
// folds; check-ins carry nothing personal; the output is the same every
// time; batches interleave points.
func TestGenerator(t *testing.T) {
	const points, events = 13, 13*1000 + 7
	batches := all(newGenerator(points, events, 50, end), 400)
	if again := all(newGenerator(points, events, 50, end), 400); !reflect.DeepEqual(batches, again) {
		t.Fatal("two generators of the same sizes made different events")
	}
	if len(batches[0]) != 400 || len(batches[len(batches)-1]) > 400 {
		t.Errorf("batch sizes %d … %d, want 400", len(batches[0]), len(batches[len(batches)-1]))
	}
	if origins := map[string]bool{}; true {
		for _, e := range batches[0] {
			origins[e.Origin] = true
		}
		if len(origins) != 8 {
			t.Errorf("the first batch of 400 holds %d points, want 8 chunks of 50", len(origins))
		}
	}

	byPoint := map[string][]node.Event{}
	counts := map[string]int{}
	total := 0
	for _, b := range batches {
		for _, e := range b {
			byPoint[e.Origin] = append(byPoint[e.Origin], e)
			counts[e.Type]++
			total++
			if e.OccurredAt == nil || e.HLC.Time() != *e.OccurredAt || e.OccurredAt.After(end) || e.OccurredAt.Before(end.Add(-crisis-time.Minute)) {
				t.Fatalf("%s/%d: occurred %v, hlc %v: want the same, within the crisis", e.Origin, e.Seq, e.OccurredAt, e.HLC)
			}
			if e.Type == node.TypeCheckInCreated {
				var c node.CheckInCreated
				if err := json.Unmarshal(e.Payload, &c); err != nil || c.Personal || c.ID == "" {
					t.Fatalf("check-in %s: %v, %+v", e.Payload, err, c)
				}
			}
		}
	}
	if total != events || len(byPoint) != points {
		t.Fatalf("%d events of %d points, want %d of %d", total, len(byPoint), events, points)
	}
	codes := map[string]bool{}
	for _, m := range municipalities {
		codes[m.code] = true
	}
	reports, resolved := 0, 0
	for i := range points {
		id := pointID(i)
		evs := byPoint[id]
		if len(evs) != perPoint(points, events, i) {
			t.Errorf("%s: %d events, want %d", id, len(evs), perPoint(points, events, i))
		}
		for j, e := range evs {
			if e.Seq != uint64(j+1) || j > 0 && e.HLC <= evs[j-1].HLC {
				t.Fatalf("%s: event %d has seq %d, hlc %v after %v", id, j, e.Seq, e.HLC, evs[max(j-1, 0)].HLC)
			}
		}
		st := node.NewState()
		st.Fold(evs...)
		v := st.View()
		if evs[0].Type != node.TypePointConfigured || v.Point.ID != id || v.Point.Location == nil || !codes[v.Point.Municipality] ||
			v.Point.Municipality != municipalityOf(i).code {
			t.Errorf("%s: first %s, point %+v", id, evs[0].Type, v.Point)
		}
		if v.Power == nil || len(v.Inventory) == 0 || len(v.Roster) == 0 || len(v.CheckIns) == 0 {
			t.Errorf("%s: power %v, %d items, %d on the roster, %d check-ins", id, v.Power, len(v.Inventory), len(v.Roster), len(v.CheckIns))
		}
		for _, r := range v.Reports {
			reports++
			if r.Status == node.ReportResolved {
				resolved++
			}
		}
	}
	if reports != counts[node.TypeReportCreated] {
		t.Errorf("%d reports folded, %d created", reports, counts[node.TypeReportCreated])
	}
	t.Logf("%d events: %v; %d reports, %d resolved", events, counts, reports, resolved)
	if f := float64(resolved) / float64(reports); f < 0.6 || f > 0.99 {
		t.Errorf("%.2f of the reports resolved, want most", f)
	}
	for _, m := range mix {
		share := 100 * float64(counts[m.typ]) / float64(events)
		want := float64(m.weight)
		if m.typ == node.TypeReportCreated {
			want += 1 // a status change with no report open makes one
		}
		if share < want-2.5 || share > want+2.5 {
			t.Errorf("%s: %.1f %% of the events, want about %v %%", m.typ, share, want)
		}
	}
	if counts[node.TypePointConfigured] != points || len(counts) != len(mix)+1 {
		t.Errorf("types %v", counts)
	}
}

func TestMunicipalities(t *testing.T) {
	seen := map[string]int{}
	for i := range 1000 {
		seen[municipalityOf(i).code]++
	}
	for _, m := range municipalities {
		if !node.ValidMunicipality(m.code) || seen[m.code] != m.weight*10 {
			t.Errorf("%s (%s): %d of 1,000 points, want %d", m.code, m.name, seen[m.code], m.weight*10)
		}
	}
	if pointID(0) != "p-0001" || pointID(999) != "p-1000" {
		t.Errorf("ids %s, %s", pointID(0), pointID(999))
	}
}

// TestSeed: a small seed through central's own log; its snapshots hold
// every point's every event, the downlink knows each point and the broker
// has an account for each.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "central")
	const points, events = 3, 3*200 + 1
	info, err := seed(ctx, dir, points, events, 128)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range info.Counts {
		sum += n
	}
	if sum != events || info.Counts[node.TypePointConfigured] != points {
		t.Errorf("counts %v", info.Counts)
	}
	pic := picture.New(picture.Options{Self: "central"})
	held, err := pic.Resume(ctx, filepath.Join(dir, eventlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer pic.Close()
	for i := range points {
		if held[pointID(i)] != uint64(perPoint(points, events, i)) {
			t.Errorf("%s: snapshot holds 1…%d, want 1…%d", pointID(i), held[pointID(i)], perPoint(points, events, i))
		}
	}
	users, err := broker.LoadUsers(filepath.Join(dir, "broker", "users"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range users.Nodes() {
		names = append(names, n.Name+"/"+n.Municipality)
	}
	slices.Sort(names)
	want := []string{"p-0001/" + municipalityOf(0).code, "p-0002/" + municipalityOf(1).code, "p-0003/" + municipalityOf(2).code}
	if !slices.Equal(names, want) {
		t.Errorf("broker nodes %v, want %v", names, want)
	}
	st, err := store.Open(ctx, filepath.Join(dir, eventlog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	streams, err := st.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names = names[:0]
	for _, s := range streams {
		names = append(names, s.Node+"/"+s.Municipality)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("downlink nodes %v, want %v", names, want)
	}

	copied := filepath.Join(t.TempDir(), "copy")
	if err := copyDir(dir, copied); err != nil {
		t.Fatal(err)
	}
	if emptySnapshots(ctx, filepath.Join(copied, eventlog.FileName)) != nil {
		t.Error("the copy has no snapshots to empty")
	}
	if err := emptySnapshots(ctx, filepath.Join(copied, eventlog.FileName)); err == nil {
		t.Error("emptied the snapshots twice")
	}
}
