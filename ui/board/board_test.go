package board

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

func TestBoardEscapes(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
	body, _ := json.Marshal(api.AnnouncementRequest{
		Title:    map[string]string{"sv": "<script>alert(1)</script>", "en": "<b>bold</b>"},
		Body:     map[string]string{"sv": `"><img src=x onerror=alert(2)>`},
		Severity: "warning",
	})
	if r := s.PostJSON(t, "/api/staff/announcements", string(body)); r.Code != http.StatusCreated {
		t.Fatalf("publishing: %s", r)
	}
	r := s.Get(t, "/board")
	page := string(r.Body)
	if r.Code != http.StatusOK {
		t.Fatalf("GET /board: %d", r.Code)
	}
	for _, raw := range []string{"<script>alert(1)", "<img src=x", "onerror=alert(2)>"} {
		if strings.Contains(page, raw) {
			t.Errorf("the board holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("the board lacks %q", escaped)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The public JSON escapes it too.
	st := webtest.Do(t, webtest.NewClient(t, e.Srv), "GET", e.Srv.URL+"/api/status", "", "")
	if strings.Contains(string(st.Body), "<script>") {
		t.Error("GET /api/status holds <script> unescaped")
	}
}

func TestInventory(t *testing.T) {
	env := newEnv(t, Options{}, nil)
	env.AddAccount(t, "eva", accounts.RoleStaff, "lösenord 123")
	s := webtest.Login(t, env.Srv, "eva", "lösenord 123")

	for _, tt := range []struct {
		body string
		code int
	}{
		{`{"item":"Fuel","quantity":40,"unit":"l","low":15}`, http.StatusCreated},
		{`{"item":"vatten","quantity":12,"unit":"dunkar","low":20}`, http.StatusCreated},
		{`{"item":"","quantity":1}`, http.StatusBadRequest},
		{`{"item":"x","quantity":-1}`, http.StatusBadRequest},
		{`{"item":"x","quantity":"many"}`, http.StatusBadRequest},
	} {
		if r := s.PostJSON(t, "/api/staff/inventory", tt.body); r.Code != tt.code {
			t.Errorf("%s: %s, want %d", tt.body, r, tt.code)
		}
	}
	v := env.Log.State().View()
	if len(v.Inventory) != 2 {
		t.Fatalf("inventory %+v", v.Inventory)
	}
	fuel, ok := env.Log.State().Stock(node.FuelItem)
	if !ok || fuel.Quantity != 40 || fuel.IsLow || fuel.By != "eva" {
		t.Errorf("fuel %+v", fuel)
	}
	if water, _ := env.Log.State().Stock("vatten"); !water.IsLow {
		t.Errorf("12 of 20 not flagged low: %+v", water)
	}
	// A new count replaces the old one.
	s.PostJSON(t, "/api/staff/inventory", `{"item":"fuel","quantity":10,"unit":"l","low":15}`)
	if fuel, _ := env.Log.State().Stock(node.FuelItem); fuel.Quantity != 10 || !fuel.IsLow {
		t.Errorf("recount %+v", fuel)
	}
	if r := s.Get(t, "/board"); !strings.Contains(string(r.Body), "LÅGT") {
		t.Error("board does not flag low stock")
	}
}
