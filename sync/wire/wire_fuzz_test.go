package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// The fuzz targets check properties, not only that the decoders do not
// panic: whatever they accept satisfies the protocol's invariants and
// survives a round trip through the encoder; whatever they refuse is refused
// with one of the package's errors. `go test ./sync/wire` runs the seeds
// below and the corpus in testdata/fuzz; `make fuzz` runs the fuzzer.

// seedEvents builds n realistic events of origin with seqs first, first+1, …:
// reports, check-ins, inventory, as a node writes them.
func seedEvents(origin string, first uint64, n int) []node.Event {
	texts := []string{
		"Träd över vägen strax efter bron, går inte att köra förbi",
		"Strömmen har varit borta sedan i natt, frysen börjar tina",
		"Behöver laddning till syrgasapparat, batteriet räcker 3 timmar",
		"Det är 12 grader inne och vi har två små barn <3 & en hund",
	}
	start := time.Date(2026, 1, 14, 3, 12, 0, 0, time.UTC)
	out := make([]node.Event, n)
	for i := range out {
		at := start.Add(time.Duration(i) * 47 * time.Second)
		id := fmt.Sprintf("k%015d", i)
		var typ string
		var p any
		switch i % 3 {
		case 0:
			typ, p = node.TypeReportCreated, node.ReportCreated{ID: id, Receipt: "HXK4TQ7M", Category: "road",
				Text: texts[i%len(texts)], Place: "Bron vid Ljusnan", Urgency: "normal"}
		case 1:
			typ, p = node.TypeCheckInCreated, node.CheckInCreated{ID: id, Receipt: "PW3RNZ8A", Household: "Storvägen 12",
				Size: 1 + i%5, Status: "ok", Need: "water"}
		default:
			typ, p = node.TypeInventoryChanged, node.InventoryChanged{Item: "water", Quantity: float64(200 - i%50), Unit: "l", Low: 40, By: "anna"}
		}
		js, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		e := node.Event{Origin: origin, Seq: first + uint64(i), HLC: node.MakeHLC(at.UnixMilli(), uint16(i%4)), Type: typ, Payload: js}
		if i%4 != 3 { // now and then nobody knows when it happened
			e.OccurredAt = &at
		}
		out[i] = e
	}
	return out
}

func seedBatch(n int) Batch {
	ev := seedEvents("byhuset-a", 1000, n)
	return Batch{V: Version, Origin: "byhuset-a", Municipality: "2161", Head: ev[n-1].Seq + 17, Events: ev}
}

// frame puts raw bytes (JSON or not) behind the tag and zstd, whatever they say.
func frame(js []byte) []byte { return encoder.EncodeAll(js, []byte{tagZstdJSON}) }

func mustJSON(v any) []byte {
	js, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return js
}

func mustEncode(b Batch) []byte {
	msg, err := EncodeBatch(b)
	if err != nil {
		panic(err)
	}
	return msg
}

// bomb is a small zstd frame that decompresses to 9 MiB of zeros, beyond
// MaxDecompressed: the frame declares its size.
func bomb() []byte { return frame(make([]byte, 9<<20)) }

// classified fails unless err is one of the package's decoding errors.
func classified(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrFormat) {
		t.Fatalf("refused with an unclassified error: %v", err)
	}
}

// checkBatch fails unless b satisfies every invariant of an accepted batch.
// It does not use the decoder's own checks (isObject).
func checkBatch(t *testing.T, b Batch) {
	t.Helper()
	if b.V != Version {
		t.Fatalf("accepted version %d", b.V)
	}
	if len(b.Events) < 1 || len(b.Events) > MaxEvents {
		t.Fatalf("accepted %d events", len(b.Events))
	}
	var prev uint64
	for i, e := range b.Events {
		if e.Origin != b.Origin {
			t.Fatalf("event %d: origin %q in a batch of %q", i, e.Origin, b.Origin)
		}
		if e.Seq == 0 || e.Seq <= prev {
			t.Fatalf("event %d: seq %d after %d", i, e.Seq, prev)
		}
		prev = e.Seq
		if e.Type == "" {
			t.Fatalf("event %d: empty type", i)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Payload, &obj); err != nil || obj == nil {
			t.Fatalf("event %d: payload %q is not a JSON object (%v)", i, e.Payload, err)
		}
	}
}

// canonical is a payload as the encoder writes it: json.Marshal compacts a
// RawMessage and escapes <, > and &.
func canonical(p json.RawMessage) []byte { return mustJSON(p) }

// equalBatch compares a batch with its round trip: the payloads as the
// encoder writes them, times as instants.
func equalBatch(a, b Batch) error {
	if a.V != b.V || a.Origin != b.Origin || a.Municipality != b.Municipality || a.Head != b.Head || len(a.Events) != len(b.Events) {
		return fmt.Errorf("header or length differs: %d %q %q %d %d / %d %q %q %d %d",
			a.V, a.Origin, a.Municipality, a.Head, len(a.Events), b.V, b.Origin, b.Municipality, b.Head, len(b.Events))
	}
	for i := range a.Events {
		x, y := a.Events[i], b.Events[i]
		if x.Origin != y.Origin || x.Seq != y.Seq || x.HLC != y.HLC || x.Type != y.Type {
			return fmt.Errorf("event %d differs: %s/%d %d %q / %s/%d %d %q", i, x.Origin, x.Seq, x.HLC, x.Type, y.Origin, y.Seq, y.HLC, y.Type)
		}
		if (x.OccurredAt == nil) != (y.OccurredAt == nil) || x.OccurredAt != nil && !x.OccurredAt.Equal(*y.OccurredAt) {
			return fmt.Errorf("event %d: occurred_at %v / %v", i, x.OccurredAt, y.OccurredAt)
		}
		if !bytes.Equal(canonical(x.Payload), y.Payload) {
			return fmt.Errorf("event %d: payload %q / %q", i, x.Payload, y.Payload)
		}
	}
	return nil
}

// FuzzDecodeBatch feeds DecodeBatch either a raw message (zstd = false: the
// tag, the framing and the decompressor are fuzzed) or JSON that the target
// frames first (zstd = true: the fuzzer mutates the batch itself, which it
// could hardly do through the compression).
func FuzzDecodeBatch(f *testing.F) {
	one, many := seedBatch(1), seedBatch(200)
	f.Add(mustEncode(one), false)
	f.Add(mustEncode(many), false)
	f.Add(mustJSON(one), true)
	f.Add(mustJSON(many), true)
	f.Add(bomb(), false)
	f.Add(append([]byte{'J'}, mustJSON(one)...), false) // wrong tag
	msg := mustEncode(many)
	f.Add(msg[:len(msg)/2], false) // truncated frames
	f.Add(msg[:len(msg)-1], false)
	f.Add(msg[:5], false)
	f.Add([]byte{tagZstdJSON}, false)
	f.Add([]byte{}, false)
	f.Add(append(mustEncode(one), mustEncode(one)[1:]...), false) // two frames
	v2 := seedBatch(1)
	v2.V = 2
	f.Add(mustJSON(v2), true)
	foreign := seedBatch(3)
	foreign.Events[1] = seedEvents("byhuset-b", 1001, 1)[0]
	f.Add(mustJSON(foreign), true)
	notObject := seedBatch(2)
	notObject.Events[1].Payload = json.RawMessage(`["a list"]`)
	f.Add(mustJSON(notObject), true)
	f.Add(append(mustJSON(one), " {}"...), true) // trailing data
	f.Add([]byte(strings.Replace(string(mustJSON(one)), `"head":`, `"tail":1,"head":`, 1)), true)
	f.Add([]byte(`{"v":1,"origin":"n","municipality":"2161","head":2,"events":[`+
		`{"origin":"n","seq":1,"hlc":"9999-12-31T23:59:59.999Z/65535","type":"x","occurred_at":"2026-01-14T04:12:00.5+01:00","payload": { "a" : "<&>" } },`+
		`{"origin":"n","seq":2,"hlc":"1970-01-01T00:00:00.000Z/0","type":"x","occurred_at":null,"payload":{}}]}`), true) // edges
	f.Add([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[{"origin":"n","seq":0,"hlc":"1970-01-01T00:00:00.000Z/0","type":"x","occurred_at":null,"payload":{}}]}`), true)
	f.Add([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[{"origin":"n","seq":1,"hlc":"1970-01-01T00:00:00.000Z/0","type":"","occurred_at":null,"payload":{}}]}`), true)
	f.Add([]byte(`{"v":1,"origin":"n","municipality":"2161","head":0,"events":[]}`), true)

	f.Fuzz(func(t *testing.T, p []byte, zstd bool) {
		if zstd {
			p = frame(p)
		}
		b, err := DecodeBatch(p)
		if err != nil {
			classified(t, err)
			return
		}
		if len(p) > MaxMessage || p[0] != tagZstdJSON {
			t.Fatalf("accepted %d bytes with tag %q", len(p), p[0])
		}
		checkBatch(t, b)
		msg, err := EncodeBatch(b)
		if errors.Is(err, ErrTooLarge) {
			return // up to 8 MiB decompressed: our encoder may not squeeze it into 1 MiB as the sender did
		}
		if err != nil {
			t.Fatalf("an accepted batch does not encode: %v", err)
		}
		b2, err := DecodeBatch(msg)
		if err != nil {
			t.Fatalf("an accepted batch, encoded again, is refused: %v", err)
		}
		if err := equalBatch(b, b2); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if js, js2 := mustJSON(b), mustJSON(b2); !bytes.Equal(js, js2) {
			t.Fatalf("round trip: JSON differs:\n%s\n%s", js, js2)
		}
	})
}

func FuzzDecodeAck(f *testing.F) {
	f.Add(EncodeJSON(Ack{V: Version, Origin: "byhuset-a", Acked: 1199}))
	f.Add(EncodeJSON(Ack{V: Version, Origin: Central, Acked: 1<<64 - 1}))
	f.Add(EncodeJSON(Ack{V: 2, Origin: "byhuset-a", Acked: 1}))
	f.Add([]byte(`{"v":1,"origin":"byhuset-a","acked":-1}`))
	f.Add([]byte(`{"v":1,"origin":"byhuset-a","acked":3,"extra":true}`))
	f.Add([]byte(`{"v":1,"origin":"byhuset-a","acked":3} {}`))
	f.Add([]byte(`{"v":1,"origin":"byhuset-a","ack`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := DecodeAck(p)
		if len(p) > 4096 && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes: %v", len(p), err)
		}
		if err != nil {
			classified(t, err)
			return
		}
		if a.V != Version {
			t.Fatalf("accepted version %d", a.V)
		}
		a2, err := DecodeAck(EncodeJSON(a))
		if err != nil {
			t.Fatalf("an accepted ack, encoded again, is refused: %v", err)
		}
		if a2 != a {
			t.Fatalf("round trip: %+v / %+v", a, a2)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(EncodeJSON(Status{V: Version, State: "online", Birth: 7, Head: 1199, Down: 42}))
	f.Add(EncodeJSON(Status{V: Version, State: "offline", Birth: 7}))
	f.Add(EncodeJSON(Status{V: 2, State: "online", Birth: 1}))
	f.Add(EncodeJSON(Status{V: Version, State: "sleeping", Birth: 1}))
	f.Add([]byte(`{"v":1,"state":"online","birth":1,"mood":"good"}`))
	f.Add([]byte(`{"v":1,"state":"online","birth":1} []`))
	f.Add([]byte(`{"v":"1","state":"online","birth":1}`))
	f.Add([]byte(`{"v":1,"state":"onl`))
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeStatus(p)
		if len(p) > 4096 && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes: %v", len(p), err)
		}
		if err != nil {
			classified(t, err)
			return
		}
		if s.V != Version || s.State != "online" && s.State != "offline" {
			t.Fatalf("accepted %+v", s)
		}
		s2, err := DecodeStatus(EncodeJSON(s))
		if err != nil {
			t.Fatalf("an accepted status, encoded again, is refused: %v", err)
		}
		if s2 != s {
			t.Fatalf("round trip: %+v / %+v", s, s2)
		}
	})
}

func FuzzParseTopic(f *testing.F) {
	for _, k := range []string{KindUp, KindAck, KindStatus, KindDown, KindDownAck} {
		f.Add(Topic("2161", "byhuset-a", k))
	}
	f.Add(Topic("0180", "a", KindUp))
	f.Add(Topic("2161", strings.Repeat("n", 40), KindUp))
	f.Add(Topic("2161", strings.Repeat("n", 41), KindUp))
	f.Add("sp/v2/2161/byhuset-a/up")
	f.Add("sp/v1/216/byhuset-a/up")
	f.Add("sp/v1/2161/Byhuset-a/up")
	f.Add("sp/v1/2161/-a/up")
	f.Add("sp/v1/2161/byhuset-a/up/")
	f.Add("sp/v1/2161/+/up")
	f.Add("sp/v1/2161/byhuset-a/sideways")
	f.Add("sp/v1/2161/byhuset-a\n/up")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, n, k, ok := ParseTopic(s)
		if !ok {
			if m != "" || n != "" || k != "" {
				t.Fatalf("not ok, yet %q %q %q", m, n, k)
			}
			return
		}
		if got := Topic(m, n, k); got != s {
			t.Fatalf("ParseTopic(%q) = %q %q %q, which builds %q", s, m, n, k, got)
		}
		if len(m) != 4 || n == "" || len(n) > 40 || strings.ContainsAny(m+n+k, "/+#\x00") {
			t.Fatalf("ParseTopic(%q) accepted %q %q %q", s, m, n, k)
		}
	})
}
