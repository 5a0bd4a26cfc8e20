package board

import (
	"net/http"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

func TestInventory(t *testing.T) {
	env := newEnv(t, Options{}, nil)
	env.AddAccount(t, "eva", node.RoleStaff, "lösenord 123")
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
