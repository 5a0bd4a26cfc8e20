package central_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/safepoint-se/safepoint/node"
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
	p, _ := json.Marshal(node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen),
		Category: "road", Text: text, Urgency: "normal"})
	return node.Event{Origin: origin, Seq: seq, HLC: node.MakeHLC(time.Now().UnixMilli(), 0),
		Type: node.TypeReportCreated, Payload: p}
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
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clog := openLog(t, filepath.Join(t.TempDir(), "central"), "central")
	recv := startCentral(t, ctx, mq.URL(), clog)
	capture := synctest.StartCapture(t, mq.URL())

	good := func(origin, municipality string, seqs ...uint64) wire.Batch {
		b := wire.Batch{V: wire.Version, Origin: origin, Municipality: municipality, Head: seqs[len(seqs)-1]}
		for _, s := range seqs {
			b.Events = append(b.Events, reportEvent(origin, s, fmt.Sprintf("event %d", s)))
		}
		return b
	}
	encode := func(b wire.Batch) []byte {
		msg, err := wire.EncodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		return msg
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
		{"origin differs from topic", up("evil"), encode(good("byhuset-a", "2161", 1, 2))},
		{"municipality differs from topic", up("evil"), encode(good("evil", "0180", 1))},
		{"event of another origin inside", up("evil"), encode(wire.Batch{Origin: "evil", Municipality: "2161",
			Events: []node.Event{reportEvent("evil", 1, "a"), reportEvent("byhuset-a", 2, "b")}})},
		{"seqs out of order", up("evil"), encode(outOfOrder)},
		{"seq zero", up("evil"), encode(good("evil", "2161", 0))},
		{"payload not an object", up("evil"), encode(notObject)},
		{"wrong version", up("evil"), zstdJSON(t, v2)},
		{"too many events", up("evil"), zstdJSON(t, tooManyJS)},
		{"oversized message", up("evil"), big},
		{"decompression bomb", up("evil"), zstdJSON(t, bombJSON)},
		{"decompression bomb, no declared size", up("evil"), zstdStream(t, bombJSON)},
		{"central's own origin", up("central"), encode(good("central", "2161", 1))},
		{"malformed topic", "sp/v1/21x1/evil/up", encode(good("evil", "2161", 1))},
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
	if !synctest.Eventually(10*time.Second, func() bool {
		synctest.Publish(t, pub, up("probe"), 1, false, []byte("probe"))
		time.Sleep(50 * time.Millisecond)
		return recv.Counters.Refused.Load() > 0
	}) {
		t.Fatal("central never refused the probe: is it subscribed?")
	}
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
	synctest.Publish(t, pub, up("good-a"), 1, false, encode(good("good-a", "2161", 1, 2, 3)))
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
	got := events(t, &clog.Reader)
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
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clog := openLog(t, filepath.Join(t.TempDir(), "central"), "central")
	recv := startCentral(t, ctx, mq.URL(), clog)
	pub := synctest.Client(t, mq.URL(), "mixed")
	if !synctest.Eventually(10*time.Second, func() bool {
		synctest.Publish(t, pub, wire.Topic("2161", "probe", wire.KindUp), 1, false, []byte("probe"))
		time.Sleep(50 * time.Millisecond)
		return recv.Counters.Refused.Load() > 0
	}) {
		t.Fatal("central never refused the probe: is it subscribed?")
	}
	const rounds = 30
	for i := 1; i <= rounds; i++ {
		bad := wire.Batch{Origin: "central", Municipality: "2161", Head: uint64(i),
			Events: []node.Event{reportEvent("central", uint64(i), "same name as central")}}
		ok := wire.Batch{Origin: "good-b", Municipality: "2161", Head: uint64(i),
			Events: []node.Event{reportEvent("good-b", uint64(i), "fine")}}
		for _, b := range []wire.Batch{bad, ok} {
			msg, err := wire.EncodeBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			// QoS 0, not waited for: the two arrive together.
			pub.Publish(wire.Topic("2161", b.Origin, wire.KindUp), 0, false, msg)
		}
	}
	if !synctest.Eventually(10*time.Second, func() bool {
		m, _ := clog.Watermarks(ctx)
		return m["good-b"] == rounds
	}) {
		m, _ := clog.Watermarks(ctx)
		t.Fatalf("good-b's watermark %d, want %d: its batches went down with the bad ones", m["good-b"], rounds)
	}
	for _, e := range events(t, &clog.Reader) {
		if e.Origin != "good-b" {
			t.Errorf("stored %s/%d", e.Origin, e.Seq)
		}
	}
}
