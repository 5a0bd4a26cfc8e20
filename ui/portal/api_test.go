package portal

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wallClock) Now() time.Time  { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wallClock) Set(t time.Time) { w.mu.Lock(); defer w.mu.Unlock(); w.t = t }

func newTestServer(t *testing.T, opts Options, clock *node.Clock) (*httptest.Server, *node.Log) {
	t.Helper()
	l, err := node.Open(context.Background(), filepath.Join(t.TempDir(), node.FileName), node.Options{Origin: "sp-test", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	opts.Log = l
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv, l
}

func post(t *testing.T, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", url, err)
	}
	return resp.StatusCode, out
}

func eventCount(t *testing.T, l *node.Log) int {
	t.Helper()
	n := 0
	if err := l.Events(context.Background(), func(node.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

var receiptRE = regexp.MustCompile(`^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$`)

func TestCreate(t *testing.T) {
	srv, l := newTestServer(t, Options{}, nil)
	code, out := post(t, srv.URL+"/api/reports", "application/json",
		`{"category":"road","text":"  Träd över vägen  ","place":"Byvägen 3","urgency":"high"}`)
	if code != http.StatusCreated || out["id"] == "" || !receiptRE.MatchString(out["receipt"].(string)) {
		t.Fatalf("report: %d %v", code, out)
	}
	code, out = post(t, srv.URL+"/api/checkins", "application/json; charset=utf-8",
		`{"size":3,"status":"needs_help","need":"heat","name":"Anna","contact":"070","details":"rullstol"}`)
	if code != http.StatusCreated || !receiptRE.MatchString(out["receipt"].(string)) || len(out["household"].(string)) != HouseholdLen {
		t.Fatalf("check-in: %d %v", code, out)
	}
	household := out["household"].(string)
	code, out = post(t, srv.URL+"/api/checkins", "application/json",
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
	before := eventCount(t, l)
	big := `{"category":"road","text":"` + strings.Repeat("a", MaxBody) + `"}`
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
			code, out := post(t, srv.URL+tt.path, tt.ctype, tt.body)
			msg, _ := out["error"].(string)
			if code != tt.status || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, tt.status, tt.msg)
			}
		})
	}
	if after := eventCount(t, l); after != before {
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
	if n := eventCount(t, l); n != 3 {
		t.Errorf("%d events, want 3", n)
	}
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	lim := newLimiter(1, 1, time.Minute)
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		lim.allow(string(rune('a'+i%26))+string(rune('a'+i/26)), now)
	}
	if ok, _ := lim.allow("aa", now); ok {
		t.Error("second request within the burst allowed")
	}
	lim.allow("late", now.Add(2*time.Minute))
	if n := len(lim.clients); n != 1 {
		t.Errorf("%d clients kept after the idle sweep, want 1", n)
	}
}

func TestStatusClock(t *testing.T) {
	wall := &wallClock{t: time.Unix(0, 0)}
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
