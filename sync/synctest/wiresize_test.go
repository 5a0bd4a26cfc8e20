package synctest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// Realistic reports: what residents type at a point in a storm.
var (
	texts = []string{
		"Träd över vägen strax efter bron, går inte att köra förbi",
		"Strömmen har varit borta sedan i natt, frysen börjar tina",
		"Min granne (88 år) svarar inte i telefon, kan någon titta till henne?",
		"Vattnet är brunt och luktar konstigt",
		"Behöver laddning till syrgasapparat, batteriet räcker 3 timmar",
		"Elledning nere vid korsningen mot kyrkan",
		"Det är 12 grader inne och vi har två små barn",
		"Slut på mjölk och blöjor i butiken",
		"Vägen till sommarstugeområdet är översvämmad",
		"Mobilnätet fungerar inte alls här uppe vid masten",
		"Pumpen till brunnen går inte utan ström",
		"Äldre par i röda huset har ingen ved kvar",
	}
	places = []string{"Storvägen 12", "Bron vid Ljusnan", "Kyrkbacken", "Macken", "Skolan", "Gammelgården", ""}
)

func realisticEvents(origin string, n int, r *rand.Rand) []node.Event {
	start := time.Date(2026, 1, 14, 3, 12, 0, 0, time.UTC)
	out := make([]node.Event, n)
	for i := range out {
		at := start.Add(time.Duration(i) * 47 * time.Second)
		text := texts[r.IntN(len(texts))]
		if r.IntN(3) == 0 {
			text += ". " + texts[r.IntN(len(texts))]
		}
		text += fmt.Sprintf(" (%d)", r.IntN(1000)) // no two quite alike
		p, _ := json.Marshal(node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen),
			Category: node.Categories[r.IntN(len(node.Categories))], Text: text,
			Place: places[r.IntN(len(places))], Urgency: node.Urgencies[r.IntN(len(node.Urgencies))]})
		out[i] = node.Event{Origin: origin, Seq: uint64(1000 + i), HLC: node.MakeHLC(at.UnixMilli(), 0),
			Type: node.TypeReportCreated, OccurredAt: &at, Payload: p}
	}
	return out
}

// TestWireSize measures bytes per report event on the wire at several
// batch sizes: plain JSON against the wire's encoding (tag byte + zstd),
// and the encoder's memory. Its table is in docs/PROTOCOL.md; run with -v.
func TestWireSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// The encoder's memory: what the first EncodeBatch in this process
	// allocates and keeps (the package's encoder is made lazily by zstd).
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := wire.EncodeBatch(wire.Batch{Origin: "x", Municipality: "2161", Events: realisticEvents("x", 200, r)}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) >> 10
	t.Logf("heap after the first EncodeBatch in this process: %+d kB", kept)
	if kept > 12<<10 {
		t.Errorf("the wire's encoder keeps %d kB of heap: a node on a Pi pays that for its whole life", kept)
	}
	const rounds = 20
	type row struct {
		size              int
		plain, wire, fast float64
	}
	var rows []row
	fast, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	for _, size := range []int{1, 10, 50, 200} {
		var plain, enc, fst int
		for i := 0; i < rounds; i++ {
			b := wire.Batch{V: wire.Version, Origin: "byhuset-a", Municipality: "2161", Head: 1200,
				Events: realisticEvents("byhuset-a", size, r)}
			js, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := wire.EncodeBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			back, err := wire.DecodeBatch(msg)
			if err != nil || len(back.Events) != size {
				t.Fatalf("round trip of %d events: %d, %v", size, len(back.Events), err)
			}
			plain += len(js)
			enc += len(msg)
			fst += 1 + len(fast.EncodeAll(js, nil))
		}
		n := float64(rounds * size)
		rows = append(rows, row{size, float64(plain) / n, float64(enc) / n, float64(fst) / n})
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "| events per batch | plain JSON, bytes/event | wire (zstd), bytes/event | ratio | zstd fastest, bytes/event |\n")
	fmt.Fprintf(&tab, "|---:|---:|---:|---:|---:|\n")
	for _, rw := range rows {
		fmt.Fprintf(&tab, "| %d | %.0f | %.0f | %.2f | %.0f |\n", rw.size, rw.plain, rw.wire, rw.wire/rw.plain, rw.fast)
	}
	t.Logf("bytes per report event on the wire (%d batches each):\n%s", rounds, tab.String())
	// Compression must pay where it matters: batches of any size.
	for _, rw := range rows {
		if rw.size >= 10 && rw.wire > 0.6*rw.plain {
			t.Errorf("batch of %d: %.0f bytes/event compressed, %.0f plain: compression does not pay", rw.size, rw.wire, rw.plain)
		}
		if rw.size == 1 && rw.wire > rw.plain {
			t.Errorf("a single event grows when compressed: %.0f > %.0f", rw.wire, rw.plain)
		}
	}

}
