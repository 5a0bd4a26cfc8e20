package board

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/nodetest"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

func TestBoardActions(t *testing.T) {
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC))
	env := newEnv(t, Options{}, node.NewClock(wall.Now))
	env.AddAccount(t, "eva", accounts.RoleStaff, "lösenord 123")
	env.AddAccount(t, "vera", accounts.RoleViewer, "lösenord 456")
	s := webtest.Login(t, env.Srv, "eva", "lösenord 123")
	viewer := webtest.Login(t, env.Srv, "vera", "lösenord 456")

	// A resident's report to act on.
	code, out := webtest.Post(t, env.Srv.URL+"/api/reports", "application/json", `{"category":"road","text":"Träd över vägen"}`)
	if code != http.StatusCreated {
		t.Fatal(code)
	}
	id := out["id"].(string)
	steps := []struct {
		path, body string
		code       int
	}{
		{"/api/staff/reports/" + id + "/status", `{"status":"acknowledged"}`, 201},
		{"/api/staff/reports/" + id + "/assign", `{"assignee":"logistik"}`, 201},
		{"/api/staff/reports/" + id + "/comments", `{"text":"Sune kör dit med motorsåg"}`, 201},
		{"/api/staff/reports/" + id + "/status", `{"status":"done"}`, 400},
		{"/api/staff/reports/nope/status", `{"status":"resolved"}`, 404},
		{"/api/staff/reports/" + id + "/comments", `{"text":"  "}`, 400},
		{"/api/staff/services", `{"service":"warmth","status":"open","note":"i matsalen"}`, 201},
		{"/api/staff/services", `{"service":"sauna","status":"open"}`, 400},
		{"/api/staff/roster", `{"person":"Sune","role":"logistik","on_duty":true,"contact":"070-222"}`, 201},
		{"/api/staff/roster", `{"person":"","role":"logistik"}`, 400},
		{"/api/staff/journal", `{"text":"Stormen tilltar, elbolaget kontaktat"}`, 201},
		{"/api/staff/journal", `{"text":"fel","corrects":"no-such-entry"}`, 400},
		{"/api/staff/checkins", `{"size":2,"status":"needs_help","need":"heat","occurred_at":"2026-11-24T14:30:00Z","name":"Greta P"}`, 201},
		{"/api/staff/checkins", `{"size":2,"status":"safe","occurred_at":"2027-01-01T00:00:00Z"}`, 400},
		{"/api/staff/clock", `{"now":"1999-01-01T00:00:00Z"}`, 400},
	}
	for _, st := range steps {
		if r := s.PostJSON(t, st.path, st.body); r.Code != st.code {
			t.Errorf("%s %s: %s, want %d", st.path, st.body, r, st.code)
		}
	}
	v := env.Log.State().View()
	r := v.Reports[0]
	if r.Status != node.ReportAcknowledged || r.Assignee != "logistik" || len(r.Comments) != 1 || r.Comments[0].Author != "eva" {
		t.Errorf("report after actions: %+v", r)
	}
	if v.Services[0].Status != "open" || len(v.Roster) != 1 || !v.Roster[0].OnDuty || len(v.Journal) != 1 || v.Journal[0].By != "eva" {
		t.Errorf("services %+v roster %+v journal %+v", v.Services[0], v.Roster, v.Journal)
	}
	// The paper check-in keeps when it happened, apart from when it was typed in.
	var paper node.CheckIn
	for _, c := range v.CheckIns {
		paper = c
	}
	if paper.OccurredAt == nil || !paper.OccurredAt.Equal(time.Date(2026, 11, 24, 14, 30, 0, 0, time.UTC)) || paper.Recorded.Time().Before(wall.Now().Add(-time.Minute)) {
		t.Errorf("paper check-in: occurred %v recorded %v", paper.OccurredAt, paper.Recorded)
	}
	// A correction is a new entry that names the old one.
	first := v.Journal[0].ID
	if r := s.PostJSON(t, "/api/staff/journal", `{"text":"Rättelse: elbolaget har inte svarat","corrects":"`+first+`"}`); r.Code != 201 {
		t.Fatal(r)
	}
	j := env.Log.State().View().Journal
	if len(j) != 2 || j[0].Text != "Stormen tilltar, elbolaget kontaktat" || len(j[0].CorrectedBy) != 1 || j[1].Corrects != first {
		t.Errorf("journal after a correction: %+v", j)
	}

	// Personal data: staff may read it, a viewer may not, and the
	// websocket sections never carry it.
	if r := s.Get(t, "/api/staff/checkins/"+paper.ID+"/personal"); r.Code != 200 || !strings.Contains(string(r.Body), "Greta P") {
		t.Errorf("staff reading personal data: %s", r)
	}
	if r := viewer.Get(t, "/api/staff/checkins/"+paper.ID+"/personal"); r.Code != 403 {
		t.Errorf("viewer reading personal data: %s", r)
	}
	if r := viewer.Get(t, "/api/staff/roster/contacts"); r.Code != 403 {
		t.Errorf("viewer reading staff contacts: %s", r)
	}
	if r := s.Get(t, "/api/staff/roster/contacts"); !strings.Contains(string(r.Body), "070-222") {
		t.Errorf("staff contacts: %s", r)
	}
	b, _ := json.Marshal(env.b.sections())
	for _, secret := range []string{"Greta P", "070-222"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("board sections carry %q", secret)
		}
	}
	if r := viewer.PostJSON(t, "/api/staff/journal", `{"text":"x"}`); r.Code != 403 {
		t.Errorf("viewer writing: %s", r)
	}
}

func TestSetClockFromTablet(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(120, 0)) // the box booted at 1970
	env := newEnv(t, Options{}, node.NewClock(wall.Now))
	env.AddAccount(t, "eva", accounts.RoleStaff, "lösenord 123")
	s := webtest.Login(t, env.Srv, "eva", "lösenord 123")
	if st := publicStatus(t, env.Srv); st.ClockOK {
		t.Fatal("1970 counted as ok")
	}
	if r := s.PostJSON(t, "/api/staff/clock", `{"now":"2026-11-24T18:05:00Z"}`); r.Code != 201 {
		t.Fatal(r)
	}
	st := publicStatus(t, env.Srv)
	if !st.ClockOK || st.Time == nil || st.Time.Sub(time.Date(2026, 11, 24, 18, 5, 0, 0, time.UTC)).Abs() > time.Second {
		t.Errorf("after setting: clock_ok %v time %v", st.ClockOK, st.Time)
	}
	if n := len(webtest.EventsOfType(t, env.Log, node.TypeClockSet)); n != 1 {
		t.Errorf("%d clock.set events", n)
	}
}

func TestCallDown(t *testing.T) {
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC))
	env := newEnv(t, Options{CallDown: 20 * time.Minute}, node.NewClock(wall.Now))
	for _, text := range []string{"gammal", "ny"} {
		webtest.Post(t, env.Srv.URL+"/api/reports", "application/json", `{"category":"road","text":"`+text+`"}`)
		wall.Set(wall.Now().Add(15 * time.Minute))
	}
	v := env.Log.State().View()
	flagged := env.b.callDown(v.Reports, wall.Now())
	if len(flagged) != 1 || flagged[0] != v.Reports[0].ID {
		t.Fatalf("call-down after 30 and 15 minutes: %v", flagged)
	}
	// Touching it clears the flag.
	env.Log.Append(t.Context(), node.Draft{Type: node.TypeReportStatusChanged, Payload: node.ReportStatusChanged{ID: v.Reports[0].ID, Status: "in_progress"}})
	if f := env.b.callDown(env.Log.State().View().Reports, wall.Now()); len(f) != 0 {
		t.Errorf("after an update: %v", f)
	}
}
