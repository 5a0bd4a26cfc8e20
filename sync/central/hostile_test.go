package central_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/klauspost/compress/zstd"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// zstdJSON frames raw JSON the way the wire does, whatever it says.
func zstdJSON(t *testing.T, js []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(js, []byte{'Z'})
}

// zstdStream compresses without a declared content size, as a streaming
// encoder does: the receiver cannot tell the size before decompressing.
func zstdStream(t *testing.T, js []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte('Z')
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(js); off += 1 << 16 {
		if _, err := enc.Write(js[off:min(off+1<<16, len(js))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reportEvent(origin string, seq uint64, text string) node.Event {
	p, _ := json.Marshal(synctest.Report(text).Payload)
	return node.Event{Origin: origin, Seq: seq, HLC: node.MakeHLC(time.Now().UnixMilli(), 0),
		Type: node.TypeReportCreated, Payload: p}
}

// encode is b as the wire carries it.
func encode(t *testing.T, b wire.Batch) []byte {
	t.Helper()
	msg, err := wire.EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// waitSubscribed publishes probes on an up topic until central refuses
// one: then its subscription is in place.
func waitSubscribed(t *testing.T, pub mqtt.Client, recv *central.Receiver) {
	t.Helper()
	if !synctest.Eventually(10*time.Second, func() bool {
		synctest.Publish(t, pub, wire.Topic("2161", "probe", wire.KindUp), 1, false, []byte("probe"))
		time.Sleep(50 * time.Millisecond)
		return recv.Counters.Refused.Load() > 0
	}) {
		t.Fatal("central never refused the probe: is it subscribed?")
	}
}

func batchJSON(t *testing.T, v any) []byte {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestHostileInput: central refuses whatever is not a well-formed batch of
// the topic's own node (malformed, another origin or municipality than the
// topic, another version, oversized, a decompression bomb, its own origin)
// and counts each refusal; it stores none of it, does not crash, and still
// stores and acknowledges a good batch sent after them.
func TestHostileInput(t *testing.T) {
	mq, clog, recv := synctest.StartCentral(t, synctest.Context(t, 60*time.Second), t.TempDir(), nil)
	capture := synctest.StartCapture(t, mq.URL())

	good := func(origin, municipality string, seqs ...uint64) wire.Batch {
		b := wire.Batch{V: wire.Version, Origin: origin, Municipality: municipality, Head: seqs[len(seqs)-1]}
		for _, s := range seqs {
			b.Events = append(b.Events, reportEvent(origin, s, fmt.Sprintf("event %d", s)))
		}
		return b
	}
	up := func(node string) string { return wire.Topic("2161", node, wire.KindUp) }
	big := make([]byte, wire.MaxMessage+1)
	rand.Read(big)
	big[0] = 'Z'
	// A bomb: a little over MaxDecompressed of JSON that compresses to
	// almost nothing.
	bombJSON := []byte(`{"v":1,"origin":"evil","municipality":"2161","head":1,"events":[{"origin":"evil","seq":1,"hlc":"0","type":"x","occurred_at":null,"payload":{"t":"` +
		strings.Repeat("A", wire.MaxDecompressed+1024) + `"}}]}`)
	wrongVersion := good("evil", "2161", 1)
	wrongVersion.V = 2
	v2 := batchJSON(t, wrongVersion)
	outOfOrder := good("evil", "2161", 1, 3, 2)
	notObject := good("evil", "2161", 1)
	notObject.Events[0].Payload = json.RawMessage(`"just a string"`)
	tooMany := good("evil", "2161", 1)
	for s := uint64(2); s <= wire.MaxEvents+1; s++ {
		tooMany.Events = append(tooMany.Events, node.Event{Origin: "evil", Seq: s, HLC: 1, Type: "x", Payload: json.RawMessage(`{}`)})
	}
	tooManyJS := batchJSON(t, tooMany)

	hostile := []struct {
		name, topic string
		payload     []byte
	}{
		{"not zstd at all", up("evil"), []byte("hello, central")},
		{"empty", up("evil"), nil},
		{"unknown format tag", up("evil"), append([]byte{'J'}, batchJSON(t, good("evil", "2161", 1))...)},
		{"broken zstd", up("evil"), []byte("Z\x28\xb5\x2f\xfd garbage")},
		{"zstd of not JSON", up("evil"), zstdJSON(t, []byte("not json at all"))},
		{"unknown field", up("evil"), zstdJSON(t, []byte(`{"v":1,"origin":"evil","municipality":"2161","head":1,"events":[],"extra":1}`))},
		{"trailing data", up("evil"), zstdJSON(t, append(batchJSON(t, good("evil", "2161", 1)), []byte(` {}`)...))},
		{"no events", up("evil"), zstdJSON(t, []byte(`{"v":1,"origin":"evil","municipality":"2161","head":0,"events":[]}`))},
		{"origin differs from topic", up("evil"), encode(t, good("byhuset-a", "2161", 1, 2))},
		{"municipality differs from topic", up("evil"), encode(t, good("evil", "0180", 1))},
		{"event of another origin inside", up("evil"), encode(t, wire.Batch{Origin: "evil", Municipality: "2161",
			Events: []node.Event{reportEvent("evil", 1, "a"), reportEvent("byhuset-a", 2, "b")}})},
		{"seqs out of order", up("evil"), encode(t, outOfOrder)},
		{"seq zero", up("evil"), encode(t, good("evil", "2161", 0))},
		{"payload not an object", up("evil"), encode(t, notObject)},
		{"wrong version", up("evil"), zstdJSON(t, v2)},
		{"too many events", up("evil"), zstdJSON(t, tooManyJS)},
		{"oversized message", up("evil"), big},
		{"decompression bomb", up("evil"), zstdJSON(t, bombJSON)},
		{"decompression bomb, no declared size", up("evil"), zstdStream(t, bombJSON)},
		{"central's own origin", up("central"), encode(t, good("central", "2161", 1))},
		{"malformed topic", "sp/v1/21x1/evil/up", encode(t, good("evil", "2161", 1))},
		{"malformed status", wire.Topic("2161", "evil", wire.KindStatus), []byte(`{"v":1,"state":"dancing","birth":1}`)},
		{"status of another version", wire.Topic("2161", "evil", wire.KindStatus), []byte(`{"v":9,"state":"online","birth":1}`)},
	}
	for _, h := range hostile {
		if len(h.payload) > wire.MaxMessage+1 {
			t.Fatalf("%s: %d bytes, more than the test means to send", h.name, len(h.payload))
		}
	}
	if len(zstdJSON(t, bombJSON)) > 64<<10 || len(zstdStream(t, bombJSON)) > 64<<10 {
		t.Fatal("the bombs do not compress: the test proves nothing about decompression limits")
	}

	pub := synctest.Client(t, mq.URL(), "hostile")
	// Central must be subscribed before anything is sent: wait for its
	// session (a retained probe it would see on connect is not needed; its
	// refusal counter moving on a first message is the sign).
	waitSubscribed(t, pub, recv)
	time.Sleep(200 * time.Millisecond) // probes still on their way
	base := recv.Counters.Refused.Load()

	for _, h := range hostile {
		before := recv.Counters.Refused.Load()
		synctest.Publish(t, pub, h.topic, 1, false, h.payload)
		if !synctest.Eventually(5*time.Second, func() bool { return recv.Counters.Refused.Load() > before }) {
			t.Errorf("%s: not refused (refusals %d)", h.name, recv.Counters.Refused.Load())
		}
	}
	// Then a good batch, alone: stored, acknowledged.
	synctest.Publish(t, pub, up("good-a"), 1, false, encode(t, good("good-a", "2161", 1, 2, 3)))
	ackTopic := wire.Topic("2161", "good-a", wire.KindAck)
	var ack wire.Ack
	if !synctest.Eventually(10*time.Second, func() bool {
		for _, m := range capture.Messages() {
			if m.Topic == ackTopic {
				a, err := wire.DecodeAck(m.Payload)
				if err == nil && a.Acked == 3 {
					ack = a
					return true
				}
			}
		}
		return false
	}) {
		t.Fatalf("the good batch after the hostile ones was not acknowledged")
	}
	if ack.Origin != "good-a" {
		t.Errorf("ack %+v", ack)
	}
	if n := recv.Counters.Refused.Load() - base; n != int64(len(hostile)) {
		t.Errorf("%d refusals counted for %d hostile messages", n, len(hostile))
	}
	// Only the good events are stored.
	got := synctest.Events(t, &clog.Reader)
	if len(got) != 3 {
		t.Errorf("central holds %d events, want the good batch's 3", len(got))
	}
	for _, e := range got {
		if e.Origin != "good-a" {
			t.Errorf("central stored %s/%d (%s) from hostile input", e.Origin, e.Seq, e.Payload)
		}
	}
	for _, m := range capture.Messages() {
		if _, n, kind, ok := wire.ParseTopic(m.Topic); ok && kind == wire.KindAck && n != "good-a" {
			t.Errorf("central acknowledged hostile input: %s %s", m.Topic, m.Payload)
		}
	}
	if cn := recv.Nodes(); len(cn) == 0 {
		t.Errorf("central lists no node")
	}
	t.Logf("%d hostile messages refused, the good batch after them stored and acknowledged", len(hostile))
}

// TestOwnOriginDoesNotPoisonOthers: a batch that central cannot store must
// not take the other nodes' batches of the same transaction down with it.
// The ingest loop stores many batches in one transaction; one batch of
// central's own origin (a node configured with central's id) would fail
// the whole group, every time it came.
func TestOwnOriginDoesNotPoisonOthers(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, clog, recv := synctest.StartCentral(t, ctx, t.TempDir(), nil)
	pub := synctest.Client(t, mq.URL(), "mixed")
	waitSubscribed(t, pub, recv)
	const rounds = 30
	for i := 1; i <= rounds; i++ {
		bad := wire.Batch{Origin: "central", Municipality: "2161", Head: uint64(i),
			Events: []node.Event{reportEvent("central", uint64(i), "same name as central")}}
		ok := wire.Batch{Origin: "good-b", Municipality: "2161", Head: uint64(i),
			Events: []node.Event{reportEvent("good-b", uint64(i), "fine")}}
		for _, b := range []wire.Batch{bad, ok} {
			// QoS 0, not waited for: the two arrive together.
			pub.Publish(wire.Topic("2161", b.Origin, wire.KindUp), 0, false, encode(t, b))
		}
	}
	if !synctest.Eventually(10*time.Second, func() bool {
		m, _ := clog.Watermarks(ctx)
		return m["good-b"] == rounds
	}) {
		m, _ := clog.Watermarks(ctx)
		t.Fatalf("good-b's watermark %d, want %d: its batches went down with the bad ones", m["good-b"], rounds)
	}
	for _, e := range synctest.Events(t, &clog.Reader) {
		if e.Origin != "good-b" {
			t.Errorf("stored %s/%d", e.Origin, e.Seq)
		}
	}
}

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
	ctx := synctest.Context(t, 60*time.Second)
	mq, _, recv := synctest.StartCentral(t, ctx, t.TempDir(), nil)
	nlog := openLog(t, t.TempDir(), "byhuset-a")
	logs := &synctest.Buffer{}
	lk, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog,
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
		{"another origin", down, encode(t, wire.Batch{Origin: "byhuset-b", Municipality: "2161", Head: 1,
			Events: []node.Event{reportEvent("byhuset-b", 1, "x")}})},
		{"another municipality", down, encode(t, wrongMunicipality)},
		{"a type central may not send", down, encode(t, stream(checkin))},
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
	for _, e := range synctest.Events(t, &nlog.Reader) {
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
