package central_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// TestHostileDownlink: on a broker without an ACL, anyone publishes to a
// node's down and ack topics and to central's downack topics. The node
// refuses what is not a well-formed stream from central (malformed,
// oversized, a bomb, another version, another origin or municipality, an
// event type central may not send, personal data among them), counts each
// and logs each reason once; a replayed directive is stored once; central
// refuses downacks that are malformed, of another node or beyond the
// stream. Nothing crashes, and a real directive still arrives after all of
// it.
func TestHostileDownlink(t *testing.T) {
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tmp := t.TempDir()
	clog := openLog(t, filepath.Join(tmp, "central"), "central")
	recv := startCentral(t, ctx, mq.URL(), clog)
	nlog := openLog(t, filepath.Join(tmp, "byhuset-a"), "byhuset-a")
	logs := &synctest.Buffer{}
	lk, _ := startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !synctest.Eventually(20*time.Second, func() bool { return lk.Status().Online && len(recv.Nodes()) == 1 }) {
		t.Fatal("the node did not come online")
	}
	evil := synctest.Client(t, mq.URL(), "evil")
	down := wire.Topic("2161", "byhuset-a", wire.KindDown)
	ack := wire.Topic("2161", "byhuset-a", wire.KindAck)

	directive := func(seq uint64, typ string, payload any) node.Event {
		p, _ := json.Marshal(payload)
		return node.Event{Origin: wire.Central, Seq: seq, HLC: node.MakeHLC(time.Now().UnixMilli(), 0), Type: typ, Payload: p}
	}
	ann := directive(1, node.TypeAnnouncementPublished, node.Announcement{ID: "fake-1",
		Title: map[string]string{"sv": "Falskt"}, Severity: "info", Directive: "fake-1"})
	encode := func(b wire.Batch) []byte {
		msg, err := wire.EncodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	stream := func(events ...node.Event) wire.Batch {
		return wire.Batch{Origin: wire.Central, Municipality: "2161", Head: events[len(events)-1].Seq, Events: events}
	}
	wrongVersion := stream(ann)
	wrongVersion.V = 2
	wrongMunicipality := stream(ann)
	wrongMunicipality.Municipality = "0180"
	big := make([]byte, wire.MaxMessage+1)
	big[0] = 'Z'
	bomb := []byte(`{"v":1,"origin":"central","municipality":"2161","head":1,"events":[{"origin":"central","seq":1,"hlc":"0","type":"x","occurred_at":null,"payload":{"t":"` +
		strings.Repeat("A", wire.MaxDecompressed+1024) + `"}}]}`)
	checkin := directive(1, node.TypeCheckInCreated, node.CheckInCreated{ID: "c", Receipt: "ABCDEFGH", Household: "HHHHH2", Size: 1, Status: "safe"})
	hostile := []struct {
		name, topic string
		payload     []byte
	}{
		{"garbage on down", down, []byte("hello, node")},
		{"empty on down", down, nil},
		{"broken zstd", down, []byte("Z\x28\xb5\x2f\xfd garbage")},
		{"oversized", down, big},
		{"decompression bomb", down, zstdStream(t, bomb)},
		{"wrong version", down, zstdJSON(t, batchJSON(t, wrongVersion))},
		{"another origin", down, encode(wire.Batch{Origin: "byhuset-b", Municipality: "2161", Head: 1,
			Events: []node.Event{reportEvent("byhuset-b", 1, "x")}})},
		{"another municipality", down, encode(wrongMunicipality)},
		{"a type central may not send", down, encode(stream(checkin))},
		{"garbage ack", ack, []byte("{")},
		{"ack of another node", ack, wire.EncodeJSON(wire.Ack{V: 1, Origin: "byhuset-b", Acked: 5})},
		{"ack of another version", ack, wire.EncodeJSON(wire.Ack{V: 2, Origin: "byhuset-a", Acked: 5})},
	}
	for _, h := range hostile {
		synctest.Publish(t, evil, h.topic, 1, false, h.payload)
	}
	if !synctest.Eventually(10*time.Second, func() bool { return lk.Refused.Count() >= int64(len(hostile)) }) {
		t.Fatalf("the link refused %d messages, want %d", lk.Refused.Count(), len(hostile))
	}
	// Central's side: downacks that lie.
	downack := wire.Topic("2161", "byhuset-a", wire.KindDownAck)
	before := recv.Counters.Refused.Load()
	for _, p := range [][]byte{[]byte("nope"), wire.EncodeJSON(wire.Ack{V: 1, Origin: "byhuset-b", Acked: 1}),
		wire.EncodeJSON(wire.Ack{V: 1, Origin: "byhuset-a", Acked: 1000})} {
		synctest.Publish(t, evil, downack, 1, false, p)
	}
	if !synctest.Eventually(10*time.Second, func() bool { return recv.Counters.Refused.Load()-before >= 3 }) {
		t.Fatalf("central refused %d lying downacks, want 3", recv.Counters.Refused.Load()-before)
	}
	// A real directive still arrives after all that; replayed three times
	// (by a broker, or by anyone who saw it), the node holds it once.
	capture := synctest.StartCapture(t, mq.URL())
	d, err := recv.Send(ctx, central.Draft{Kind: central.KindAnnouncement, Target: "node:byhuset-a", Type: node.TypeAnnouncementPublished,
		Payload: node.Announcement{ID: "real-1", Title: map[string]string{"sv": "Äkta"}, Severity: "info", Source: "kommunen"}})
	if err != nil {
		t.Fatal(err)
	}
	delivered := func() bool {
		x, _, _ := recv.Directive(ctx, d.ID)
		return len(x.Nodes) == 1 && x.Nodes[0].Delivered != nil
	}
	if !synctest.Eventually(10*time.Second, delivered) {
		t.Fatal("the real directive was not delivered after the hostile messages")
	}
	var sent []byte
	for _, m := range capture.Messages() {
		if m.Topic == down {
			sent = m.Payload
		}
	}
	if sent == nil {
		t.Fatal("the capture did not see central's message")
	}
	for range 3 {
		synctest.Publish(t, evil, down, 1, false, sent)
	}
	time.Sleep(500 * time.Millisecond) // the replays are stored, or not, by now
	var fromCentral int
	for _, e := range events(t, &nlog.Reader) {
		if e.Origin == wire.Central {
			fromCentral++
		}
	}
	if _, ok := nlog.State().Announcement("real-1"); !ok || fromCentral != 1 {
		t.Fatalf("the node holds %d events from central (real one there: %v), want exactly the real one", fromCentral, ok)
	}
	// Each reason logged once, however often it came.
	out := logs.String()
	if n := strings.Count(out, "reason=down"); n != 1 {
		t.Errorf("down refusals logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "reason=ack"); n != 1 {
		t.Errorf("ack refusals logged %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "panic") {
		t.Fatalf("panic in the link's log:\n%s", out)
	}
	// Nothing personal in the refusal log lines (the check-in's receipt).
	if strings.Contains(out, "ABCDEFGH") {
		t.Errorf("the log repeats a refused payload:\n%s", out)
	}
	if !lk.Status().Online {
		t.Fatal("the link went down")
	}
}
