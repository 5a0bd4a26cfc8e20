package picture_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// base is the tests' wall time: events are stamped from it.
var base = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

// events makes origin's events seq from, from+1, … each a minute apart
// from base+at.
type maker struct {
	origin string
	seq    uint64
	at     time.Time
}

func (m *maker) ev(typ string, payload any) node.Event {
	m.seq++
	m.at = m.at.Add(time.Minute)
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	t := m.at
	return node.Event{Origin: m.origin, Seq: m.seq, HLC: node.MakeHLC(t.UnixMilli(), 0), Type: typ, OccurredAt: &t, Payload: raw}
}

func ptr[T any](v T) *T { return &v }

// story is a point's storm: configured, activated (by a directive in its
// stream), on battery and low, people checked in, needs, stock, staff.
func story(id, municipality string, lat float64) (own []node.Event, down []node.Event) {
	m := &maker{origin: id, at: base}
	own = []node.Event{
		m.ev(node.TypePointConfigured, node.Point{ID: id, Name: "Byhuset " + id, Municipality: municipality, Location: &node.Location{Lat: lat, Lon: 15.5}}),
		m.ev(node.TypeServiceChanged, node.ServiceChanged{Service: "warmth", Status: node.ServiceOpen}),
		m.ev(node.TypeCheckInCreated, node.CheckInCreated{ID: "c1", Receipt: "R1", Household: "H1", Size: 3, Status: node.CheckInSafe, Need: "none"}),
		m.ev(node.TypeCheckInCreated, node.CheckInCreated{ID: "c2", Receipt: "R2", Household: "H2", Size: 2, Status: node.CheckInNeedsHelp, Need: "heat"}),
		m.ev(node.TypeReportCreated, node.ReportCreated{ID: "r1", Receipt: "Q1", Category: "medical", Text: "Insulin behöver kylas", Urgency: "life-threatening"}),
		m.ev(node.TypeReportCreated, node.ReportCreated{ID: "r2", Receipt: "Q2", Category: "water", Text: "Vatten till byn", Urgency: "normal"}),
		m.ev(node.TypeReportCreated, node.ReportCreated{ID: "r3", Receipt: "Q3", Category: "road", Text: "Träd över vägen", Urgency: "high"}),
		m.ev(node.TypeReportStatusChanged, node.ReportStatusChanged{ID: "r3", Status: node.ReportResolved}),
		m.ev(node.TypeInventoryChanged, node.InventoryChanged{Item: "water", Quantity: 5, Unit: "l", Low: 20}),
		m.ev(node.TypeInventoryChanged, node.InventoryChanged{Item: "blankets", Quantity: 40, Unit: "st", Low: 10}),
		m.ev(node.TypeRosterChanged, node.RosterChanged{Person: "Eva", Role: "stabschef", OnDuty: true}),
		m.ev(node.TypeRosterChanged, node.RosterChanged{Person: "Ali", Role: "logistik", OnDuty: false}),
		m.ev(node.TypePowerChanged, node.PowerChanged{State: "OB", Previous: "OL", Percent: ptr(62.0), Runtime: ptr(180.0), Source: "sim"}),
		m.ev(node.TypePowerChanged, node.PowerChanged{State: "OB", Previous: "OB", Percent: ptr(31.0), Runtime: ptr(95.0), Source: "sim",
			Since: ptr(base.Add(13 * time.Minute))}),
	}
	d := &maker{origin: "central", at: base}
	down = []node.Event{d.ev(node.TypePointActivation, node.PointActivation{State: node.ActivationActivated, Directive: "d1"})}
	return own, down
}

func openCentral(t *testing.T, dir string, now func() time.Time) (*eventlog.Log, *picture.Picture) {
	t.Helper()
	pic := picture.New(picture.Options{Self: "central", Now: now, Logger: synctest.Logger(t, "picture")})
	l, err := eventlog.Open(context.Background(), filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "central", Folder: pic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pic.Close(); l.Close() })
	return l, pic
}

func ingest(t *testing.T, l *eventlog.Log, events []node.Event) {
	t.Helper()
	if _, _, err := l.Ingest(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// TestSummary: the story reads as the page must show it, each figure
// with the time the point knew it.
func TestSummary(t *testing.T) {
	now := base.Add(20 * time.Minute)
	l, pic := openCentral(t, t.TempDir(), func() time.Time { return now })
	own, down := story("a-1", "2309", 62.1)
	ingest(t, l, own)
	pic.FoldDown("a-1", down, 1)
	p, ok := pic.Point("a-1", nil)
	if !ok {
		t.Fatal("a-1 missing")
	}
	at := func(min int) *time.Time { return ptr(base.Add(time.Duration(min) * time.Minute)) }
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", p.Name, "Byhuset a-1"},
		{"municipality", p.Municipality, "2309"},
		{"location", *p.Location, node.Location{Lat: 62.1, Lon: 15.5}},
		{"activation", p.Activation.State, node.ActivationActivated},
		{"power state", p.Power.State, "OB"},
		{"on battery", p.Power.OnBattery, true},
		{"battery", *p.Power.BatteryPercent, 31.0},
		{"runtime", *p.Power.RuntimeMinutes, 95.0},
		{"power since", *p.Power.Since, *at(13)},
		{"power at", *p.Power.At, *at(14)},
		{"people", [3]int{p.People.Households, p.People.People, p.People.NeedsHelp}, [3]int{2, 5, 1}},
		{"people at", *p.People.At, *at(4)},
		{"needs open", p.Needs.Open, 2},
		{"urgent", p.Needs.Urgent, 1},
		{"by urgency", p.Needs.ByUrgency, map[string]int{"life-threatening": 1, "normal": 1}},
		{"needs at", *p.Needs.At, *at(8)},
		{"stock low", len(p.StockLow), 1},
		{"stock item", p.StockLow[0].Item, "water"},
		{"on duty", p.Staff.OnDuty, 1},
		{"roles", p.Staff.Roles, []string{"stabschef"}},
		{"last event", *p.LastEvent, *at(14)},
		{"status", p.Status, picture.StatusCritical}, // on battery, 95 min left
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if list := string(pic.PointsJSON(nil)); list != "["+string(b)+"]" {
		t.Errorf("PointsJSON %s\nwant [%s]", list, b)
	}
	// Counts only: no household, no receipt, no check-in id reaches a
	// summary or a need.
	all, _ := json.Marshal(struct {
		P any
		N any
	}{pic.Points(nil), pic.Needs(picture.NeedQuery{All: true})})
	for _, s := range []string{"H1", "H2", "R1", "Q1", "c1"} {
		if strings.Contains(string(all), `"`+s+`"`) {
			t.Errorf("%q in the picture's JSON", s)
		}
	}
}

func TestNeedsOrderAndFilter(t *testing.T) {
	now := base.Add(2 * time.Hour)
	l, pic := openCentral(t, t.TempDir(), func() time.Time { return now })
	a, _ := story("a-1", "2309", 62.1)
	b, _ := story("b-1", "2321", 63.0)
	ingest(t, l, a)
	ingest(t, l, b)
	var got []string
	for _, n := range pic.Needs(picture.NeedQuery{}) {
		got = append(got, n.Point+"/"+n.ID+"/"+n.Urgency)
	}
	want := []string{"a-1/r1/life-threatening", "b-1/r1/life-threatening", "a-1/r2/normal", "b-1/r2/normal"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("needs %v\nwant  %v", got, want)
	}
	if n := len(pic.Needs(picture.NeedQuery{All: true})); n != 6 {
		t.Errorf("all needs: %d, want 6 (the resolved too)", n)
	}
	if n := pic.Needs(picture.NeedQuery{Municipality: "2321"}); len(n) != 2 || n[0].Point != "b-1" {
		t.Errorf("municipality 2321: %+v", n)
	}
	if n := pic.Needs(picture.NeedQuery{Point: "a-1", All: true}); len(n) != 3 {
		t.Errorf("point a-1: %d needs", len(n))
	}
	scoped := picture.Scope(func(m string) bool { return m == "2309" })
	if n := pic.Needs(picture.NeedQuery{Scope: scoped}); len(n) != 2 || n[1].Point != "a-1" {
		t.Errorf("scoped: %+v", n)
	}
	if ps := pic.Points(scoped); len(ps) != 1 || ps[0].ID != "a-1" {
		t.Errorf("scoped points: %+v", ps)
	}
	if _, ok := pic.Point("b-1", scoped); ok {
		t.Error("b-1 seen outside the scope")
	}
}

// TestAlerts: each kind is raised when its condition holds, is cleared
// when it does not, and an acknowledgement (central's own event) sticks
// to the alert it names.
func TestAlerts(t *testing.T) {
	var now time.Time
	l, pic := openCentral(t, t.TempDir(), func() time.Time { return now })
	own, down := story("a-1", "2309", 62.1)
	ingest(t, l, own)
	kinds := func() []string {
		var out []string
		for _, a := range pic.Alerts(nil) {
			out = append(out, fmt.Sprintf("%s acked=%v", a.ID, a.Acknowledged != nil))
		}
		return out
	}
	now = base.Add(20 * time.Minute)
	// Not activated yet: never silent. On battery under 2 h: power.
	since := base.Add(13 * time.Minute).UnixMilli()
	if got, want := kinds(), []string{fmt.Sprintf("power:a-1:%d acked=false", since)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("at 20 min: %v, want %v", got, want)
	}
	pic.FoldDown("a-1", down, 1)
	now = base.Add(60 * time.Minute) // 46 min after the last event; the urgent need 55 min open
	got := kinds()
	want := []string{
		"need:a-1:r1 acked=false",
		fmt.Sprintf("power:a-1:%d acked=false", since),
		fmt.Sprintf("silent:a-1:%d acked=false", base.Add(14*time.Minute).UnixMilli()),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("at 60 min: %v\nwant %v", got, want)
	}
	if p, _ := pic.Point("a-1", nil); p.Status != picture.StatusSilent {
		t.Errorf("status %s, want silent", p.Status)
	}
	if _, err := l.Append(context.Background(), node.Draft{Type: node.TypeAlertAcknowledged,
		Payload: node.AlertAcknowledged{Alert: "need:a-1:r1", Point: "a-1", By: "kommunen"}}); err != nil {
		t.Fatal(err)
	}
	// Heard again: no longer silent; the acknowledged alert goes last.
	pic.Heard("a-1", picture.Link{Heard: now, Online: true})
	got = kinds()
	want = []string{fmt.Sprintf("power:a-1:%d acked=false", since), "need:a-1:r1 acked=true"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the ack: %v\nwant %v", got, want)
	}
	if a := pic.Alerts(nil)[1].Acknowledged; a.By != "kommunen" || a.Point != "a-1" {
		t.Errorf("ack %+v", a)
	}
}

// TestResume: a picture written out and opened again folds only what came
// after, and ends where a picture folding everything from zero does.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	own, down := story("a-1", "2309", 62.1)
	ctx := context.Background()
	file := filepath.Join(dir, eventlog.FileName)
	first := picture.New(picture.Options{Self: "central"})
	l, err := eventlog.Open(ctx, file, eventlog.Options{Origin: "central", Folder: first})
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, l, own[:8])
	first.FoldDown("a-1", down, 1)
	if err := first.Close(); err != nil { // writes it out
		t.Fatal(err)
	}
	ingest(t, l, own[8:]) // after the snapshot: only in the log
	l.Close()

	counting := &countFolds{Picture: picture.New(picture.Options{Self: "central"})}
	l2, err := eventlog.Open(ctx, file, eventlog.Options{Origin: "central", Folder: counting})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	defer counting.Close()
	if counting.n != len(own)-8 {
		t.Errorf("folded %d events at open, want the %d after the snapshot", counting.n, len(own)-8)
	}
	if counting.Down("a-1") != 1 {
		t.Errorf("downlink folded to %d, want 1", counting.Down("a-1"))
	}
	want := node.NewState()
	want.Fold(own...)
	want.Fold(down...)
	if got, _ := counting.View("a-1"); !reflect.DeepEqual(got, want.View()) {
		t.Fatalf("resumed view differs:\n%+v\n%+v", got, want.View())
	}
}

type countFolds struct {
	*picture.Picture
	n int
}

func (c *countFolds) Fold(events ...node.Event) {
	c.n += len(events)
	c.Picture.Fold(events...)
}

// TestSilentOnceSent: a point the municipality activated that went silent
// before the activation reached it is still silent while activated.
func TestSilentOnceSent(t *testing.T) {
	now := base.Add(2 * time.Hour)
	l, pic := openCentral(t, t.TempDir(), func() time.Time { return now })
	own, down := story("a-1", "2309", 62.1)
	ingest(t, l, own)
	if p, _ := pic.Point("a-1", nil); p.Status == picture.StatusSilent {
		t.Fatal("silent before any activation")
	}
	pic.Sent("a-1", down[0]) // queued, never delivered
	p, _ := pic.Point("a-1", nil)
	if p.Status != picture.StatusSilent || p.Activation != nil || p.Sent == nil || p.Sent.State != node.ActivationActivated {
		t.Fatalf("after an activation sent: status %s, activation %+v, sent %+v", p.Status, p.Activation, p.Sent)
	}
	if a := pic.Alerts(nil); !slices.ContainsFunc(a, func(a picture.Alert) bool { return a.Kind == picture.AlertSilent }) {
		t.Fatalf("alerts %+v, want a silent one", a)
	}
	// Delivered: the point holds it, and Sent is no longer shown apart.
	pic.FoldDown("a-1", down, 1)
	if p, _ := pic.Point("a-1", nil); p.Sent != nil || p.Activation == nil {
		t.Fatalf("after delivery: activation %+v, sent %+v", p.Activation, p.Sent)
	}
}
