package board

import (
	"net/http"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node"
)

func TestInventory(t *testing.T) {
	env := newAuthEnv(t, Options{}, false, nil)
	env.addAccount(t, "eva", node.RoleStaff, "lösenord 123")
	s := login(t, env.srv, "eva", "lösenord 123")

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
		if r := s.postJSON(t, "/api/staff/inventory", tt.body); r.code != tt.code {
			t.Errorf("%s: %s, want %d", tt.body, r, tt.code)
		}
	}
	v := env.l.State().View()
	if len(v.Inventory) != 2 {
		t.Fatalf("inventory %+v", v.Inventory)
	}
	fuel, ok := env.l.State().Stock(node.FuelItem)
	if !ok || fuel.Quantity != 40 || fuel.IsLow || fuel.By != "eva" {
		t.Errorf("fuel %+v", fuel)
	}
	if water, _ := env.l.State().Stock("vatten"); !water.IsLow {
		t.Errorf("12 of 20 not flagged low: %+v", water)
	}
	// A new count replaces the old one.
	s.postJSON(t, "/api/staff/inventory", `{"item":"fuel","quantity":10,"unit":"l","low":15}`)
	if fuel, _ := env.l.State().Stock(node.FuelItem); fuel.Quantity != 10 || !fuel.IsLow {
		t.Errorf("recount %+v", fuel)
	}
	if r := s.get(t, "/board"); !strings.Contains(string(r.body), "LÅGT") {
		t.Error("board does not flag low stock")
	}
}
