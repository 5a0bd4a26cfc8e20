package ui

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/safepoint-se/safepoint/node"
)

// The live board. Every connected board gets, on connect, a snapshot of
// every section of the picture with a sequence number, then a delta with
// the next number whenever sections change. A client that sees a gap asks
// for a snapshot again ({"type":"resync"}). All clients get the same bytes,
// so a change costs one marshal and one websocket frame however many boards
// are open (a PreparedMessage: each board's write is one system call), and
// a snapshot is marshalled once per seq however many boards connect. A
// client that cannot keep up is dropped: the node never waits for a tablet.

// Hub limits and timings.
const (
	maxBoards     = 2000
	sendQueue     = 16 // messages a client may fall behind before it is dropped
	writeWait     = 10 * time.Second
	pingEvery     = 20 * time.Second
	pongWait      = 60 * time.Second
	pollPower     = 5 * time.Second // power changes without events
	pollPowerSlow = 30 * time.Second
)

// boardMsg is every message to a board.
type boardMsg struct {
	Type     string                     `json:"type"` // snapshot, delta, heartbeat
	Seq      uint64                     `json:"seq"`
	Sections map[string]json.RawMessage `json:"sections,omitempty"`
}

type hub struct {
	s       *Server
	start   sync.Once
	mu      sync.Mutex
	clients map[*boardClient]struct{}
	seq     uint64
	last    map[string]json.RawMessage
	snap    *websocket.PreparedMessage // the snapshot at seq; nil until asked for
	// every is how often boards get a heartbeat message and a ping;
	// pingEvery when zero. Tests shorten it before the server serves.
	every time.Duration
}

func (h *hub) pingEvery() time.Duration {
	if h.every > 0 {
		return h.every
	}
	return pingEvery
}

type boardClient struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
	gone chan struct{} // closed when the client is dropped
	once sync.Once
}

func (c *boardClient) drop() {
	c.once.Do(func() {
		close(c.gone)
		c.conn.Close()
	})
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024, // boards send only pongs and resyncs
	WriteBufferSize: 2048, // pings and closes; messages are prepared frames
	WriteBufferPool: &sync.Pool{},
	// CheckOrigin stays nil: gorilla's default refuses a browser whose
	// Origin is not this host.
}

// sections splits the board's picture into the parts a board renders.
func (s *Server) sections() map[string]any {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	clock := s.log.Clock()
	var now time.Time
	if clock.Plausible() {
		now = clock.Wall()
	}
	nz := func(x any) any { return x }
	return map[string]any{
		"point":         v.Point,
		"activation":    v.Activation,
		"services":      v.Services,
		"announcements": nonNil(v.Announcements),
		"checkins":      nonNil(v.CheckIns),
		"reports":       nonNil(v.Reports),
		"counts":        v.Counts,
		"inventory":     nonNil(v.Inventory),
		"roster":        nonNil(v.Roster),
		"journal":       nonNil(v.Journal),
		"power":         nz(s.powerStatus()),
		"calldown":      s.callDown(v.Reports, now),
		"link":          s.syncStatus(),
		"clock":         map[string]any{"ok": clock.Plausible(), "minute": now.Truncate(time.Minute)},
		"fingerprint":   s.opts.Fingerprint,
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// callDown lists the open reports nobody has touched for the call-down
// time: staff should check on them again.
func (s *Server) callDown(reports []node.Report, now time.Time) []string {
	out := []string{}
	if now.IsZero() {
		return out
	}
	for _, r := range reports {
		if r.Status != node.ReportResolved && now.Sub(r.Updated.Time()) > s.callDownAfter() {
			out = append(out, r.ID)
		}
	}
	return out
}

func (s *Server) callDownAfter() time.Duration {
	if s.opts.CallDown > 0 {
		return s.opts.CallDown
	}
	return 30 * time.Minute
}

// publish recomputes the sections and sends the changed ones to every
// board. It returns the message, for tests and benchmarks.
func (h *hub) publish() []byte {
	fresh := map[string]json.RawMessage{}
	for name, v := range h.s.sections() {
		b, err := json.Marshal(v)
		if err != nil {
			h.s.logger.Error("Board section failed", "section", name, "err", err)
			continue
		}
		fresh[name] = b
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := map[string]json.RawMessage{}
	for name, b := range fresh {
		if string(h.last[name]) != string(b) {
			changed[name] = b
		}
	}
	h.last = fresh
	if len(changed) == 0 {
		return nil
	}
	h.seq++
	h.snap = nil
	msg, _ := json.Marshal(boardMsg{Type: "delta", Seq: h.seq, Sections: changed})
	h.broadcastLocked(prepare(msg))
	return msg
}

// prepare frames a message once for every board.
func prepare(msg []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	if err != nil {
		panic("ui: board message: " + err.Error()) // only compression fails, and it is off
	}
	return pm
}

func (h *hub) broadcastLocked(msg *websocket.PreparedMessage) {
	for c := range h.clients {
		select {
		case c.send <- msg:
		default:
			// Too slow: drop it rather than wait. It reconnects and gets
			// a fresh snapshot.
			delete(h.clients, c)
			c.drop()
		}
	}
}

// run publishes on every change of the log, and on a timer for what
// changes without events (power, the clock, call-down), until the server
// closes.
func (h *hub) run() {
	// The channel is taken before the state is read, so that an event
	// folded in while publish reads is not missed until the next poll.
	changed := h.s.log.Changed()
	h.publish()
	heartbeat := time.NewTicker(h.pingEvery())
	defer heartbeat.Stop()
	// The power poll keeps its own deadline, so events and heartbeats do
	// not keep pushing it back.
	poll := time.NewTimer(pollPower)
	defer poll.Stop()
	for {
		select {
		case <-h.s.done:
			h.mu.Lock()
			for c := range h.clients {
				delete(h.clients, c)
				c.drop()
			}
			h.mu.Unlock()
			return
		case <-changed:
			changed = h.s.log.Changed()
			h.publish()
		case <-poll.C:
			h.publish()
			interval := pollPower
			if p := h.s.powerStatus(); p != nil && p.LowPower {
				interval = pollPowerSlow // low-power mode: slower board updates
			}
			poll.Reset(interval)
		case <-heartbeat.C:
			h.mu.Lock()
			msg, _ := json.Marshal(boardMsg{Type: "heartbeat", Seq: h.seq})
			h.broadcastLocked(prepare(msg))
			h.mu.Unlock()
		}
	}
}

// snapshotLocked is the full picture at the current sequence number,
// marshalled once for all the boards that connect or resync at it.
func (h *hub) snapshotLocked() *websocket.PreparedMessage {
	if h.snap == nil {
		msg, _ := json.Marshal(boardMsg{Type: "snapshot", Seq: h.seq, Sections: h.last})
		h.snap = prepare(msg)
	}
	return h.snap
}

// boardWS upgrades a staff session to the live board.
func (s *Server) boardWS(w http.ResponseWriter, r *http.Request) {
	h := s.hub
	h.start.Do(func() {
		h.publish() // the first snapshot is ready before the first client
		go h.run()
	})
	h.mu.Lock()
	full := len(h.clients) >= maxBoards
	h.mu.Unlock()
	if full {
		writeError(w, http.StatusServiceUnavailable, "too many boards open")
		return
	}
	select {
	case <-s.done:
		writeError(w, http.StatusServiceUnavailable, "the node is shutting down")
		return
	default:
	}
	conn, err := upgrader.Upgrade(hijacker{w}, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a foreign Origin)
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols // for the request log
	}
	conn.SetReadLimit(4096)
	c := &boardClient{conn: conn, send: make(chan *websocket.PreparedMessage, sendQueue), gone: make(chan struct{})}
	h.mu.Lock()
	select {
	case <-s.done:
		// Closed while upgrading: run has already dropped the others.
		h.mu.Unlock()
		c.drop()
		return
	default:
	}
	c.send <- h.snapshotLocked()
	h.clients[c] = struct{}{}
	h.mu.Unlock()

	go c.writer(h.pingEvery())
	// The reader gets a goroutine of its own, and this handler returns: its
	// goroutine's stack (grown by the session lookup) and net/http's
	// buffers for the connection are freed, not held for as long as the
	// board stays open.
	go func() {
		c.reader(h) // owns the connection until it ends
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
		c.drop()
	}()
}

// reader handles pongs and resync requests; it returns when the client
// goes away or is dropped.
func (c *boardClient) reader(h *hub) {
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		var m struct {
			Type string `json:"type"`
		}
		if err := c.conn.ReadJSON(&m); err != nil {
			return
		}
		if m.Type == "resync" {
			h.mu.Lock()
			select {
			case c.send <- h.snapshotLocked():
			default:
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
		}
	}
}

// writer sends queued messages and pings; it ends when the client is
// dropped or a write fails.
func (c *boardClient) writer(every time.Duration) {
	ping := time.NewTicker(every)
	defer ping.Stop()
	defer c.drop()
	for {
		select {
		case <-c.gone:
			return
		case msg := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WritePreparedMessage(msg); err != nil {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}

// hijacker lets the upgrader take the connection over from beneath the
// request logger's wrapper (a debug log level), which is no http.Hijacker
// itself; errors still go through the wrapper, so their status is logged.
type hijacker struct{ http.ResponseWriter }

func (w hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
