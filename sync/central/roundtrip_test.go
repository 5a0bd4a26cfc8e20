package central_test

// In-process tests of the whole uplink and downlink against a real
// mosquitto: node logs, links and central's receiver in this process, the
// broker beside it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// TestRoundTrip: three nodes in two municipalities send a mix of events,
// check-ins with personal data among them, some appended before the link
// runs and some while it does. Central ends up with exactly every node
// event (same origin, seq, hlc, payload bytes), the nodes' watermarks at
// their heads, central's view of each node right, and no personal string
// anywhere central or the wire ever had.
func TestRoundTrip(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	tmp := t.TempDir()
	mq, clog, recv := synctest.StartCentral(t, ctx, filepath.Join(tmp, "central"), nil)
	capture := synctest.StartCapture(t, mq.URL())

	nodes := threeNodes(t, tmp, nil)
	const before, during = 120, 180 // events per node before the link runs and while it does
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
		opts := link.Opts{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
		if i == 1 {
			opts.BatchSize, opts.InFlight = 7, 2 // many small batches, a narrow window
		}
		n.run(t, ctx, mq.URL(), opts)
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
	got := synctest.Events(t, &clog.Reader)
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
		all := synctest.Events(t, &n.log.Reader)
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

	// Central's situation picture holds each point as the point folds
	// itself: the same rules, the same events, the same View.
	pic := synctest.PictureOf(clog)
	for _, n := range nodes {
		got, ok := pic.View(n.id)
		if want := n.log.State().View(); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("central's picture of %s differs from its own fold", n.id)
		}
		p, ok := pic.Point(n.id, nil)
		if !ok || p.People.People == 0 || p.Needs.Open == 0 || p.LastHeard == nil || !p.Online {
			t.Errorf("central's summary of %s: %+v", n.id, p)
		}
	}
	if ps := pic.Points(func(m string) bool { return m == "0180" }); len(ps) != 1 || ps[0].ID != "skolan-c" {
		t.Errorf("points of 0180: %+v", ps)
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
	// Nor is any in the picture central's pages and exports are made of.
	for _, n := range nodes {
		tl, err := pic.Timeline(ctx, n.id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(tl)
		scan(t, "timeline of "+n.id, raw, markers)
	}
	raw, _ := json.Marshal(struct{ P, N, A any }{pic.Points(nil), pic.Needs(picture.NeedQuery{All: true}), pic.Alerts(nil)})
	scan(t, "central's picture", raw, markers)
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

// TestDownlinkRoundTrip: an announcement to one municipality reaches
// exactly its nodes, each acknowledges it and shows it, and central's
// account of the directive says so per node; a node of the municipality
// that is offline when it is sent gets it when it comes back an hour of
// simulated time later; a node of another municipality never sees it.
func TestDownlinkRoundTrip(t *testing.T) {
	ctx := synctest.Context(t, 90*time.Second)
	clock := &simClock{}
	tmp := t.TempDir()
	mq, _, recv := synctest.StartCentral(t, ctx, filepath.Join(tmp, "central"), clock.clock())

	nodes := threeNodes(t, tmp, clock)
	start := func(n *testNode) {
		n.run(t, ctx, mq.URL(), link.Opts{MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	}
	for _, n := range nodes {
		start(n)
	}
	online := func(id string, want bool) bool {
		for _, n := range recv.Nodes() {
			if n.ID == id {
				return n.Online == want
			}
		}
		return false
	}
	if !synctest.Eventually(20*time.Second, func() bool {
		return online("byhuset-a", true) && online("macken-b", true) && online("skolan-c", true)
	}) {
		t.Fatalf("central does not see all three nodes online: %+v", recv.Nodes())
	}
	// macken-b goes away.
	nodes[1].stop()
	if !synctest.Eventually(10*time.Second, func() bool { return online("macken-b", false) }) {
		t.Fatalf("macken-b still online at central: %+v", recv.Nodes())
	}

	until := clock.now().Add(3 * time.Hour).Truncate(time.Second).UTC()
	sent := time.Now()
	d, err := recv.Send(ctx, central.Draft{Kind: central.KindAnnouncement, Target: "municipality:2161", By: "kommunen",
		Type: node.TypeAnnouncementPublished, ValidUntil: &until,
		Payload: node.Announcement{ID: node.NewID(), Title: map[string]string{"sv": "Vatten", "en": "Water"},
			Body: map[string]string{"sv": "Vatten delas ut kl. 14."}, Severity: "info", ValidUntil: &until, Source: "kommunen"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(d); got != "byhuset-a macken-b" {
		t.Fatalf("targets %q, want byhuset-a macken-b", got)
	}
	state := func(node string) string {
		x, ok, err := recv.Directive(ctx, d.ID)
		if err != nil || !ok {
			t.Fatalf("directive %s: %v %v", d.ID, ok, err)
		}
		for _, n := range x.Nodes {
			if n.Node == node {
				return n.State
			}
		}
		return "absent"
	}
	if !synctest.Eventually(20*time.Second, func() bool { return state("byhuset-a") == "shown" }) {
		t.Fatalf("byhuset-a: %s, want shown", state("byhuset-a"))
	}
	t.Logf("sent to shown at the online node (stored, acknowledged, directive.shown back up): %v", time.Since(sent).Round(time.Millisecond))
	if s := state("macken-b"); s != "queued" {
		t.Fatalf("macken-b, offline: %s, want queued", s)
	}
	// An hour passes; macken-b comes back.
	clock.advance(time.Hour)
	back := time.Now()
	start(nodes[1])
	if !synctest.Eventually(30*time.Second, func() bool { return state("macken-b") == "shown" }) {
		t.Fatalf("macken-b after coming back: %s, want shown", state("macken-b"))
	}
	t.Logf("link start to shown at the node that came back: %v", time.Since(back).Round(time.Millisecond))
	x, _, _ := recv.Directive(ctx, d.ID)
	for _, n := range x.Nodes {
		if n.Delivered == nil || n.Shown == nil || n.Delivered.Before(n.Queued) {
			t.Errorf("%s: queued %v delivered %v shown %v", n.Node, n.Queued, n.Delivered, n.Shown)
		}
		if n.Node == "macken-b" && n.Delivered != nil && n.Delivered.Sub(n.Queued) < time.Hour {
			t.Errorf("macken-b delivered %v after queued, want at least the simulated hour", n.Delivered.Sub(n.Queued))
		}
	}
	for _, n := range nodes {
		marks, err := n.log.Watermarks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var fromCentral int
		for _, e := range synctest.Events(t, &n.log.Reader) {
			if e.Origin == wire.Central {
				fromCentral++
			}
		}
		_, has := n.log.State().Announcement(anID(t, x))
		want := n.municipality == "2161"
		if has != want || (marks[wire.Central] == 1) != want || (fromCentral == 1) != want || fromCentral > 1 {
			t.Errorf("%s: has announcement %v, downlink watermark %d, %d events from central; want it: %v",
				n.id, has, marks[wire.Central], fromCentral, want)
		}
	}
}

func targets(d central.Directive) string {
	s := ""
	for i, n := range d.Nodes {
		if i > 0 {
			s += " "
		}
		s += n.Node
	}
	return s
}

func anID(t *testing.T, d central.Directive) string {
	t.Helper()
	var p node.Announcement
	if err := json.Unmarshal(d.Payload, &p); err != nil || p.ID == "" {
		t.Fatalf("payload %s: %v", d.Payload, err)
	}
	return p.ID
}

// TestDirectivesList: the list counts each directive's targets, deliveries
// and shows, newest first.
func TestDirectivesList(t *testing.T) {
	ctx := synctest.Context(t, 30*time.Second)
	tmp := t.TempDir()
	mq, _, recv := synctest.StartCentral(t, ctx, filepath.Join(tmp, "central"), nil)
	for _, n := range []string{"a-1", "a-2"} {
		if err := recv.Register(ctx, n, "2161"); err != nil {
			t.Fatal(err)
		}
	}
	nlog := openLog(t, filepath.Join(tmp, "a-1"), "a-1")
	synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	var ids []string
	for _, state := range []string{"activated", "exercise"} {
		d, err := recv.Send(ctx, central.Draft{Kind: central.KindActivation, Target: "all", Type: node.TypePointActivation,
			Payload: node.PointActivation{State: state}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	var list []central.Summary
	if !synctest.Eventually(15*time.Second, func() bool {
		var err error
		list, err = recv.Directives(ctx, 10)
		return err == nil && len(list) == 2 && list[0].Shown == 1 && list[1].Shown == 1
	}) {
		t.Fatalf("directives %+v", list)
	}
	if list[0].ID != ids[1] || list[1].ID != ids[0] || list[0].Nodes != 2 || list[0].Delivered != 1 {
		t.Fatalf("want newest first, 2 nodes, 1 delivered (a-2 never connects): %+v", list)
	}
	if a := nlog.State().Activation(); a == nil || a.State != "exercise" {
		t.Fatalf("a-1's activation %+v, want exercise (the later directive)", a)
	}
}

// TestNeedEditedOnBothSides: a need's status changed at the point and at
// the office resolves the same way on both sides: the later edit wins, by
// the event model's rule (HLC), whichever arrives first.
func TestNeedEditedOnBothSides(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	clock := &simClock{}
	tmp := t.TempDir()
	mq, clog, recv := synctest.StartCentral(t, ctx, filepath.Join(tmp, "central"), clock.clock())
	nlog := openLogClock(t, filepath.Join(tmp, "byhuset-a"), "byhuset-a", clock)
	report := node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen), Category: "road", Text: "Träd över vägen", Urgency: "high"}
	if _, err := nlog.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: report}); err != nil {
		t.Fatal(err)
	}
	_, stop := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	// Central's view of the point is the point's own fold: the node's
	// events and the directives the node has acknowledged.
	status := func(l *eventlog.Log) string {
		// Central's log folds into its picture and has no State of its own.
		var v node.View
		if pic := synctest.PictureOf(l); pic != nil {
			v, _ = pic.View("byhuset-a")
		} else {
			v = l.State().View()
		}
		for _, r := range v.Reports {
			if r.ID == report.ID {
				return r.Status
			}
		}
		return "absent"
	}
	if !synctest.Eventually(20*time.Second, func() bool { return status(clog) == node.ReportNew }) {
		t.Fatalf("central never got the report: %s", status(clog))
	}
	stop() // the link is down while both sides edit
	setAt := func(l *eventlog.Log, s string) {
		if _, err := l.Append(ctx, node.Draft{Type: node.TypeReportStatusChanged, Payload: node.ReportStatusChanged{ID: report.ID, Status: s}}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(s string) {
		if _, err := recv.Send(ctx, central.Draft{Kind: central.KindReportStatus, Target: "node:byhuset-a",
			Type: node.TypeReportStatusChanged, Payload: node.ReportStatusChanged{ID: report.ID, Status: s, By: "kommunen"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Round 1: the point edits first, the office a minute later: the office wins.
	setAt(nlog, node.ReportInProgress)
	clock.advance(time.Minute)
	send(node.ReportResolved)
	// Until the link carries them, central shows the point as it last
	// heard it, and the directive as sent, not yet delivered.
	if status(clog) != node.ReportNew || status(nlog) != node.ReportInProgress {
		t.Fatalf("before sync: central %s, node %s", status(clog), status(nlog))
	}
	_, stop = synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	if !synctest.Eventually(20*time.Second, func() bool {
		return status(nlog) == node.ReportResolved && status(clog) == node.ReportResolved && nlog.Head() == mustAcked(t, nlog)
	}) {
		t.Fatalf("round 1: central %s, node %s; want resolved on both", status(clog), status(nlog))
	}
	stop()
	// Round 2: the office first, the point later: the point wins.
	send(node.ReportAcknowledged)
	clock.advance(time.Minute)
	setAt(nlog, node.ReportInProgress)
	synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	if !synctest.Eventually(20*time.Second, func() bool {
		return status(nlog) == node.ReportInProgress && status(clog) == node.ReportInProgress && nlog.Head() == mustAcked(t, nlog)
	}) {
		t.Fatalf("round 2: central %s, node %s; want in_progress on both", status(clog), status(nlog))
	}
	// And central's picture survives its restart: written out, then
	// resumed, with the delivered directives folded again.
	if _, err := recv.Send(ctx, central.Draft{ID: "ann-restart", Kind: central.KindAnnouncement, Target: "all", Type: node.TypeAnnouncementPublished,
		Payload: node.Announcement{ID: "ann-restart", Title: map[string]string{"sv": "Kvar"}, Severity: "info"}}); err != nil {
		t.Fatal(err)
	}
	announced := func(l *eventlog.Log) bool {
		v, _ := synctest.PictureOf(l).View("byhuset-a")
		return slices.ContainsFunc(v.Announcements, func(a node.Announcement) bool { return a.ID == "ann-restart" })
	}
	if !synctest.Eventually(20*time.Second, func() bool { return announced(clog) }) {
		t.Fatal("the announcement never reached the point's picture")
	}
	if err := synctest.PictureOf(clog).Save(ctx); err != nil {
		t.Fatal(err)
	}
	clog.Close()
	clog2 := openLogClock(t, filepath.Join(tmp, "central"), "central", clock)
	if _, err := central.New(central.Opts{Broker: mq.URL(), Log: clog2, Store: synctest.OpenStore(t, clog2), Picture: synctest.PictureOf(clog2)}); err != nil {
		t.Fatal(err)
	}
	if status(clog2) != node.ReportInProgress || !announced(clog2) {
		t.Fatalf("after central's restart: report %s, announcement there: %v", status(clog2), announced(clog2))
	}
}

func mustAcked(t *testing.T, l *eventlog.Log) uint64 {
	acked, err := l.PeerAcked(context.Background(), link.Peer)
	if err != nil {
		t.Fatal(err)
	}
	return acked
}

// TestWithdrawal: an announcement withdrawn at central is withdrawn at the
// nodes that have it, and a node central first hears of afterwards does
// not get it at all.
func TestWithdrawal(t *testing.T) {
	ctx := synctest.Context(t, 30*time.Second)
	tmp := t.TempDir()
	mq, _, recv := synctest.StartCentral(t, ctx, filepath.Join(tmp, "central"), nil)
	if err := recv.Register(ctx, "a-1", "2161"); err != nil {
		t.Fatal(err)
	}
	nlog := openLog(t, filepath.Join(tmp, "a-1"), "a-1")
	synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	ann, err := recv.Send(ctx, central.Draft{ID: "storm-1", Kind: central.KindAnnouncement, Target: "all", Type: node.TypeAnnouncementPublished,
		Payload: node.Announcement{ID: "storm-1", Title: map[string]string{"sv": "Storm"}, Severity: "warning", Source: "kommunen"}})
	if err != nil {
		t.Fatal(err)
	}
	if !synctest.Eventually(10*time.Second, func() bool { a, ok := nlog.State().Announcement("storm-1"); return ok && !a.Withdrawn }) {
		t.Fatal("the announcement did not arrive")
	}
	if _, err := recv.Send(ctx, central.Draft{Kind: central.KindWithdrawal, Target: ann.Target, Type: node.TypeAnnouncementWithdrawn,
		Payload: node.AnnouncementWithdrawn{ID: "storm-1"}}); err != nil {
		t.Fatal(err)
	}
	if !synctest.Eventually(10*time.Second, func() bool { a, _ := nlog.State().Announcement("storm-1"); return a.Withdrawn }) {
		t.Fatal("the withdrawal did not arrive")
	}
	if err := recv.Register(ctx, "a-2", "2161"); err != nil {
		t.Fatal(err)
	}
	late := openLog(t, filepath.Join(tmp, "a-2"), "a-2")
	lk, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: late})
	if !synctest.Eventually(10*time.Second, func() bool { return lk.Status().Online }) {
		t.Fatal("a-2 did not come online")
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := late.State().Announcement("storm-1"); ok {
		t.Fatal("a node registered after the withdrawal got the withdrawn announcement")
	}
}
