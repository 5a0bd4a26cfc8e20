package proctest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// Event is one event as `safepoint dump` prints it, and the line itself.
type Event struct {
	Raw        string
	Origin     string
	Seq        uint64
	HLC        node.HLC
	Type       string
	OccurredAt *time.Time
	Payload    map[string]any
}

// Dump runs `bin dump --data dir`, which must succeed and write nothing to
// its standard error, and parses its output with ParseDump.
func Dump(t testing.TB, bin, dir string) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := Run(ctx, bin, "", "dump", "--data", dir)
	if err != nil || r.Code != 0 {
		t.Fatalf("safepoint dump: %v; %s", err, r)
	}
	if r.Stderr != "" {
		t.Errorf("safepoint dump wrote to stderr: %s", r.Stderr)
	}
	return ParseDump(t, []byte(r.Stdout))
}

// ParseDump parses the output of `safepoint dump` strictly: every line one
// object with exactly the event's fields, the last one ended by a newline.
func ParseDump(t testing.TB, out []byte) []Event {
	t.Helper()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("dump output does not end in a newline: %q", out[max(0, len(out)-80):])
	}
	var events []Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			t.Fatalf("dump line %d is not a JSON object: %v: %s", n, err, raw)
		}
		want := []string{"origin", "seq", "hlc", "type", "occurred_at", "payload"}
		if len(fields) != len(want) {
			t.Fatalf("dump line %d has fields %v, want exactly %v", n, keys(fields), want)
		}
		for _, k := range want {
			if _, ok := fields[k]; !ok {
				t.Fatalf("dump line %d lacks %q: %s", n, k, raw)
			}
		}
		var e struct {
			Origin     string         `json:"origin"`
			Seq        uint64         `json:"seq"`
			HLC        string         `json:"hlc"`
			Type       string         `json:"type"`
			OccurredAt *time.Time     `json:"occurred_at"`
			Payload    map[string]any `json:"payload"`
		}
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatalf("dump line %d: %v: %s", n, err, raw)
		}
		h, err := node.ParseHLC(e.HLC)
		if err != nil {
			t.Fatalf("dump line %d: %v", n, err)
		}
		if e.Origin == "" || e.Type == "" || e.Payload == nil {
			t.Fatalf("dump line %d: empty origin, type or payload: %s", n, raw)
		}
		events = append(events, Event{Raw: raw, Origin: e.Origin, Seq: e.Seq, HLC: h, Type: e.Type,
			OccurredAt: e.OccurredAt, Payload: e.Payload})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading dump output: %v", err)
	}
	return events
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
