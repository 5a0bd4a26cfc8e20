package link_test

// Tests of the node's link against a real mosquitto: with central's real
// receiver, or with a central played by the test to lose batches on
// purpose.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// nodeLog opens byhuset-a's event log, holding n reports.
func nodeLog(t *testing.T, n int) *eventlog.Log {
	t.Helper()
	l := synctest.OpenLog(t, t.TempDir(), "byhuset-a", nil)
	appendN(t, l, n)
	return l
}

func appendN(t *testing.T, l *eventlog.Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), synctest.Report(fmt.Sprintf("rapport %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBarrier returns once central has handled everything published
// before it: central handles messages in order, so once it refuses a
// probe sent after them, it has seen them.
func syncBarrier(t *testing.T, pub mqtt.Client, recv *central.Receiver) {
	t.Helper()
	before := recv.Counters.Refused.Load()
	synctest.Publish(t, pub, wire.Topic("2161", "barrier", wire.KindUp), 1, false, []byte("barrier"))
	if !synctest.Eventually(5*time.Second, func() bool { return recv.Counters.Refused.Load() > before }) {
		t.Fatal("central did not handle the barrier")
	}
}

func nodeView(recv *central.Receiver, id string) (central.Node, bool) {
	for _, n := range recv.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return central.Node{}, false
}

// lateCentral runs a second central on url, one that starts now and knows
// only what the broker retained.
func lateCentral(t *testing.T, ctx context.Context, url string) *central.Receiver {
	return synctest.RunCentral(t, ctx, central.Opts{Broker: url, ClientID: "central-2",
		Log: synctest.OpenLog(t, t.TempDir(), wire.Central, nil), Logger: synctest.Logger(t, "central-2")})
}

// TestDeathAndBirth: central ignores a Last Will older than the node's
// latest birth; a connection that dies abruptly makes the broker publish
// the will and central shows the node offline; the node back, online.
func TestDeathAndBirth(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, _, recv := synctest.StartCentral(t, ctx, t.TempDir(), nil)
	proxy := synctest.NewProxy(t, mq.Addr())
	nlog := nodeLog(t, 5)
	// A node that has connected before: its next birth is 6.
	if err := nlog.SetPeerAcked(ctx, "birth", 5); err != nil {
		t.Fatal(err)
	}
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: proxy.URL(), Municipality: "2161", Log: nlog,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	pub := synctest.Client(t, mq.URL(), "by-hand")
	status := wire.Topic("2161", "byhuset-a", wire.KindStatus)

	online := func() bool { n, ok := nodeView(recv, "byhuset-a"); return ok && n.Online }
	if !synctest.Eventually(10*time.Second, func() bool { return online() && l.Status().Acked == 5 }) {
		t.Fatalf("node never online and synced at central: %+v, link %+v", recv.Nodes(), l.Status())
	}
	birth, err := nlog.PeerAcked(ctx, "birth")
	if err != nil || birth != 6 {
		t.Fatalf("birth counter %d, %v; want 6", birth, err)
	}

	// A will of the previous connection, late: ignored.
	old := wire.EncodeJSON(wire.Status{V: wire.Version, State: "offline", Birth: birth - 1})
	synctest.Publish(t, pub, status, 1, true, old)
	syncBarrier(t, pub, recv)
	if !online() {
		t.Fatalf("an offline status of birth %d, older than birth %d, turned the node offline", birth-1, birth)
	}

	// The connection dies abruptly (and stays dead): the broker publishes
	// the will, central shows the node offline.
	proxy.SetDown(true)
	if !synctest.Eventually(10*time.Second, func() bool { return !online() }) {
		t.Fatalf("node still online at central 10 s after its connection died: %+v", recv.Nodes())
	}
	if n, _ := nodeView(recv, "byhuset-a"); n.AckedSeq != 5 || n.Municipality != "2161" {
		t.Errorf("offline node's view %+v: it must keep its watermark and municipality", n)
	}
	// The link learns of the cut from its own connection, which may be a
	// moment after the broker has published its will to central.
	if !synctest.Eventually(10*time.Second, func() bool { return !l.Status().Online }) {
		t.Errorf("link says online 10 s after its connection died")
	}

	// The node back: a new birth, online; the events appended meanwhile
	// follow.
	appendN(t, nlog, 3)
	proxy.SetDown(false)
	if !synctest.Eventually(10*time.Second, func() bool { return online() && l.Status().Acked == 8 }) {
		t.Fatalf("node not back online and synced within 10 s: %+v, link %+v", recv.Nodes(), l.Status())
	}
	reborn, _ := nlog.PeerAcked(ctx, "birth")
	if reborn <= birth {
		t.Errorf("birth %d after reconnecting, was %d", reborn, birth)
	}

	// The will of the connection that died, arriving again late (a broker
	// bridge, a slow takeover): older than the new birth, ignored.
	synctest.Publish(t, pub, status, 1, false, wire.EncodeJSON(wire.Status{V: wire.Version, State: "offline", Birth: birth}))
	syncBarrier(t, pub, recv)
	if !online() {
		t.Errorf("the previous connection's will turned the reborn node offline")
	}

	// A central that starts now learns the state from the retained birth.
	recv2 := lateCentral(t, ctx, mq.URL())
	if !synctest.Eventually(10*time.Second, func() bool { n, ok := nodeView(recv2, "byhuset-a"); return ok && n.Online }) {
		t.Errorf("a new central does not see the node online from the retained status: %+v", recv2.Nodes())
	}
	t.Logf("births %d → %d; proxy cut %d connection(s)", birth, reborn, proxy.Cuts())
}

// fakeCentral plays central by hand: it stores what it is sent in memory
// and acknowledges the contiguous watermark, except that drop decides
// which batches it loses.
type fakeCentral struct {
	t      *testing.T
	client mqtt.Client
	drop   func(b wire.Batch) bool

	mu       sync.Mutex
	ackDelay time.Duration // a slow central: acks go out this late
	held     map[uint64]bool
	mark     uint64
	batches  int
	received []uint64 // first seq of each batch, in arrival order
}

// startFakeCentral starts a mosquitto and a fake central on it that loses
// the batches drop picks.
func startFakeCentral(t *testing.T, drop func(wire.Batch) bool) (*synctest.Mosquitto, *fakeCentral) {
	mq := synctest.StartMosquitto(t)
	f := &fakeCentral{t: t, drop: drop, held: map[uint64]bool{}}
	f.client = synctest.Client(t, mq.URL(), "fake-central")
	tok := f.client.Subscribe("sp/v1/+/+/up", 1, func(c mqtt.Client, m mqtt.Message) {
		b, err := wire.DecodeBatch(m.Payload())
		if err != nil {
			t.Errorf("fake central: %v", err)
			return
		}
		f.mu.Lock()
		f.batches++
		f.received = append(f.received, b.Events[0].Seq)
		if f.drop(b) {
			f.mu.Unlock()
			return
		}
		for _, e := range b.Events {
			f.held[e.Seq] = true
		}
		for f.held[f.mark+1] {
			f.mark++
		}
		mark, delay := f.mark, f.ackDelay
		f.mu.Unlock()
		ack := func() {
			c.Publish(wire.Topic(b.Municipality, b.Origin, wire.KindAck), 1, true,
				wire.EncodeJSON(wire.Ack{V: wire.Version, Origin: b.Origin, Acked: mark}))
		}
		if delay > 0 {
			time.AfterFunc(delay, ack)
		} else {
			ack()
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("fake central: subscribe: %v", tok.Error())
	}
	return mq, f
}

// dropFirstOnce loses the first batch the first time it comes.
func dropFirstOnce() func(wire.Batch) bool {
	var dropped bool
	return func(b wire.Batch) bool {
		if !dropped && b.Events[0].Seq == 1 {
			dropped = true
			return true
		}
		return false
	}
}

func (f *fakeCentral) stats() (mark uint64, batches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mark, f.batches
}

// TestResendOnNonAdvancingAck: central lost a batch and acknowledges the
// later ones without moving its watermark. The link must send again from
// the watermark long before its ack timeout.
func TestResendOnNonAdvancingAck(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, f := startFakeCentral(t, dropFirstOnce())
	nlog := nodeLog(t, 0)
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog, BatchSize: 5, InFlight: 4,
		AckTimeout: time.Minute, MinBackoff: 50 * time.Millisecond})
	// Events trickle in, as they do at a point: each goes out in its own
	// batch and draws an ack that does not move.
	start := time.Now()
	for i := 0; i < 40; i++ {
		if _, err := nlog.Append(ctx, synctest.Report(fmt.Sprintf("rapport %d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !synctest.Eventually(15*time.Second, func() bool { return l.Status().Acked == 40 }) {
		mark, n := f.stats()
		t.Fatalf("link acked %d of 40 after %v (fake central's mark %d, %d batches): no resend before the 1 min ack timeout",
			l.Status().Acked, time.Since(start).Round(time.Millisecond), mark, n)
	}
	t.Logf("all 40 acknowledged %v after the first append, first batch dropped once", time.Since(start).Round(time.Millisecond))
}

// TestResendOnBurstWithLostBatch: a burst fills the window, central loses
// its first batch and acknowledges the others without moving. No further
// ack will come by itself: the link must still resend well before its
// (long) ack timeout.
func TestResendOnBurstWithLostBatch(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, f := startFakeCentral(t, dropFirstOnce())
	nlog := nodeLog(t, 100)
	start := time.Now()
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog, BatchSize: 10, InFlight: 4,
		AckTimeout: time.Minute, MinBackoff: 50 * time.Millisecond})
	if !synctest.Eventually(15*time.Second, func() bool { return l.Status().Acked == 100 }) {
		mark, n := f.stats()
		t.Fatalf("link acked %d of 100 after %v (fake central's mark %d, %d batches)",
			l.Status().Acked, time.Since(start).Round(time.Millisecond), mark, n)
	}
	_, n := f.stats()
	t.Logf("all 100 acknowledged after %v: %d batches of 10 sent for 10 needed", time.Since(start).Round(time.Millisecond), n)
}

// TestResendAfterSilence: central hears nothing for a while (it was down;
// batches sent meanwhile are gone, and no ack comes at all). After the ack
// timeout the link sends again from the watermark.
func TestResendAfterSilence(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	silentUntil := time.Now().Add(1500 * time.Millisecond)
	mq, f := startFakeCentral(t, func(wire.Batch) bool { return time.Now().Before(silentUntil) })
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nodeLog(t, 30), BatchSize: 10,
		AckTimeout: time.Second, MinBackoff: 50 * time.Millisecond})
	if !synctest.Eventually(15*time.Second, func() bool { return l.Status().Acked == 30 }) {
		mark, n := f.stats()
		t.Fatalf("link acked %d of 30 (fake central's mark %d, %d batches)", l.Status().Acked, mark, n)
	}
	if _, n := f.stats(); n < 4 {
		t.Errorf("%d batches for 30 events in batches of 10 with the first ones lost: no resend?", n)
	}
}

// TestAckNeverMovesBack: an ack below what central acknowledged before (a
// stale retained one, a replay) never moves the node's watermark back.
func TestAckNeverMovesBack(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, f := startFakeCentral(t, func(wire.Batch) bool { return false })
	nlog := nodeLog(t, 20)
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nlog,
		MinBackoff: 50 * time.Millisecond})
	if !synctest.Eventually(10*time.Second, func() bool { return l.Status().Acked == 20 }) {
		t.Fatalf("acked %d of 20", l.Status().Acked)
	}
	pub := synctest.Client(t, mq.URL(), "replayer")
	ack := wire.Topic("2161", "byhuset-a", wire.KindAck)
	synctest.Publish(t, pub, ack, 1, false, wire.EncodeJSON(wire.Ack{V: wire.Version, Origin: "byhuset-a", Acked: 3}))
	synctest.Publish(t, pub, ack, 1, false, []byte(`{"v":1,"origin":"someone-else","acked":99}`))
	synctest.Publish(t, pub, ack, 1, false, []byte(`{"v":2,"origin":"byhuset-a","acked":99}`))
	synctest.Publish(t, pub, ack, 1, false, []byte(`not json`))
	time.Sleep(300 * time.Millisecond)
	if st := l.Status(); st.Acked != 20 {
		t.Errorf("after stale and foreign acks the link's watermark is %d, want 20", st.Acked)
	}
	if got, _ := nlog.PeerAcked(ctx, link.Peer); got != 20 {
		t.Errorf("stored watermark %d, want 20", got)
	}
	if mark, _ := f.stats(); mark != 20 {
		t.Errorf("fake central's mark %d", mark)
	}
}

// TestReconnectAfterEachDrop: a link that drops again and again, working in
// between, must come back quickly each time: the wait between attempts
// grows only while attempts fail, not over sessions that worked.
func TestReconnectAfterEachDrop(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, _ := startFakeCentral(t, func(wire.Batch) bool { return false })
	proxy := synctest.NewProxy(t, mq.Addr())
	nlog := nodeLog(t, 0)
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: proxy.URL(), Municipality: "2161", Log: nlog,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second})
	if !synctest.Eventually(10*time.Second, func() bool { return l.Status().Online }) {
		t.Fatal("link never online")
	}
	const drops = 8
	var worst time.Duration
	for i := 1; i <= drops; i++ {
		appendN(t, nlog, 1)
		if !synctest.Eventually(5*time.Second, func() bool { return l.Status().Acked == uint64(i) }) {
			t.Fatalf("drop %d: event %d not acknowledged", i, i)
		}
		proxy.Cut()
		cut := time.Now()
		if !synctest.Eventually(5*time.Second, func() bool { return !l.Status().Online }) {
			t.Fatalf("drop %d: link still says online after its connection was cut", i)
		}
		if !synctest.Eventually(10*time.Second, func() bool { return l.Status().Online }) {
			t.Fatalf("drop %d: link not back within 10 s", i)
		}
		took := time.Since(cut)
		worst = max(worst, took)
		if took > 2*time.Second {
			t.Errorf("drop %d: back after %v; with a 200 ms minimum wait it should be well under 2 s", i, took.Round(time.Millisecond))
		}
	}
	t.Logf("%d drops, slowest return %v", drops, worst.Round(time.Millisecond))
}

// TestNoResendForSlowCentral: central answers slowly (1.5 s) but loses
// nothing. The retained ack a reconnecting link finds on subscribing is
// no sign of a gap: nothing may be sent twice before the ack timeout.
func TestNoResendForSlowCentral(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, f := startFakeCentral(t, func(wire.Batch) bool { return false })
	proxy := synctest.NewProxy(t, mq.Addr())
	nlog := nodeLog(t, 10)
	l, _ := synctest.RunLink(t, ctx, link.Opts{Broker: proxy.URL(), Municipality: "2161", Log: nlog, BatchSize: 10,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if !synctest.Eventually(10*time.Second, func() bool { return l.Status().Acked == 10 }) {
		t.Fatalf("acked %d of 10", l.Status().Acked)
	}
	// Central turns slow; the link drops and comes back to a retained
	// ack of 10 and 40 events to send.
	f.mu.Lock()
	f.ackDelay = 1500 * time.Millisecond
	f.mu.Unlock()
	proxy.SetDown(true)
	appendN(t, nlog, 40)
	proxy.SetDown(false)
	if !synctest.Eventually(15*time.Second, func() bool { return l.Status().Acked == 50 }) {
		t.Fatalf("acked %d of 50", l.Status().Acked)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[uint64]int{}
	for _, s := range f.received {
		seen[s]++
		if seen[s] > 1 {
			t.Errorf("the batch from seq %d was sent %d times to a slow but complete central (first seqs in order: %v)", s, seen[s], f.received)
		}
	}
}

// TestCleanStopSaysOffline: a node that stops on purpose (systemd stop,
// the shutdown at critical power) disconnects cleanly, and a clean
// DISCONNECT discards the Last Will: the node must say offline itself, or
// central shows it online for good.
func TestCleanStopSaysOffline(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, _, recv := synctest.StartCentral(t, ctx, t.TempDir(), nil)
	l, err := link.New(link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nodeLog(t, 0),
		MinBackoff: 50 * time.Millisecond, Logger: synctest.Logger(t, "link")})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.Run(lctx); close(done) }()
	online := func() bool { n, ok := nodeView(recv, "byhuset-a"); return ok && n.Online }
	if !synctest.Eventually(10*time.Second, online) {
		t.Fatalf("node never online at central: %+v", recv.Nodes())
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("link did not stop within 5 s")
	}
	if !synctest.Eventually(5*time.Second, func() bool { return !online() }) {
		t.Fatalf("node stopped cleanly but central still shows it online: %+v", recv.Nodes())
	}
	// And a central that starts later reads the same from the retained status.
	recv2 := lateCentral(t, ctx, mq.URL())
	time.Sleep(time.Second)
	if n, ok := nodeView(recv2, "byhuset-a"); !ok || n.Online {
		t.Errorf("a central started after the clean stop sees %+v (known %v), want offline", n, ok)
	}
}

// TestReplacedDataDirectory: a node whose data directory was replaced (a
// restore, a new SD card) but which kept its id gets central's retained
// acknowledgement of more events than its new log holds. Sending would
// make central drop its new events as ones it already has, so the link
// stops, says why in its status, keeps the stop across a restart, and
// central gets none of the colliding events.
func TestReplacedDataDirectory(t *testing.T) {
	ctx := synctest.Context(t, 60*time.Second)
	mq, clog, _ := synctest.StartCentral(t, ctx, t.TempDir(), nil)
	lk, stop := synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: nodeLog(t, 5)})
	if !synctest.Eventually(20*time.Second, func() bool { return lk.Status().Acked == 5 }) {
		t.Fatalf("first log: acked %d, want 5", lk.Status().Acked)
	}
	stop()

	dir := t.TempDir()
	open := func() *eventlog.Log {
		l, err := eventlog.Open(context.Background(), filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "byhuset-a"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	second := open()
	appendN(t, second, 2)
	lk, stop = synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if !synctest.Eventually(20*time.Second, func() bool { return lk.Status().Problem != "" }) {
		t.Fatalf("the link does not report the replaced directory: %+v", lk.Status())
	}
	// The log goes on (residents still report), past central's watermark.
	appendN(t, second, 6)
	time.Sleep(time.Second)
	if st := lk.Status(); st.Acked != 0 || st.Online {
		t.Fatalf("after the stop: %+v, want nothing acknowledged and offline", st)
	}
	stop()
	second.Close()
	second = open()
	defer second.Close()
	lk, _ = synctest.RunLink(t, ctx, link.Opts{Broker: mq.URL(), Municipality: "2161", Log: second})
	time.Sleep(time.Second)
	if st := lk.Status(); st.Problem == "" || st.Online || st.Acked != 0 {
		t.Fatalf("after a restart: %+v, want still stopped", st)
	}
	// Central holds exactly the first log's five events.
	var n int
	for _, e := range synctest.Events(t, &clog.Reader) {
		if e.Origin == "byhuset-a" {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("central holds %d events of byhuset-a, want the first log's 5", n)
	}
}
