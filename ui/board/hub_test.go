package board

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// boardMsg is every message the board's page gets.
type boardMsg = web.Message

// The live board's hub, over real TCP: an httptest server, gorilla's
// client, the session cookie from a real login and the Origin a browser
// on the board's page sends.

// boardNow is the wall clock of the board tests: it stands still, so that
// the board's clock section (the displayed minute) never changes under a
// test and every delta is the change the test made.
var boardNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// allSections are the board's sections. The list is the board's contract
// with its page: a section lost or renamed fails the tests.
var allSections = []string{"activation", "announcements", "calldown", "checkins", "clock", "counts", "fingerprint", "inventory",
	"journal", "link", "point", "power", "reports", "roster", "services"}

const (
	boardAdmin    = "adam"
	boardPassword = "adam-password-1"
)

// newBoardEnv is a node on a new log with a clock standing at boardNow
// and an admin account, residents' submissions not rate-limited. every,
// when not zero, is the hub's heartbeat and ping interval. Cleanup closes
// the site (ending its boards) before the listener and the log.
func newBoardEnv(t *testing.T, every time.Duration, opts Options) *env {
	t.Helper()
	opts.Heartbeat = every
	e := startEnv(t, opts, node.NewClock(func() time.Time { return boardNow }), -1)
	e.AddAccount(t, boardAdmin, accounts.RoleAdmin, boardPassword)
	return e
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/board/ws"
}

// dialBoard opens the board with the session's cookie jar (none when sess
// is nil) and the server's own URL as Origin, or the given one.
func dialBoard(srv *httptest.Server, sess *webtest.Session, origin string, dialer *websocket.Dialer) (*websocket.Conn, *http.Response, error) {
	if dialer == nil {
		dialer = &websocket.Dialer{}
	}
	d := *dialer
	d.HandshakeTimeout = 5 * time.Second
	if sess != nil {
		d.Jar = sess.C.Jar
	}
	if origin == "" {
		origin = srv.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.DialContext(ctx, wsURL(srv), http.Header{"Origin": {origin}})
}

// openBoard dials the board and reads its first message, which must be a
// snapshot.
func openBoard(t *testing.T, srv *httptest.Server, sess *webtest.Session) (*websocket.Conn, boardMsg) {
	t.Helper()
	c, resp, err := dialBoard(srv, sess, "", nil)
	if err != nil {
		status := "no answer"
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v (%s)", wsURL(srv), err, status)
	}
	t.Cleanup(func() { c.Close() })
	m := readBoard(t, c, 5*time.Second)
	if m.Type != "snapshot" {
		t.Fatalf("first message: %s, want a snapshot", m.Type)
	}
	return c, m
}

// readBoard reads one message, failing the test when none comes within d.
func readBoard(t *testing.T, c *websocket.Conn, d time.Duration) boardMsg {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading the board: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("board message of type %d, want text", typ)
	}
	var m boardMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("board message %.200s: %v", b, err)
	}
	return m
}

// nextChange reads past heartbeats to the next snapshot or delta.
func nextChange(t *testing.T, c *websocket.Conn, d time.Duration) boardMsg {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := readBoard(t, c, time.Until(deadline))
		if m.Type != "heartbeat" {
			return m
		}
	}
}

func sectionNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(ax, by)
}

// currentSections marshals the board's picture now, as the hub does.
func currentSections(t *testing.T, s *Board) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for name, v := range s.sections() {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("section %s: %v", name, err)
		}
		out[name] = b
	}
	return out
}

// sameSections fails the test unless got and want hold the same sections
// with JSON-equal values.
func sameSections(t *testing.T, what string, got, want map[string]json.RawMessage) {
	t.Helper()
	if g, w := sectionNames(got), sectionNames(want); !slices.Equal(g, w) {
		t.Fatalf("%s: sections %v, want %v", what, g, w)
	}
	for name := range want {
		if !jsonEqual(got[name], want[name]) {
			t.Errorf("%s: section %s is\n%.400s\nwant\n%.400s", what, name, got[name], want[name])
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func postReport(t *testing.T, e *env, text string) {
	t.Helper()
	r := webtest.Do(t, e.Srv.Client(), "POST", e.Srv.URL+"/api/reports", "application/json",
		fmt.Sprintf(`{"category":"water","text":%q,"urgency":"high"}`, text))
	if r.Code != http.StatusCreated {
		t.Fatalf("POST /api/reports: %s", r)
	}
}

func TestBoardSnapshotThenDeltas(t *testing.T) {
	e := newBoardEnv(t, 0, Options{})
	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)
	c, snap := openBoard(t, e.Srv, sess)

	if got := sectionNames(snap.Sections); !slices.Equal(got, allSections) {
		t.Fatalf("snapshot sections %v, want %v", got, allSections)
	}
	sameSections(t, "snapshot", snap.Sections, currentSections(t, e.b))
	if snap.Seq == 0 {
		t.Error("snapshot at seq 0: the first picture is published before the first board")
	}

	// A resident's report: the reports and the counts change, nothing else.
	postReport(t, e, "Vattnet är brunt på Storgatan 4")
	d := nextChange(t, c, 5*time.Second)
	if d.Type != "delta" || d.Seq != snap.Seq+1 {
		t.Fatalf("after a report: %s at seq %d, want a delta at %d", d.Type, d.Seq, snap.Seq+1)
	}
	if got := sectionNames(d.Sections); !slices.Equal(got, []string{"counts", "reports"}) {
		t.Fatalf("report delta carries %v, want [counts reports]", got)
	}
	var reports []node.Report
	var counts node.Counts
	if err := json.Unmarshal(d.Sections["reports"], &reports); err != nil || len(reports) != 1 ||
		reports[0].Text != "Vattnet är brunt på Storgatan 4" || reports[0].Status != node.ReportNew {
		t.Fatalf("reports section %s (%v)", d.Sections["reports"], err)
	}
	if err := json.Unmarshal(d.Sections["counts"], &counts); err != nil || counts.Reports != 1 || counts.ReportsOpen != 1 {
		t.Fatalf("counts section %s (%v)", d.Sections["counts"], err)
	}

	// A staff action on another section: only that section, the next seq.
	if r := sess.PostJSON(t, "/api/staff/roster", `{"person":"Maja","role":"värd","on_duty":true}`); r.Code != http.StatusCreated {
		t.Fatalf("roster: %s", r)
	}
	d2 := nextChange(t, c, 5*time.Second)
	if d2.Type != "delta" || d2.Seq != d.Seq+1 {
		t.Fatalf("after a roster change: %s at seq %d, want a delta at %d", d2.Type, d2.Seq, d.Seq+1)
	}
	if got := sectionNames(d2.Sections); !slices.Equal(got, []string{"roster"}) {
		t.Fatalf("roster delta carries %v, want [roster]", got)
	}
	if !bytes.Contains(d2.Sections["roster"], []byte(`"Maja"`)) {
		t.Fatalf("roster section %s", d2.Sections["roster"])
	}
	// Personal contacts never reach the board.
	if r := sess.PostJSON(t, "/api/staff/roster", `{"person":"Olle","role":"värd","on_duty":true,"contact":"070-1234567"}`); r.Code != http.StatusCreated {
		t.Fatalf("roster: %s", r)
	}
	if d3 := nextChange(t, c, 5*time.Second); bytes.Contains(d3.Sections["roster"], []byte("070-1234567")) || !bytes.Contains(d3.Sections["roster"], []byte("Olle")) {
		t.Fatalf("roster delta %s", d3.Sections["roster"])
	}
}

// boardReader is a board client in the slow-client test: it reads every
// message, checks the sequence and notes when each change's marker first
// arrives.
type boardReader struct {
	c       *websocket.Conn
	markers []string
	arrived chan<- arrival
	err     error // what ended the reader, after done
	done    chan struct{}
	seq     uint64
}

type arrival struct {
	reader, change int
	at             time.Time
}

// head reads a message's type and seq without decoding its sections: the
// messages of this test are large.
func head(b []byte) (typ string, seq uint64, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var fields []any
	for len(fields) < 5 {
		tok, err := dec.Token()
		if err != nil {
			return "", 0, err
		}
		fields = append(fields, tok)
	}
	// {"type":"delta","seq":12,…: the hub's field order.
	typ, _ = fields[2].(string)
	if fields[1] != "type" || fields[3] != "seq" {
		return "", 0, fmt.Errorf("message starts %v", fields)
	}
	n, _ := fields[4].(float64)
	return typ, uint64(n), nil
}

func (r *boardReader) run(idx int, snapSeq uint64) {
	defer close(r.done)
	r.seq = snapSeq
	next := 0
	for {
		r.c.SetReadDeadline(time.Now().Add(30 * time.Second)) // the test's own bounds are shorter
		_, b, err := r.c.ReadMessage()
		at := time.Now()
		if err != nil {
			r.err = err
			return
		}
		typ, seq, err := head(b)
		if err != nil {
			r.err = err
			return
		}
		switch {
		case typ == "heartbeat" && seq == r.seq:
		case typ == "delta" && seq == r.seq+1:
			r.seq = seq
		default:
			r.err = fmt.Errorf("%s at seq %d after seq %d", typ, seq, r.seq)
			return
		}
		for next < len(r.markers) && bytes.Contains(b, []byte(r.markers[next])) {
			r.arrived <- arrival{reader: idx, change: next, at: at}
			next++
		}
	}
}

func TestBoardSlowClientDoesNotDelayOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("moves tens of megabytes over loopback")
	}
	const (
		normal  = 5
		changes = 60
		preload = 200
		bound   = 5 * time.Second // a correctness bound: a hub waiting for the slow board takes writeWait (10 s)
	)
	e := newBoardEnv(t, 0, Options{})
	ctx := context.Background()
	long := strings.Repeat("Vattnet är brunt och luktar illa, flera hushåll på gatan har samma problem. ", 26)[:2000]

	// Large messages: 200 reports of 2,000 characters make the reports
	// section (in every snapshot, and in every delta below) about 450 KB.
	var wg sync.WaitGroup
	errs := make(chan error, preload)
	for i := range preload {
		wg.Go(func() {
			_, err := e.Log.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{
				ID: node.NewID(), Receipt: fmt.Sprintf("R%04d", i), Category: "water", Text: long, Urgency: "normal"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)
	// The slow board: a small receive buffer, and it never reads. The
	// server's side fills up after a few of the large messages.
	slowDialer := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}).DialContext}
	slow, resp, err := dialBoard(e.Srv, sess, "", slowDialer)
	if err != nil {
		t.Fatalf("slow board: %v (%v)", err, resp)
	}
	defer slow.Close()

	markers := make([]string, changes)
	for i := range markers {
		markers[i] = fmt.Sprintf("Ändring %03d", i)
	}
	arrived := make(chan arrival, normal*changes)
	readers := make([]*boardReader, normal)
	for i := range readers {
		c, snap := openBoard(t, e.Srv, sess)
		readers[i] = &boardReader{c: c, markers: markers, arrived: arrived, done: make(chan struct{})}
		go readers[i].run(i, snap.Seq)
	}
	if n := e.b.hub.Boards(); n != normal+1 {
		t.Fatalf("%d boards open, want %d", n, normal+1)
	}

	// One change at a time: each must reach every normal board within the
	// bound before the next, so that each is a delta of its own.
	var worst time.Duration
	for i := range changes {
		start := time.Now()
		if _, err := e.Log.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{
			ID: node.NewID(), Receipt: fmt.Sprintf("C%03d", i), Category: "water", Text: markers[i] + " " + long[:1900], Urgency: "high"}}); err != nil {
			t.Fatal(err)
		}
		got := map[int]bool{}
		timeout := time.NewTimer(bound)
		for len(got) < normal {
			select {
			case a := <-arrived:
				if a.change != i {
					t.Fatalf("board %d: change %d arrived while waiting for %d", a.reader, a.change, i)
				}
				got[a.reader] = true
				worst = max(worst, a.at.Sub(start))
			case <-timeout.C:
				for j, r := range readers {
					select {
					case <-r.done:
						t.Errorf("board %d ended: %v", j, r.err)
					default:
					}
				}
				t.Fatalf("change %d: %d of %d boards had it after %v", i, len(got), normal, bound)
			}
		}
		timeout.Stop()
	}
	t.Logf("%d changes of ~450 KB: the slowest normal board had each within %v", changes, worst.Round(time.Millisecond))

	// The slow board was dropped: the server no longer holds it, and its
	// connection ends (after what the kernel had buffered) without it
	// having had every change.
	if n := e.b.hub.Boards(); n != normal {
		t.Errorf("%d boards open after %d changes, want the %d normal ones: the slow one was not dropped", n, changes, normal)
	}
	got := 0
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			got++
			continue
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("the slow board's connection is still open after %d messages", got)
		}
		t.Logf("the slow board had %d messages (snapshot included), then: %v", got, err)
		break
	}
	if got >= 1+changes {
		t.Errorf("the slow board had %d messages: all of them", got)
	}
	for j, r := range readers {
		select {
		case <-r.done:
			t.Errorf("board %d ended: %v", j, r.err)
		default:
		}
	}
}

func TestBoardResumesToTheSameState(t *testing.T) {
	e := newBoardEnv(t, 0, Options{})
	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)

	// A witness stays connected and applies every delta to its snapshot.
	w, picture := openBoard(t, e.Srv, sess)
	a, first := openBoard(t, e.Srv, sess)
	a.Close() // the tablet's wifi drops

	postReport(t, e, "Träd över vägen vid skolan")
	postReport(t, e, "Äldre dam på Ekvägen 3 behöver tillsyn")
	for _, body := range []string{`{"service":"water","status":"limited","note":"Endast dricksvatten"}`} {
		if r := sess.PostJSON(t, "/api/staff/services", body); r.Code != http.StatusCreated {
			t.Fatalf("services: %s", r)
		}
	}
	if r := sess.PostJSON(t, "/api/staff/journal", `{"text":"Reservkraft provstartad"}`); r.Code != http.StatusCreated {
		t.Fatalf("journal: %s", r)
	}
	for !bytes.Contains(picture.Sections["journal"], []byte("Reservkraft provstartad")) {
		d := nextChange(t, w, 5*time.Second)
		if d.Type != "delta" || d.Seq != picture.Seq+1 {
			t.Fatalf("witness: %s at seq %d after %d", d.Type, d.Seq, picture.Seq)
		}
		picture.Seq = d.Seq
		for name, v := range d.Sections {
			picture.Sections[name] = v
		}
	}

	// The tablet comes back: its snapshot is the state now, as a new
	// board sees it, as the server has it, and as the witness built it.
	back, again := openBoard(t, e.Srv, sess)
	_, fresh := openBoard(t, e.Srv, sess)
	if again.Seq <= first.Seq || again.Seq != picture.Seq || fresh.Seq != again.Seq {
		t.Errorf("seqs: first %d, back %d, fresh %d, witness %d", first.Seq, again.Seq, fresh.Seq, picture.Seq)
	}
	now := currentSections(t, e.b)
	sameSections(t, "reconnected board", again.Sections, now)
	sameSections(t, "fresh board", fresh.Sections, now)
	sameSections(t, "witness (snapshot and deltas)", picture.Sections, now)
	if jsonEqual(again.Sections["reports"], first.Sections["reports"]) {
		t.Error("the reconnected board's reports are those from before the changes")
	}

	// A board that saw a gap asks again: a snapshot at the current seq.
	if err := back.WriteJSON(map[string]string{"type": "resync"}); err != nil {
		t.Fatal(err)
	}
	m := nextChange(t, back, 5*time.Second)
	if m.Type != "snapshot" || m.Seq != e.b.hub.Seq() {
		t.Fatalf("after resync: %s at seq %d, want a snapshot at %d", m.Type, m.Seq, e.b.hub.Seq())
	}
	sameSections(t, "resync", m.Sections, currentSections(t, e.b))

	// And after one more change, a resync answers the new picture.
	postReport(t, e, "Ingen mobiltäckning i norra byn")
	if d := nextChange(t, back, 5*time.Second); d.Type != "delta" || d.Seq != m.Seq+1 {
		t.Fatalf("%s at seq %d, want a delta at %d", d.Type, d.Seq, m.Seq+1)
	}
	if err := back.WriteJSON(map[string]string{"type": "resync"}); err != nil {
		t.Fatal(err)
	}
	m2 := nextChange(t, back, 5*time.Second)
	if m2.Type != "snapshot" || m2.Seq != m.Seq+1 || !bytes.Contains(m2.Sections["reports"], []byte("norra byn")) {
		t.Fatalf("after resync: %s at seq %d (want a snapshot at %d) with reports %.200s", m2.Type, m2.Seq, m.Seq+1, m2.Sections["reports"])
	}
	sameSections(t, "second resync", m2.Sections, currentSections(t, e.b))
}

func TestBoardRefusals(t *testing.T) {
	e := newBoardEnv(t, 0, Options{})
	e.AddAccount(t, "vera", accounts.RoleViewer, "vera-password-1")
	admin := webtest.Login(t, e.Srv, boardAdmin, boardPassword)

	refused := func(what string, sess *webtest.Session, origin string, want int) {
		t.Helper()
		c, resp, err := dialBoard(e.Srv, sess, origin, nil)
		if err == nil {
			c.Close()
			t.Fatalf("%s: the board opened", what)
		}
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("%s: %v (%v), want HTTP %d", what, err, resp, want)
		}
		if resp.Header.Get("Upgrade") != "" {
			t.Errorf("%s: the refusal says Upgrade: %s", what, resp.Header.Get("Upgrade"))
		}
	}
	// A page on another site, in a browser holding a staff session.
	refused("foreign Origin", admin, "https://evil.example", http.StatusForbidden)
	refused("same host, other port", admin, "http://127.0.0.1:1", http.StatusForbidden)
	// Nobody logged in, or a made-up session.
	refused("no session", nil, "", http.StatusUnauthorized)
	bogus := webtest.NewClient(t, e.Srv)
	bogus.Jar.SetCookies(mustURL(t, e.Srv.URL), []*http.Cookie{{Name: webtest.CookiePlain, Value: "not-a-session"}})
	refused("unknown session", &webtest.Session{C: bogus, Base: e.Srv.URL}, "", http.StatusUnauthorized)
	if n := e.b.hub.Boards(); n != 0 {
		t.Fatalf("%d boards open after refusals", n)
	}

	// A viewer may watch the board.
	vera := webtest.Login(t, e.Srv, "vera", "vera-password-1")
	_, snap := openBoard(t, e.Srv, vera)
	if got := sectionNames(snap.Sections); !slices.Equal(got, allSections) {
		t.Fatalf("viewer's snapshot sections %v", got)
	}
	// A logged-out session is refused from then on.
	if r := vera.PostJSON(t, "/logout", "{}"); r.Code/100 != 2 && r.Code/100 != 3 {
		t.Fatalf("logout: %s", r)
	}
	refused("logged out", vera, "", http.StatusUnauthorized)
}

func TestBoardHeartbeats(t *testing.T) {
	const every = 150 * time.Millisecond
	e := newBoardEnv(t, every, Options{})
	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)
	c, snap := openBoard(t, e.Srv, sess)
	var pings sync.Mutex
	pinged := 0
	c.SetPingHandler(func(data string) error {
		pings.Lock()
		pinged++
		pings.Unlock()
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})

	// The first heartbeat comes within the interval (and a margin), at
	// the snapshot's seq, with no sections.
	start := time.Now()
	m := readBoard(t, c, every+2*time.Second)
	if m.Type != "heartbeat" || m.Seq != snap.Seq || m.Sections != nil {
		t.Fatalf("after the snapshot: %s at seq %d with %d sections, want a bare heartbeat at %d", m.Type, m.Seq, len(m.Sections), snap.Seq)
	}
	t.Logf("first heartbeat after %v", time.Since(start).Round(time.Millisecond))
	// Then one per interval: counted over ten intervals, not timed one by
	// one, since a test descheduled for a while reads several at once.
	const window = 10 * every
	n := 0
	end := time.Now().Add(window)
	for {
		c.SetReadDeadline(end)
		_, b, err := c.ReadMessage()
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(`{"type":"heartbeat"`)) {
			t.Fatalf("heartbeat expected: %.100s", b)
		}
		n++
	}
	if n < 2 || n > 12 {
		t.Errorf("%d heartbeats in %v, with one every %v", n, window, every)
	}
	pings.Lock()
	defer pings.Unlock()
	if pinged < 2 {
		t.Errorf("%d pings in %v, with one every %v", pinged, window, every)
	}
}

func TestBoardCloseEndsConnections(t *testing.T) {
	e := newBoardEnv(t, 0, Options{})
	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)
	var conns []*websocket.Conn
	for range 3 {
		c, _ := openBoard(t, e.Srv, sess)
		conns = append(conns, c)
	}
	start := time.Now()
	e.site.Close()
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage()
		if ne, ok := errors.AsType[net.Error](err); err == nil || ok && ne.Timeout() {
			t.Fatalf("board %d after Close: %v", i, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v to end the boards", d)
	}
	t.Logf("Close ended 3 boards in %v", time.Since(start).Round(time.Microsecond))
	if n := e.b.hub.Boards(); n != 0 {
		t.Errorf("%d boards held after Close", n)
	}
	// A board that arrives after Close is not taken on.
	c, resp, err := dialBoard(e.Srv, sess, "", nil)
	if err == nil {
		c.Close()
		t.Fatal("a board opened after Close")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %v (%v), want 503", err, resp)
	}
}

// At log level debug every request goes through the request logger's
// wrapper, which is no http.Hijacker: the board must open all the same,
// and its request is logged as a switch of protocols.
func TestBoardWithDebugLog(t *testing.T) {
	var buf synctest.Buffer
	e := newBoardEnv(t, 0, Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sess := webtest.Login(t, e.Srv, boardAdmin, boardPassword)
	c, _ := openBoard(t, e.Srv, sess)
	refused, resp, err := dialBoard(e.Srv, sess, "https://evil.example", nil)
	if err == nil {
		refused.Close()
		t.Fatal("foreign Origin: the board opened")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Origin: %v (%v)", err, resp)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "path=/board/ws status=101") || !strings.Contains(buf.String(), "path=/board/ws status=403") {
		if time.Now().After(deadline) {
			t.Fatalf("request log:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
