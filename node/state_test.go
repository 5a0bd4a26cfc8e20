package node

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// randomEvents builds a plausible mixed history from several origins whose
// clocks disagree: ids come from small pools so that edits collide, HLCs
// collide across origins, and some payloads are garbage or of unknown type.
func randomEvents(r *rand.Rand, n int) []Event {
	origins := []string{"node-a", "node-b", "central"}
	seqs := map[string]uint64{}
	ids := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, r.IntN(5)) }
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMilli()
	var out []Event
	for i := 0; i < n; i++ {
		origin := pick(origins)
		seqs[origin]++
		var typ string
		var payload any
		switch r.IntN(21) {
		case 16:
			typ, payload = TypeAlertAcknowledged, AlertAcknowledged{Alert: ids("alert-"), Point: "node-a", By: pick([]string{"Eva", "Ali"})}
		case 17:
			typ, payload = TypePointActivation, PointActivation{State: pick([]string{ActivationActivated, ActivationDeactivate, ActivationExercise})}
		case 18:
			typ, payload = TypeContactsChanged, ContactsChanged{Contacts: []Contact{{Label: "Kommunen", Phone: pick([]string{"0771-1", "0771-2"})}}}
		case 19:
			typ, payload = TypeDirectiveShown, DirectiveShown{ID: ids("d")}
		case 20:
			typ, payload = TypePersonalPurged, PersonalPurged{Rows: r.IntN(9), RetentionDays: 30}
		case 13:
			typ, payload = TypeRosterChanged, RosterChanged{Person: pick([]string{"Eva", "Ali", "Sune"}), Role: pick(StaffRoles), OnDuty: r.IntN(2) == 0}
		case 14:
			typ, payload = TypeJournalEntry, JournalEntry{ID: ids("j"), Text: pick([]string{"Stormen tilltar", "Elbolaget ringt"}), Corrects: pick([]string{"", "j0", "j1"})}
		case 15:
			// A check-in typed in later from paper: it happened before it was recorded.
			id := ids("c")
			typ, payload = TypeCheckInCreated, CheckInCreated{ID: id, Receipt: "R" + id, Household: ids("H"), Size: 2, Status: CheckInNeedsHelp, Need: "heat", By: "Eva"}
		case 12:
			typ, payload = TypeInventoryChanged, InventoryChanged{Item: pick([]string{"fuel", "water", "blankets"}), Quantity: float64(r.IntN(100)), Unit: "st", Low: 10}
		case 11:
			typ, payload = TypePowerChanged, PowerChanged{State: pick([]string{"OL", "OB", "OB LB", "GEN"}), Source: "sim"}
		case 0:
			typ, payload = TypePointConfigured, Point{ID: "node-a", Name: pick([]string{"Byhuset", "Macken", "Skolan"}), Municipality: "2161"}
		case 1:
			typ, payload = TypeServiceChanged, ServiceChanged{Service: pick(Services[:4]), Status: pick(ServiceStatuses), Note: pick([]string{"", "bara dagtid"})}
		case 2:
			var until *time.Time
			if r.IntN(2) == 0 {
				u := time.UnixMilli(base + int64(r.IntN(1e6))).UTC()
				until = &u
			}
			typ, payload = TypeAnnouncementPublished, Announcement{ID: ids("a"),
				Title: map[string]string{"sv": pick([]string{"Storm", "Vatten"})}, Severity: pick(Severities), ValidUntil: until, Source: origin}
		case 3:
			typ, payload = TypeAnnouncementWithdrawn, AnnouncementWithdrawn{ID: ids("a")}
		case 4:
			id := ids("c")
			typ, payload = TypeCheckInCreated, CheckInCreated{ID: id, Receipt: "R" + id, Household: ids("H"),
				Size: 1 + r.IntN(6), Status: pick(CheckInStatuses), Need: pick(Needs)}
		case 5:
			id := ids("r")
			typ, payload = TypeReportCreated, ReportCreated{ID: id, Receipt: "Q" + id, Category: pick(Categories),
				Text: pick([]string{"träd", "vatten", "el"}), Urgency: pick(Urgencies)}
		case 6:
			typ, payload = TypeReportStatusChanged, ReportStatusChanged{ID: ids("r"), Status: pick(ReportStatuses)}
		case 7:
			typ, payload = TypeReportAssigned, ReportAssigned{ID: ids("r"), Assignee: pick([]string{"Eva", "Ali", ""})}
		case 8:
			typ, payload = TypeReportCommented, ReportCommented{ID: ids("r"), Text: pick([]string{"på väg", "klart"}), By: "Eva"}
		case 9:
			typ, payload = "future.thing", map[string]int{"x": 1}
		case 10:
			typ, payload = TypeReportStatusChanged, json.RawMessage(`"not an object"`)
		}
		raw, err := json.Marshal(payload)
		if err != nil {
			panic(err)
		}
		var occurred *time.Time
		if r.IntN(3) > 0 {
			o := time.UnixMilli(base + int64(r.IntN(1e6))).UTC()
			occurred = &o
		}
		// Few distinct HLCs, so ties between origins are common.
		h := MakeHLC(base+int64(r.IntN(40)), uint16(r.IntN(3)))
		out = append(out, Event{Origin: origin, Seq: seqs[origin], HLC: h, Type: typ, OccurredAt: occurred, Payload: raw})
	}
	return out
}

func fold(events []Event) View {
	s := NewState()
	for _, e := range events {
		s.Apply(e)
	}
	return s.View()
}

// TestFoldOrderIndependent is the property the whole sync design rests on:
// the same set of events, in any arrival order and with any duplicates,
// folds to the same state.
func TestFoldOrderIndependent(t *testing.T) {
	const histories, interleavings = 50, 25 // 1,250 folds
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	total := 0
	for h := 0; h < histories; h++ {
		events := randomEvents(r, 20+r.IntN(80))
		sorted := slices.Clone(events)
		slices.SortFunc(sorted, func(a, b Event) int { return cmpStamp(a.stamp(), b.stamp()) })
		want := fold(sorted)
		for i := 0; i < interleavings; i++ {
			mixed := slices.Clone(events)
			for d := r.IntN(len(events)); d > 0; d-- { // duplicates, as redelivery makes them
				mixed = append(mixed, events[r.IntN(len(events))])
			}
			r.Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
			if got := fold(mixed); !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(want, "", " ")
				t.Fatalf("history %d interleaving %d (seed %d): fold differs\ngot  %s\nwant %s", h, i, seed, g, w)
			}
			total++
		}
	}
	if total < 1000 {
		t.Fatalf("only %d interleavings", total)
	}
}

func ev(origin string, seq uint64, wall int64, typ string, payload any) Event {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return Event{Origin: origin, Seq: seq, HLC: MakeHLC(wall, 0), Type: typ, Payload: raw}
}

func TestFoldRules(t *testing.T) {
	created := ev("n", 1, 100, TypeReportCreated, ReportCreated{ID: "r1", Receipt: "AAAA2222", Category: "road", Text: "träd", Urgency: "high"})
	ack := ev("n", 2, 200, TypeReportStatusChanged, ReportStatusChanged{ID: "r1", Status: ReportAcknowledged})
	resolvedAtCentral := ev("central", 1, 300, TypeReportStatusChanged, ReportStatusChanged{ID: "r1", Status: ReportResolved})
	// The node's later edit by HLC beats central's earlier one, whatever the arrival order.
	inProgress := ev("n", 3, 400, TypeReportStatusChanged, ReportStatusChanged{ID: "r1", Status: ReportInProgress})
	comment := ev("n", 4, 150, TypeReportCommented, ReportCommented{ID: "r1", Text: "på väg", By: "Eva"})

	tests := []struct {
		name       string
		events     []Event
		wantStatus string
		wantOpen   int
	}{
		{"created only", []Event{created}, ReportNew, 1},
		{"in order", []Event{created, ack, resolvedAtCentral}, ReportResolved, 0},
		{"status before creation", []Event{resolvedAtCentral, created}, ReportResolved, 0},
		{"later hlc wins", []Event{inProgress, created, resolvedAtCentral, ack}, ReportInProgress, 1},
		{"status without creation is not shown", []Event{ack}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := fold(append(tt.events, comment))
			if tt.wantStatus == "" {
				if len(v.Reports) != 0 {
					t.Fatalf("reports = %+v, want none", v.Reports)
				}
				return
			}
			if len(v.Reports) != 1 {
				t.Fatalf("got %d reports", len(v.Reports))
			}
			r := v.Reports[0]
			if r.Status != tt.wantStatus || v.Counts.ReportsOpen != tt.wantOpen {
				t.Errorf("status %q open %d, want %q open %d", r.Status, v.Counts.ReportsOpen, tt.wantStatus, tt.wantOpen)
			}
			if len(r.Comments) != 1 || r.Comments[0].Author != "Eva" {
				t.Errorf("comments = %+v", r.Comments)
			}
		})
	}
}

func TestFoldCounts(t *testing.T) {
	events := []Event{
		ev("n", 1, 100, TypeCheckInCreated, CheckInCreated{ID: "c1", Receipt: "R1", Household: "HHHHH2", Size: 3, Status: CheckInNeedsHelp, Need: "heat"}),
		// The same household checks in again later, now safe and four people.
		ev("n", 2, 200, TypeCheckInCreated, CheckInCreated{ID: "c2", Receipt: "R2", Household: "HHHHH2", Size: 4, Status: CheckInSafe, Need: "none"}),
		ev("n", 3, 300, TypeCheckInCreated, CheckInCreated{ID: "c3", Receipt: "R3", Household: "KKKKK3", Size: 1, Status: CheckInNeedsHelp, Need: "medical"}),
	}
	v := fold(events)
	want := Counts{Households: 2, People: 5, NeedsHelp: 1}
	if v.Counts != want {
		t.Errorf("counts = %+v, want %+v", v.Counts, want)
	}
	if len(v.CheckIns) != 3 {
		t.Errorf("check-ins = %d, want all 3 kept", len(v.CheckIns))
	}
}

func TestFoldAnnouncements(t *testing.T) {
	until := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	events := []Event{
		ev("n", 2, 200, TypeAnnouncementWithdrawn, AnnouncementWithdrawn{ID: "a1"}),
		ev("n", 1, 100, TypeAnnouncementPublished, Announcement{ID: "a1", Title: map[string]string{"sv": "Gammal"}, Severity: "info"}),
		ev("c", 1, 300, TypeAnnouncementPublished, Announcement{ID: "a2", Title: map[string]string{"sv": "Storm"}, Severity: "danger", ValidUntil: &until}),
	}
	v := fold(events)
	if len(v.Announcements) != 2 || v.Announcements[0].ID != "a2" || !v.Announcements[1].Withdrawn {
		t.Fatalf("announcements = %+v", v.Announcements)
	}
	if got := v.ActiveAnnouncements(until.Add(-time.Hour)); len(got) != 1 || got[0].ID != "a2" {
		t.Errorf("active before expiry = %+v", got)
	}
	if got := v.ActiveAnnouncements(until.Add(time.Hour)); len(got) != 0 {
		t.Errorf("active after expiry = %+v", got)
	}
	if got := v.ActiveAnnouncements(time.Time{}); len(got) != 1 {
		t.Errorf("active with unknown clock = %+v, want the unexpired-or-unknown one", got)
	}
}

func TestFoldIgnoresGarbage(t *testing.T) {
	s := NewState()
	if s.Apply(Event{Origin: "n", Seq: 1, HLC: 1, Type: "nobody.knows", Payload: []byte(`{}`)}) {
		t.Error("unknown type reported as applied")
	}
	if s.Apply(Event{Origin: "n", Seq: 2, HLC: 2, Type: TypeReportCreated, Payload: []byte(`[1,2]`)}) {
		t.Error("bad payload reported as applied")
	}
	if v := s.View(); len(v.Reports) != 0 {
		t.Errorf("garbage made reports: %+v", v.Reports)
	}
}

func TestViewIsACopy(t *testing.T) {
	s := NewState()
	s.Apply(ev("n", 1, 100, TypeAnnouncementPublished, Announcement{ID: "a1", Title: map[string]string{"sv": "Storm"}, Severity: "info"}))
	v := s.View()
	v.Announcements[0].Title["sv"] = "changed"
	if got := s.View().Announcements[0].Title["sv"]; got != "Storm" {
		t.Errorf("mutating a view changed the state: %q", got)
	}
}
