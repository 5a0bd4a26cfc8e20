package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The refusals of docs/PROTOCOL.md that the wire package decides, one by
// one, with the error each is refused with. sync/central's TestHostileInput
// sends the same kinds of message through a broker and checks that central
// counts them and stores nothing; here the decoder alone, its error classes
// and the limits to the byte.

// small is one well-formed event as JSON, for hand-written batches.
const small = `{"origin":"n","seq":1,"hlc":"2026-01-14T03:12:00.000Z/0","type":"x","occurred_at":null,"payload":{}}`

// streamFrame compresses without a declared content size, as a streaming
// encoder does: the receiver cannot tell the size before decompressing.
func streamFrame(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(tagZstdJSON)
	enc, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zeroStream is a bomb without a declared size: n zero bytes, streamed.
func zeroStream(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(tagZstdJSON)
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for ; n > 0; n -= len(chunk) {
		if _, err := enc.Write(chunk[:min(n, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// skippable is a zstd skippable frame of n bytes in all (n ≥ 8): padding a
// decoder must step over.
func skippable(n int) []byte {
	f := make([]byte, n)
	binary.LittleEndian.PutUint32(f, 0x184D2A50)
	binary.LittleEndian.PutUint32(f[4:], uint32(n-8))
	return f
}

// bigJSON is a one-event batch whose JSON is exactly n bytes long.
func bigJSON(n int) []byte {
	head := `{"v":1,"origin":"n","municipality":"2161","head":1,"events":[{"origin":"n","seq":1,"hlc":"2026-01-14T03:12:00.000Z/0","type":"x","occurred_at":null,"payload":{"t":"`
	tail := `"}}]}`
	return []byte(head + strings.Repeat("A", n-len(head)-len(tail)) + tail)
}

func TestDecodeBatchRefusals(t *testing.T) {
	good := seedBatch(3)
	with := func(edit func(b *Batch)) []byte {
		b := seedBatch(3)
		edit(&b)
		return frame(mustJSON(b))
	}
	oversized := make([]byte, MaxMessage+1)
	oversized[0] = tagZstdJSON
	msg := mustEncode(good)
	tooMany := seedBatch(MaxEvents + 1)
	// "A batch over 8 MiB once decompressed" is refused as too large,
	// whether the zstd decoder stops it (its size limit) or the check after.
	bombErr := []error{ErrTooLarge}

	for _, c := range []struct {
		name string
		msg  []byte
		want []error // any of
	}{
		{"message over 1 MiB", oversized, []error{ErrTooLarge}},
		{"message over 1 MiB, well-formed but padded", append(mustEncode(good), skippable(MaxMessage+1-len(msg))...), []error{ErrTooLarge}},
		{"zstd bomb with a declared size", bomb(), bombErr},
		{"zstd bomb without a declared size", zeroStream(t, 64<<20), bombErr},
		{"well-formed batch 1 byte over 8 MiB decompressed", frame(bigJSON(MaxDecompressed + 1)), bombErr},
		{"empty", nil, []error{ErrFormat}},
		{"tag only", []byte{tagZstdJSON}, []error{ErrFormat}},
		{"format tag J", append([]byte{'J'}, mustJSON(good)...), []error{ErrFormat}},
		{"plain JSON, no tag", mustJSON(good), []error{ErrFormat}},
		{"broken zstd", []byte("Z\x28\xb5\x2f\xfd garbage"), []error{ErrFormat}},
		{"truncated frame", msg[:len(msg)-3], []error{ErrFormat}},
		{"zstd of not JSON", frame([]byte("not json at all")), []error{ErrFormat}},
		{"JSON not an object", frame([]byte(`[1,2,3]`)), []error{ErrFormat}},
		{"wrong type", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":"1","events":[` + small + `]}`)), []error{ErrFormat}},
		{"unknown field", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[` + small + `],"extra":1}`)), []error{ErrFormat}},
		{"unknown field in an event", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[` + strings.Replace(small, `"seq"`, `"x":1,"seq"`, 1) + `]}`)), []error{ErrFormat}},
		{"trailing data", frame(append(mustJSON(good), " {}"...)), []error{ErrFormat}},
		{"trailing garbage", frame(append(mustJSON(good), "x"...)), []error{ErrFormat}},
		{"version 0", frame([]byte(`{"origin":"n","municipality":"2161","head":1,"events":[` + small + `]}`)), []error{ErrVersion}},
		{"version 2", with(func(b *Batch) { b.V = 2 }), []error{ErrVersion}},
		{"no events", with(func(b *Batch) { b.Events = nil }), []error{ErrFormat}},
		{"events empty", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":0,"events":[]}`)), []error{ErrFormat}},
		{"more than 1000 events", frame(mustJSON(tooMany)), []error{ErrFormat}},
		{"event of another origin", with(func(b *Batch) { b.Events[1].Origin = "byhuset-b" }), []error{ErrFormat}},
		{"batch origin differs from its events'", with(func(b *Batch) { b.Origin = "byhuset-b" }), []error{ErrFormat}},
		{"seq repeated", with(func(b *Batch) { b.Events[2].Seq = b.Events[1].Seq }), []error{ErrFormat}},
		{"seq falling", with(func(b *Batch) { b.Events[0].Seq, b.Events[1].Seq = b.Events[1].Seq, b.Events[0].Seq }), []error{ErrFormat}},
		{"seq 0", with(func(b *Batch) { b.Events = b.Events[:1]; b.Events[0].Seq = 0 }), []error{ErrFormat}},
		{"empty type", with(func(b *Batch) { b.Events[2].Type = "" }), []error{ErrFormat}},
		{"payload a string", with(func(b *Batch) { b.Events[0].Payload = json.RawMessage(`"just a string"`) }), []error{ErrFormat}},
		{"payload an array", with(func(b *Batch) { b.Events[0].Payload = json.RawMessage(`[{}]`) }), []error{ErrFormat}},
		{"payload a number", with(func(b *Batch) { b.Events[0].Payload = json.RawMessage(`1`) }), []error{ErrFormat}},
		{"payload null", with(func(b *Batch) { b.Events[0].Payload = json.RawMessage(`null`) }), []error{ErrFormat}},
		{"payload missing", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[` + strings.Replace(small, `,"payload":{}`, ``, 1) + `]}`)), []error{ErrFormat}},
		{"hlc malformed", frame([]byte(`{"v":1,"origin":"n","municipality":"2161","head":1,"events":[` + strings.Replace(small, `/0"`, `"`, 1) + `]}`)), []error{ErrFormat}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := DecodeBatch(c.msg)
			if err == nil {
				t.Fatalf("accepted: %s with %d events", b.Origin, len(b.Events))
			}
			for _, w := range c.want {
				if errors.Is(err, w) {
					return
				}
			}
			t.Fatalf("refused with %v, want %v", err, c.want)
		})
	}
}

// TestBatchLimits: the limits of PROTOCOL.md "Limits" hold to the byte and
// to the event: at the limit accepted, one over refused (the table above).
func TestBatchLimits(t *testing.T) {
	accept := func(name string, msg []byte) Batch {
		t.Helper()
		b, err := DecodeBatch(msg)
		if err != nil {
			t.Fatalf("%s: refused: %v", name, err)
		}
		return b
	}
	one := seedBatch(1)
	msg := mustEncode(one)
	if b := accept("1 MiB exactly", append(msg, skippable(MaxMessage-len(msg))...)); equalBatch(one, b) != nil {
		t.Errorf("1 MiB exactly: %v", equalBatch(one, b))
	}
	if b := accept("8 MiB decompressed exactly", frame(bigJSON(MaxDecompressed))); len(b.Events) != 1 {
		t.Errorf("8 MiB decompressed: %d events", len(b.Events))
	}
	if b := accept("8 MiB decompressed exactly, no declared size", streamFrame(t, bigJSON(MaxDecompressed))); len(b.Events) != 1 {
		t.Errorf("8 MiB decompressed, streamed: %d events", len(b.Events))
	}
	full := seedBatch(MaxEvents)
	if b := accept("1000 events", mustEncode(full)); equalBatch(full, b) != nil {
		t.Errorf("1000 events: %v", equalBatch(full, b))
	}
}

// TestEncodeBatchTooLarge: a node does not send what central would refuse.
func TestEncodeBatchTooLarge(t *testing.T) {
	b := seedBatch(4)
	for i := range b.Events {
		noise := make([]byte, 300<<10) // incompressible: 4 × 400 kB of base64 of random bytes
		rand.Read(noise)
		b.Events[i].Payload = mustJSON(map[string]string{"blob": base64.StdEncoding.EncodeToString(noise)})
	}
	if msg, err := EncodeBatch(b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encoded %d bytes, err %v", len(msg), err)
	}
	// EncodeBatch sets the version whatever the caller left in V.
	one := seedBatch(1)
	one.V = 0
	b2, err := DecodeBatch(mustEncode(one))
	if err != nil || b2.V != Version {
		t.Fatalf("V = %d, %v", b2.V, err)
	}
}

// TestBombMemory: a zstd bomb is refused at MaxDecompressed, not after
// decompressing all of it (here 256 MiB, in a frame of some 20 kB).
func TestBombMemory(t *testing.T) {
	msg := zeroStream(t, 256<<20)
	if len(msg) > MaxMessage {
		t.Fatalf("the bomb is %d bytes", len(msg))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeBatch(msg)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted")
	}
	// Some 50 MiB whatever the bomb's size (growing the output to 8 MiB
	// reallocates it several times); unbounded, it would be over 256 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*MaxDecompressed {
		t.Fatalf("decoding the bomb allocated %d MiB", alloc>>20)
	}
}

func TestDecodeSmallRefusals(t *testing.T) {
	pad := func(js string, n int) []byte { return []byte(js + strings.Repeat(" ", n-len(js))) }
	ack := `{"v":1,"origin":"byhuset-a","acked":3}`
	st := `{"v":1,"state":"online","birth":2,"head":9,"down":4}`
	for _, c := range []struct {
		name   string
		status bool // DecodeStatus, else DecodeAck
		msg    []byte
		want   error // nil: accepted
	}{
		{"ack", false, []byte(ack), nil},
		{"ack of 4096 bytes", false, pad(ack, 4096), nil},
		{"ack of 4097 bytes", false, pad(ack, 4097), ErrTooLarge},
		{"ack version 0", false, []byte(`{"origin":"byhuset-a","acked":3}`), ErrVersion},
		{"ack version 2", false, []byte(`{"v":2,"origin":"byhuset-a","acked":3}`), ErrVersion},
		{"ack unknown field", false, []byte(`{"v":1,"origin":"byhuset-a","acked":3,"nacked":4}`), ErrFormat},
		{"ack negative", false, []byte(`{"v":1,"origin":"byhuset-a","acked":-3}`), ErrFormat},
		{"ack truncated", false, []byte(ack[:20]), ErrFormat},
		{"ack empty", false, nil, ErrFormat},
		{"ack with trailing data", false, []byte(ack + ` {}`), ErrFormat},
		{"status with trailing data", true, []byte(st + `x`), ErrFormat},
		{"status online", true, []byte(st), nil},
		{"status offline", true, []byte(`{"v":1,"state":"offline","birth":2}`), nil},
		{"status of 4096 bytes", true, pad(st, 4096), nil},
		{"status of 4097 bytes", true, pad(st, 4097), ErrTooLarge},
		{"status unknown state", true, []byte(`{"v":1,"state":"asleep","birth":2}`), ErrFormat},
		{"status no state", true, []byte(`{"v":1,"birth":2}`), ErrFormat},
		{"status state in capitals", true, []byte(`{"v":1,"state":"ONLINE","birth":2}`), ErrFormat},
		{"status version 0", true, []byte(`{"state":"online","birth":2}`), ErrVersion},
		{"status version 2", true, []byte(`{"v":2,"state":"online","birth":2}`), ErrVersion},
		{"status unknown field", true, []byte(`{"v":1,"state":"online","birth":2,"mood":"good"}`), ErrFormat},
		{"status wrong type", true, []byte(`{"v":1,"state":"online","birth":"2"}`), ErrFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.status {
				_, err = DecodeStatus(c.msg)
			} else {
				_, err = DecodeAck(c.msg)
			}
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestSmallRoundTrip(t *testing.T) {
	a := Ack{V: Version, Origin: "byhuset-a", Acked: 1<<64 - 1}
	if got, err := DecodeAck(EncodeJSON(a)); err != nil || got != a {
		t.Errorf("ack: %+v, %v", got, err)
	}
	for _, s := range []Status{
		{V: Version, State: "online", Birth: 3, Head: 1199, Down: 42},
		{V: Version, State: "offline", Birth: 3},
	} {
		if got, err := DecodeStatus(EncodeJSON(s)); err != nil || got != s {
			t.Errorf("status: %+v, %v", got, err)
		}
	}
}

func TestParseTopic(t *testing.T) {
	for _, k := range []string{KindUp, KindAck, KindStatus, KindDown, KindDownAck} {
		top := Topic("2161", "byhuset-a", k)
		m, n, kind, ok := ParseTopic(top)
		if !ok || m != "2161" || n != "byhuset-a" || kind != k {
			t.Errorf("%s: %q %q %q %v", top, m, n, kind, ok)
		}
	}
	if _, n, _, ok := ParseTopic(Topic("0180", strings.Repeat("9", 40), KindUp)); !ok || len(n) != 40 {
		t.Errorf("a node id of 40 characters: %q %v", n, ok)
	}
	for _, top := range []string{
		"",
		"sp/v1/2161/byhuset-a",
		"sp/v1/2161/byhuset-a/up/more",
		"sp/v1/2161/byhuset-a/up/",
		"/sp/v1/2161/byhuset-a/up",
		"xp/v1/2161/byhuset-a/up",
		"sp/v2/2161/byhuset-a/up",
		"sp/V1/2161/byhuset-a/up",
		"sp/v1/216/byhuset-a/up",
		"sp/v1/21610/byhuset-a/up",
		"sp/v1/21a1/byhuset-a/up",
		"sp/v1/2161//up",
		"sp/v1/2161/Byhuset-a/up",
		"sp/v1/2161/-byhuset/up",
		"sp/v1/2161/byhuset_a/up",
		"sp/v1/2161/byhuset-a\n/up",
		"sp/v1/2161/" + strings.Repeat("n", 41) + "/up",
		"sp/v1/2161/+/up",
		"sp/v1/2161/#/up",
		"sp/v1/2161/byhuset-a/UP",
		"sp/v1/2161/byhuset-a/sideways",
	} {
		if m, n, k, ok := ParseTopic(top); ok || m != "" || n != "" || k != "" {
			t.Errorf("%q: %q %q %q %v", top, m, n, k, ok)
		}
	}
}
