package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// TestDirectiveJSON: the office's API serves Directive and Summary as JSON;
// their shape is fixed here, read back from a real store.
func TestDirectiveJSON(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []string{"a-1", "a-2"} {
		if _, err := s.Register(ctx, n, "2161", at); err != nil {
			t.Fatal(err)
		}
	}
	d := New{ID: "d-1", Kind: KindAnnouncement, Target: "municipality:2161", By: "kommunen",
		Type: "announcement.published", Payload: json.RawMessage(`{"id":"x"}`), HLC: 1, Created: at}
	if _, err := s.Add(ctx, d, []string{"a-1", "a-2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, "a-1", 1, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkShown(ctx, "a-1", "d-1", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}

	x, ok, err := s.Directive(ctx, "d-1")
	if err != nil || !ok {
		t.Fatalf("Directive: %v %v", ok, err)
	}
	list, err := s.Directives(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"Directive", x, `{"id":"d-1","kind":"announcement","target":"municipality:2161","created":"2025-01-02T03:04:05Z",` +
			`"by":"kommunen","type":"announcement.published","payload":{"id":"x"},"nodes":[` +
			`{"node":"a-1","municipality":"2161","seq":1,"state":"shown","queued":"2025-01-02T03:04:05Z",` +
			`"delivered":"2025-01-02T03:05:05Z","shown":"2025-01-02T03:06:05Z"},` +
			`{"node":"a-2","municipality":"2161","seq":1,"state":"queued","queued":"2025-01-02T03:04:05Z",` +
			`"delivered":null,"shown":null}]}`},
		{"Directives", list, `[{"id":"d-1","kind":"announcement","target":"municipality:2161","created":"2025-01-02T03:04:05Z",` +
			`"by":"kommunen","type":"announcement.published","payload":{"id":"x"},"nodes":2,"delivered":1,"shown":1}]`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s as JSON:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
