package portal

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/node/nodetest"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// newTestServer serves the portal on a new log (on clock, when not nil),
// on a site of its own.
func newTestServer(t *testing.T, opts Options, clock *node.Clock) (*httptest.Server, *eventlog.Log) {
	t.Helper()
	e := webtest.Start(t, clock, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		h, _ := serve(l, staff, opts)
		return h
	})
	return e.Srv, e.Log
}

// serve is the portal on l, on a site of its own.
func serve(l *eventlog.Log, staff *accounts.Accounts, opts Options) (http.Handler, *web.Site) {
	opts.Log = l
	if opts.Logger == nil {
		opts.Logger = webtest.Discard()
	}
	site := web.New(web.Options{Accounts: staff, Logger: opts.Logger})
	return site.Handler(New(site, opts)), site
}

var receiptRE = regexp.MustCompile(`^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$`)

func TestCreate(t *testing.T) {
	srv, l := newTestServer(t, Options{}, nil)
	code, out := webtest.Post(t, srv.URL+"/api/reports", "application/json",
		`{"category":"road","text":"  Träd över vägen  ","place":"Byvägen 3","urgency":"high"}`)
	if code != http.StatusCreated || out["id"] == "" || !receiptRE.MatchString(out["receipt"].(string)) {
		t.Fatalf("report: %d %v", code, out)
	}
	code, out = webtest.Post(t, srv.URL+"/api/checkins", "application/json; charset=utf-8",
		`{"size":3,"status":"needs_help","need":"heat","name":"Anna","contact":"070","details":"rullstol"}`)
	if code != http.StatusCreated || !receiptRE.MatchString(out["receipt"].(string)) || len(out["household"].(string)) != api.HouseholdLen {
		t.Fatalf("check-in: %d %v", code, out)
	}
	household := out["household"].(string)
	code, out = webtest.Post(t, srv.URL+"/api/checkins", "application/json",
		`{"household":"`+strings.ToLower(household)+`","size":4,"status":"safe"}`)
	if code != http.StatusCreated || out["household"] != household {
		t.Fatalf("check-in with a known household: %d %v", code, out)
	}

	v := l.State().View()
	if len(v.Reports) != 1 || v.Reports[0].Text != "Träd över vägen" || v.Reports[0].Urgency != "high" {
		t.Errorf("report folded as %+v", v.Reports)
	}
	if want := (node.Counts{Households: 1, People: 4, NeedsHelp: 0, ReportsOpen: 1, Reports: 1}); v.Counts != want {
		t.Errorf("counts %+v, want %+v", v.Counts, want)
	}
	if !v.CheckIns[0].HasPersonal || v.CheckIns[1].HasPersonal || v.CheckIns[1].Need != "none" {
		t.Errorf("check-ins folded as %+v", v.CheckIns)
	}
	if _, ok := l.State().LookupReceipt(v.Reports[0].Receipt); !ok {
		t.Error("receipt not found")
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	srv, l := newTestServer(t, Options{PostPerMinute: 1e6, PostBurst: 1000}, nil)
	before := webtest.EventCount(t, l)
	big := `{"category":"road","text":"` + strings.Repeat("a", web.MaxBody) + `"}`
	tests := []struct {
		name, path, ctype, body string
		status                  int
		msg                     string
	}{
		{"empty body", "/api/reports", "application/json", ``, 400, "empty"},
		{"not JSON", "/api/reports", "application/json", `category=road`, 400, "not valid JSON"},
		{"cut short", "/api/reports", "application/json", `{"category":"road"`, 400, "cut short"},
		{"array", "/api/reports", "application/json", `[1]`, 400, "JSON object"},
		{"null", "/api/reports", "application/json", `null`, 400, "JSON object"},
		{"two objects", "/api/reports", "application/json", `{"category":"road","text":"a"}{}`, 400, "after the JSON object"},
		{"unknown field", "/api/reports", "application/json", `{"category":"road","text":"a","colour":"red"}`, 400, "unknown field"},
		{"wrong type", "/api/reports", "application/json", `{"category":"road","text":5}`, 400, "text: must be a string"},
		{"invalid UTF-8", "/api/reports", "application/json", "{\"category\":\"road\",\"text\":\"\xff\xfe\"}", 400, "UTF-8"},
		{"bad category", "/api/reports", "application/json", `{"category":"dragons","text":"a"}`, 400, "category"},
		{"missing text", "/api/reports", "application/json", `{"category":"road","text":"   "}`, 400, "text: required"},
		{"text too long", "/api/reports", "application/json", `{"category":"road","text":"` + strings.Repeat("å", 2001) + `"}`, 400, "at most 2000"},
		{"control character", "/api/reports", "application/json", `{"category":"road","text":"a\u0007b"}`, 400, "control character"},
		{"direction override", "/api/reports", "application/json", `{"category":"road","text":"Träd \u202Eroiv\u202C över vägen"}`, 400, "U+202E"},
		{"direction isolate", "/api/reports", "application/json", `{"category":"road","text":"x","place":"\u2067Ekbacken\u2069"}`, 400, "U+2067"},
		{"bad urgency", "/api/reports", "application/json", `{"category":"road","text":"a","urgency":"asap"}`, 400, "urgency"},
		{"form post", "/api/reports", "text/plain", `{"category":"road","text":"a"}`, 415, "JSON"},
		{"too large", "/api/reports", "application/json", big, 413, "larger than"},
		{"size zero", "/api/checkins", "application/json", `{"size":0,"status":"safe","name":"Anna"}`, 400, "size"},
		{"size huge", "/api/checkins", "application/json", `{"size":51,"status":"safe"}`, 400, "size"},
		{"size fraction", "/api/checkins", "application/json", `{"size":2.5,"status":"safe"}`, 400, "size"},
		{"size as string", "/api/checkins", "application/json", `{"size":"2","status":"safe"}`, 400, "size: must be a number"},
		{"bad status", "/api/checkins", "application/json", `{"size":2,"status":"fine"}`, 400, "status"},
		{"bad need", "/api/checkins", "application/json", `{"size":2,"status":"safe","need":"pizza"}`, 400, "need"},
		{"bad household", "/api/checkins", "application/json", `{"household":"O0O0O0","size":2,"status":"safe"}`, 400, "household"},
		{"name too long", "/api/checkins", "application/json", `{"size":2,"status":"safe","name":"` + strings.Repeat("x", 101) + `"}`, 400, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := webtest.Post(t, srv.URL+tt.path, tt.ctype, tt.body)
			msg, _ := out["error"].(string)
			if code != tt.status || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, tt.status, tt.msg)
			}
		})
	}
	if after := webtest.EventCount(t, l); after != before {
		t.Errorf("bad input wrote %d events", after-before)
	}
}

func TestPublicRateLimit(t *testing.T) {
	srv, l := newTestServer(t, Options{PostPerMinute: 1, PostBurst: 3}, nil)
	var codes []int
	for i := 0; i < 5; i++ {
		resp, err := http.Post(srv.URL+"/api/reports", "application/json", strings.NewReader(`{"category":"road","text":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	want := []int{201, 201, 201, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
	if n := webtest.EventCount(t, l); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

func TestStatusClock(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(0, 0))
	srv, _ := newTestServer(t, Options{}, node.NewClock(wall.Now))
	get := func() Status {
		resp, err := http.Get(srv.URL + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := get(); st.ClockOK || st.Time != nil {
		t.Errorf("at 1970: clock_ok %v time %v", st.ClockOK, st.Time)
	}
	now := time.Date(2026, 11, 24, 14, 2, 0, 0, time.UTC)
	wall.Set(now)
	st := get()
	if !st.ClockOK || st.Time == nil || !st.Time.Equal(now) {
		t.Errorf("at 2026: clock_ok %v time %v", st.ClockOK, st.Time)
	}
	if st.Point.ID != "sp-test" || len(st.Services) != len(node.Services) || st.Announcements == nil {
		t.Errorf("status = %+v", st)
	}
}
