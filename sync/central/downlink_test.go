package central_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// simClock is wall time that a test can move forward: every log of the
// test (central's and the nodes') runs on it.
type simClock struct{ offset atomic.Int64 }

func (c *simClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *simClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func openLogClock(t *testing.T, dir, origin string, c *simClock) *eventlog.Log {
	return synctest.OpenLog(t, dir, origin, node.NewClock(c.now))
}

// TestDownlinkRoundTrip: an announcement to one municipality reaches
// exactly its nodes, each acknowledges it and shows it, and central's
// account of the directive says so per node; a node of the municipality
// that is offline when it is sent gets it when it comes back an hour of
// simulated time later; a node of another municipality never sees it.
func TestDownlinkRoundTrip(t *testing.T) {
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	clock := &simClock{}
	tmp := t.TempDir()
	clog := openLogClock(t, filepath.Join(tmp, "central"), "central", clock)
	recv := startCentral(t, ctx, mq.URL(), clog)

	type tn struct {
		id, municipality string
		log              *eventlog.Log
		stop             func()
	}
	nodes := []*tn{{id: "byhuset-a", municipality: "2161"}, {id: "macken-b", municipality: "2161"},
		{id: "skolan-c", municipality: "0180"}}
	start := func(n *tn) {
		_, n.stop = startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: n.municipality, Log: n.log,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	}
	for _, n := range nodes {
		n.log = openLogClock(t, filepath.Join(tmp, n.id), n.id, clock)
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
		for _, e := range events(t, &n.log.Reader) {
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
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tmp := t.TempDir()
	recv := startCentral(t, ctx, mq.URL(), openLog(t, filepath.Join(tmp, "central"), "central"))
	for _, n := range []string{"a-1", "a-2"} {
		if err := recv.Register(ctx, n, "2161"); err != nil {
			t.Fatal(err)
		}
	}
	nlog := openLog(t, filepath.Join(tmp, "a-1"), "a-1")
	startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
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
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clock := &simClock{}
	tmp := t.TempDir()
	clog := openLogClock(t, filepath.Join(tmp, "central"), "central", clock)
	recv := startCentral(t, ctx, mq.URL(), clog)
	nlog := openLogClock(t, filepath.Join(tmp, "byhuset-a"), "byhuset-a", clock)
	report := node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen), Category: "road", Text: "Träd över vägen", Urgency: "high"}
	if _, err := nlog.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: report}); err != nil {
		t.Fatal(err)
	}
	_, stop := startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	status := func(l *eventlog.Log) string {
		for _, r := range l.State().View().Reports {
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
	if status(clog) != node.ReportResolved || status(nlog) != node.ReportInProgress {
		t.Fatalf("before sync: central %s, node %s", status(clog), status(nlog))
	}
	_, stop = startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
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
	startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
	if !synctest.Eventually(20*time.Second, func() bool {
		return status(nlog) == node.ReportInProgress && status(clog) == node.ReportInProgress && nlog.Head() == mustAcked(t, nlog)
	}) {
		t.Fatalf("round 2: central %s, node %s; want in_progress on both", status(clog), status(nlog))
	}
	// And central's picture survives its restart (directives folded again).
	if _, err := recv.Send(ctx, central.Draft{ID: "ann-restart", Kind: central.KindAnnouncement, Target: "all", Type: node.TypeAnnouncementPublished,
		Payload: node.Announcement{ID: "ann-restart", Title: map[string]string{"sv": "Kvar"}, Severity: "info"}}); err != nil {
		t.Fatal(err)
	}
	clog.Close()
	clog2 := openLogClock(t, filepath.Join(tmp, "central"), "central", clock)
	if _, err := central.New(central.Opts{Broker: mq.URL(), Log: clog2, Store: synctest.OpenStore(t, clog2), Picture: clog2.State()}); err != nil {
		t.Fatal(err)
	}
	if _, ok := clog2.State().Announcement("ann-restart"); status(clog2) != node.ReportInProgress || !ok {
		t.Fatalf("after central's restart: report %s, announcement there: %v", status(clog2), ok)
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
	mq := synctest.StartMosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tmp := t.TempDir()
	recv := startCentral(t, ctx, mq.URL(), openLog(t, filepath.Join(tmp, "central"), "central"))
	if err := recv.Register(ctx, "a-1", "2161"); err != nil {
		t.Fatal(err)
	}
	nlog := openLog(t, filepath.Join(tmp, "a-1"), "a-1")
	startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog})
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
	lk, _ := startLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: late})
	if !synctest.Eventually(10*time.Second, func() bool { return lk.Status().Online }) {
		t.Fatal("a-2 did not come online")
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := late.State().Announcement("storm-1"); ok {
		t.Fatal("a node registered after the withdrawal got the withdrawn announcement")
	}
}
