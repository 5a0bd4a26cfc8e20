package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/nodetest"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// TestActivationShown: a point.activation from central's stream puts the
// point's state on every resident page; an exercise is labelled as one,
// in the title too, in every language.
func TestActivationShown(t *testing.T) {
	srv, l := newTestServer(t, Options{}, nil)
	if _, body := get(t, http.DefaultClient, srv.URL+"/"); strings.Contains(body, `class="activation`) {
		t.Fatal("an activation banner before any activation")
	}
	seq := uint64(0)
	activate := func(state string) {
		seq++
		payload, _ := json.Marshal(node.PointActivation{State: state, By: "kommunen", Directive: "d" + state})
		if _, _, err := l.Ingest(context.Background(), []node.Event{{Origin: wire.Central, Seq: seq,
			HLC: l.Clock().Now(), Type: node.TypePointActivation, Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ state, lang, want, title string }{
		{node.ActivationExercise, "sv", "ÖVNING: det här är en övning", "<title>ÖVNING · "},
		{node.ActivationExercise, "en", "EXERCISE: this is an exercise", "<title>EXERCISE · "},
		{node.ActivationActivated, "sv", "Trygghetspunkten är aktiverad av kommunen.", "<title>Läget"},
		{node.ActivationDeactivate, "en", "This safety point is not activated", "<title>Right now"},
	} {
		activate(c.state)
		var st struct {
			Activation *node.Activation `json:"activation"`
		}
		if _, body := get(t, http.DefaultClient, srv.URL+"/api/status"); json.Unmarshal([]byte(body), &st) != nil ||
			st.Activation == nil || st.Activation.State != c.state {
			t.Errorf("%s: /api/status activation %+v", c.state, st.Activation)
		}
		for _, path := range []string{"/", "/announcements", "/report"} {
			_, body := get(t, http.DefaultClient, srv.URL+path+"?lang="+c.lang)
			if !strings.Contains(body, c.want) {
				t.Errorf("%s %s (%s): the banner %q is missing", c.state, path, c.lang, c.want)
			}
			if path == "/" && !strings.Contains(body, c.title) {
				t.Errorf("%s %s (%s): title is not %q", c.state, path, c.lang, c.title)
			}
		}
	}
}

// TestReceiptDelivered: a receipt says the report has not reached the
// municipality until central acknowledges its event, and then at what
// time (Swedish time) it did.
func TestReceiptDelivered(t *testing.T) {
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 13, 2, 0, 0, time.UTC))
	srv, l := newTestServer(t, Options{Sync: func() api.SyncStatus { return api.SyncStatus{Configured: true} }}, node.NewClock(wall.Now))
	code, out := webtest.Post(t, srv.URL+"/api/reports", "application/json", `{"category":"road","text":"Träd över vägen"}`)
	if code != http.StatusCreated {
		t.Fatalf("report: %d %v", code, out)
	}
	receipt := out["receipt"].(string)
	_, body := get(t, http.DefaultClient, srv.URL+"/r/"+receipt)
	if !strings.Contains(body, "Inte skickat till kommunen än") || strings.Contains(body, "Mottaget av kommunen") {
		t.Fatalf("before the ack the receipt should say pending:\n%s", body)
	}
	// Another event after it, acknowledged only up to the report: still
	// the report's time.
	wall.Set(wall.Now().Add(3 * time.Minute))
	if moved, err := l.RecordPeerAck(context.Background(), link.Peer, l.Head()); err != nil || !moved {
		t.Fatal(moved, err)
	}
	wall.Set(wall.Now().Add(10 * time.Minute))
	if moved, _ := l.RecordPeerAck(context.Background(), link.Peer, l.Head()); moved {
		t.Fatal("the same watermark moved the pointer again")
	}
	_, body = get(t, http.DefaultClient, srv.URL+"/r/"+receipt)
	if !strings.Contains(body, "Mottaget av kommunen kl. 14:05.") {
		t.Fatalf("after the ack at 13:05 UTC the receipt should say 14:05 (Swedish time):\n%s", body)
	}
	_, body = get(t, http.DefaultClient, srv.URL+"/r/"+receipt+"?lang=en")
	if !strings.Contains(body, "Delivered to the municipality at 14:05.") {
		t.Fatalf("English receipt:\n%s", body)
	}
}

// TestContactsFromCentral: contact lines sent by central replace the
// configured ones on the contact page and in /api/status; a later
// point.configured (a restart with a changed configuration) replaces them
// again: the later of the two wins.
func TestContactsFromCentral(t *testing.T) {
	srv, l := newTestServer(t, Options{}, nil)
	ctx := context.Background()
	configure := func(phone string) {
		if _, err := l.Append(ctx, node.Draft{Type: node.TypePointConfigured, Payload: node.Point{ID: "sp-test", Name: "Byhuset",
			Municipality: "2161", Contacts: []node.Contact{{Label: "Växeln", Phone: phone}}}}); err != nil {
			t.Fatal(err)
		}
	}
	configure("0651-111 11")
	payload, _ := json.Marshal(node.ContactsChanged{Contacts: []node.Contact{{Label: "Krisledningen", Phone: "0651-222 22"}}, Directive: "d1"})
	if _, _, err := l.Ingest(ctx, []node.Event{{Origin: wire.Central, Seq: 1, HLC: l.Clock().Now(),
		Type: node.TypeContactsChanged, Payload: payload}}); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, http.DefaultClient, srv.URL+"/contact")
	if !strings.Contains(body, "0651-222 22") || strings.Contains(body, "0651-111 11") {
		t.Fatalf("after central's contact lines the page should show only them:\n%s", body)
	}
	configure("0651-333 33")
	_, body = get(t, http.DefaultClient, srv.URL+"/api/status")
	if !strings.Contains(body, "0651-333 33") || strings.Contains(body, "0651-222 22") {
		t.Fatalf("a later configuration should win:\n%s", body)
	}
}
