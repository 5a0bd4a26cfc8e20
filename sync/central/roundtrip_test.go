package central_test

// In-process tests of the whole uplink against a real mosquitto: node logs,
// links and central's receiver in this process, the broker beside it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

func openLog(t *testing.T, dir, origin string) *eventlog.Log {
	return synctest.OpenLog(t, dir, origin, nil)
}

// startCentral runs a receiver on log until the test ends.
func startCentral(t *testing.T, ctx context.Context, broker string, log *eventlog.Log) *central.Receiver {
	return synctest.RunCentral(t, ctx, central.Opts{Broker: broker, Log: log})
}

// startLink runs a node's link until the test ends (or stop is called).
func startLink(t *testing.T, ctx context.Context, opts link.Opts) (*link.Link, func()) {
	return synctest.RunLink(t, ctx, opts)
}

func events(t *testing.T, r *eventlog.Reader) []node.Event {
	t.Helper()
	var out []node.Event
	if err := r.Events(context.Background(), func(e node.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

type testNode struct {
	id, municipality string
	log              *eventlog.Log
	link             *link.Link
	personal         []string // the personal strings its check-ins carried
	checkins         []string // their ids
}

// TestRoundTrip: three nodes in two municipalities send a mix of events,
// check-ins with personal data among them, some appended before the link
// runs and some while it does. Central ends up with exactly every node
// event (same origin, seq, hlc, payload bytes), the nodes' watermarks at
// their heads, central's view of each node right, and no personal string
// anywhere central or the wire ever had.
func TestRoundTrip(t *testing.T) {
	mq := synctest.StartMosquitto(t)
	capture := synctest.StartCapture(t, mq.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	tmp := t.TempDir()
	clog := openLog(t, filepath.Join(tmp, "central"), "central")
	recv := startCentral(t, ctx, mq.URL(), clog)

	nodes := []*testNode{
		{id: "byhuset-a", municipality: "2161"},
		{id: "macken-b", municipality: "2161"},
		{id: "skolan-c", municipality: "0180"},
	}
	const before, during = 120, 180 // events per node before the link runs and while it does
	for _, n := range nodes {
		n.log = openLog(t, filepath.Join(tmp, n.id), n.id)
	}
	var wg sync.WaitGroup
	appendMix := func(n *testNode, from, count int) {
		defer wg.Done()
		for i := from; i < from+count; i++ {
			d := draft(n, i)
			e, err := n.log.Append(ctx, d)
			if err != nil {
				t.Errorf("%s: append %d: %v", n.id, i, err)
				return
			}
			if !d.Personal.Empty() {
				n.checkins = append(n.checkins, d.PersonalKey)
				n.personal = append(n.personal, d.Personal.Name, d.Personal.Contact, d.Personal.Details)
				if e.Type != node.TypeCheckInCreated {
					t.Errorf("check-in appended as %s", e.Type)
				}
			}
			if i%17 == 0 {
				time.Sleep(time.Millisecond) // spread appends over the link's life
			}
		}
	}
	for _, n := range nodes {
		wg.Add(1)
		appendMix(n, 0, before)
	}
	for i, n := range nodes {
		opts := link.Opts{Broker: mq.URL(), Municipality: n.municipality, Log: n.log,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
		if i == 1 {
			opts.BatchSize, opts.InFlight = 7, 2 // many small batches, a narrow window
		}
		n.link, _ = startLink(t, ctx, opts)
	}
	for _, n := range nodes {
		wg.Add(1)
		go appendMix(n, before, during)
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every node acknowledged up to its head.
	for _, n := range nodes {
		head := n.log.Head()
		if head != before+during {
			t.Fatalf("%s: head %d, want %d", n.id, head, before+during)
		}
		if !synctest.Eventually(30*time.Second, func() bool {
			st := n.link.Status()
			return st.Acked == head && st.Backlog == 0
		}) {
			t.Fatalf("%s: not acknowledged within 30 s: %+v, head %d", n.id, n.link.Status(), head)
		}
		acked, err := n.log.PeerAcked(ctx, link.Peer)
		if err != nil || acked != head {
			t.Errorf("%s: stored watermark %d (%v), want the head %d", n.id, acked, err, head)
		}
		if st := n.link.Status(); !st.Online || st.LastSync == nil {
			t.Errorf("%s: link status %+v, want online with a last sync", n.id, st)
		}
	}

	// Central holds exactly the nodes' events, byte for byte.
	got := events(t, &clog.Reader)
	byKey := map[string]node.Event{}
	for _, e := range got {
		k := fmt.Sprintf("%s/%d", e.Origin, e.Seq)
		if _, dup := byKey[k]; dup {
			t.Errorf("central holds %s twice", k)
		}
		byKey[k] = e
	}
	want := 0
	for _, n := range nodes {
		own, err := n.log.EventsAfter(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		all := events(t, &n.log.Reader)
		if len(all) != len(own) {
			t.Errorf("%s: EventsAfter gave %d events, Events %d", n.id, len(own), len(all))
		}
		want += len(own)
		for _, e := range own {
			k := fmt.Sprintf("%s/%d", e.Origin, e.Seq)
			c, ok := byKey[k]
			switch {
			case !ok:
				t.Errorf("central lacks %s", k)
			case c.HLC != e.HLC || c.Type != e.Type || !bytes.Equal(c.Payload, e.Payload) || !sameTime(c.OccurredAt, e.OccurredAt):
				t.Errorf("central's %s differs:\n got %+v %s\nwant %+v %s", k, c, c.Payload, e, e.Payload)
			}
		}
	}
	if len(got) != want {
		t.Errorf("central holds %d events, the nodes %d: extra events", len(got), want)
	}
	marks, err := clog.Watermarks(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Central's view of each node (GET /api/nodes).
	seen := map[string]central.Node{}
	for _, cn := range recv.Nodes() {
		seen[cn.ID] = cn
	}
	if len(seen) != len(nodes) {
		t.Errorf("central knows %d nodes, want %d: %+v", len(seen), len(nodes), recv.Nodes())
	}
	for _, n := range nodes {
		cn, ok := seen[n.id]
		head := n.log.Head()
		switch {
		case !ok:
			t.Errorf("central does not know %s", n.id)
		case cn.Municipality != n.municipality || !cn.Online || cn.AckedSeq != head || cn.Backlog != 0 || cn.LastSeen == nil:
			t.Errorf("central's view of %s: %+v, want municipality %s, online, acked %d, backlog 0, last seen",
				n.id, cn, n.municipality, head)
		}
		if marks[n.id] != head {
			t.Errorf("central's stored watermark for %s: %d, want %d", n.id, marks[n.id], head)
		}
	}

	// Nothing personal left the node. The test is not vacuous: each node
	// holds the personal data, and its check-ins did reach central.
	var markers []string
	var checkins int
	for _, n := range nodes {
		if len(n.checkins) == 0 {
			t.Fatalf("%s appended no check-in with personal data", n.id)
		}
		for _, id := range n.checkins {
			p, ok, err := n.log.Personal(ctx, id)
			if err != nil || !ok || p.Name == "" {
				t.Errorf("%s: personal data of %s not held at the node: %+v %v %v", n.id, id, p, ok, err)
			}
		}
		markers = append(markers, n.personal...)
	}
	for _, e := range got {
		if e.Type == node.TypeCheckInCreated {
			checkins++
			if !bytes.Contains(e.Payload, []byte(`"personal":true`)) {
				t.Errorf("check-in %s/%d without personal:true: %s", e.Origin, e.Seq, e.Payload)
			}
		}
		scan(t, "central's event "+e.Origin+"/"+fmt.Sprint(e.Seq), e.Payload, markers)
	}
	if checkins == 0 {
		t.Fatal("no check-in reached central")
	}
	// Central's files on disk (database, WAL).
	files, _ := filepath.Glob(filepath.Join(tmp, "central", "*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scan(t, "central's file "+filepath.Base(f), raw, markers)
	}
	// Everything that crossed the broker.
	msgs := capture.Messages()
	var batches, batchEvents int
	for _, m := range msgs {
		_, _, kind, ok := wire.ParseTopic(m.Topic)
		if !ok {
			t.Errorf("message on an unexpected topic %q", m.Topic)
			continue
		}
		scan(t, "message on "+m.Topic, m.Payload, markers)
		if kind == wire.KindUp {
			b, err := wire.DecodeBatch(m.Payload)
			if err != nil {
				t.Errorf("undecodable batch on %s: %v", m.Topic, err)
				continue
			}
			batches++
			batchEvents += len(b.Events)
			js, _ := jsonOf(b)
			scan(t, "batch on "+m.Topic, js, markers)
		}
	}
	if batches == 0 {
		t.Fatal("the capture saw no batch: the wire scan proved nothing")
	}
	t.Logf("central holds %d events of %d nodes (%d check-ins); the wire carried %d messages, %d batches with %d events; %d personal strings, none found",
		len(got), len(nodes), checkins, len(msgs), batches, batchEvents, len(markers))
}

var services = []string{"warmth", "charging", "water", "wifi"}

// draft is event i of a node: reports, check-ins with personal data,
// service changes, now and then an occurred_at in the past.
func draft(n *testNode, i int) node.Draft {
	switch i % 4 {
	case 0, 2:
		return node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: node.NewID(),
			Receipt: node.NewCode(node.ReceiptLen), Category: "road",
			Text: fmt.Sprintf("Träd över vägen vid %s, nr %d – ”åtgärd” behövs", n.id, i), Place: "Storvägen " + fmt.Sprint(i),
			Urgency: "normal"}}
	case 1:
		id := node.NewID()
		tag := fmt.Sprintf("%s-%d-%s", n.id, i, node.NewCode(6))
		var occurred *time.Time
		if i%8 == 1 { // a paper check-in typed in later
			t := time.Now().Add(-90 * time.Minute).UTC().Truncate(time.Millisecond)
			occurred = &t
		}
		return node.Draft{Type: node.TypeCheckInCreated, OccurredAt: occurred,
			Payload: node.CheckInCreated{ID: id, Receipt: node.NewCode(node.ReceiptLen), Household: node.NewCode(6),
				Size: 1 + i%4, Status: "needs_help", Need: "medical", Personal: true},
			Personal:    node.Personal{Name: "Märta Personnamn " + tag, Contact: "070-PERS-" + tag, Details: "Insulin i kylen " + tag},
			PersonalKey: id}
	default:
		return node.Draft{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{
			Service: services[i%len(services)], Status: node.ServiceStatuses[i%3], Note: "notis " + fmt.Sprint(i)}}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// scan fails the test if data holds any marker, or a marker's unique tail
// (in case an encoder escaped its non-ASCII letters).
func scan(t *testing.T, where string, data []byte, markers []string) {
	t.Helper()
	for _, m := range markers {
		tail := m[strings.LastIndex(m, " ")+1:]
		if bytes.Contains(data, []byte(m)) || bytes.Contains(data, []byte(tail)) {
			t.Errorf("personal string %q found in %s", m, where)
		}
	}
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }
