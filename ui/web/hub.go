package web

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The hub of a live page: the staff board. Every connected board gets, on
// connect, a snapshot of every section of the picture with a sequence
// number, then a delta with the next number whenever sections change. A client that sees a gap asks
// for a snapshot again ({"type":"resync"}). All clients get the same bytes,
// so a change costs one marshal and one websocket frame however many boards
// are open (a PreparedMessage: each board's write is one system call), and
// a snapshot is marshalled once per seq however many boards connect. A
// client that cannot keep up is dropped: the node never waits for a tablet.

// Hub limits and timings.
const (
	maxBoards = 2000
	sendQueue = 16 // messages a client may fall behind before it is dropped
	writeWait = 10 * time.Second
	pingEvery = 20 * time.Second
	pongWait  = 60 * time.Second
	pollEvery = 5 * time.Second // what changes without events (power)
	pollSlow  = 30 * time.Second
)

// Message is every message to a board.
type Message struct {
	Type     string                     `json:"type"` // snapshot, delta, heartbeat
	Seq      uint64                     `json:"seq"`
	Sections map[string]json.RawMessage `json:"sections,omitempty"`
}

// HubOptions configure a Hub.
type HubOptions struct {
	// Sections is the picture, by section; each marshals to JSON.
	Sections func() map[string]any // required
	// Changed is closed when the picture may have changed: the log's
	// Changed. Sections are also polled, for what changes without events.
	Changed func() <-chan struct{} // required
	// Slow, when it reports true, polls every 30 s instead of 5 (low-power
	// mode: slower board updates).
	Slow   func() bool
	Logger *slog.Logger // slog.Default() when nil
	// Every is how often boards get a heartbeat message and a ping; 20 s
	// when zero.
	Every time.Duration
	// Throttle, when set, is the least time between two publishes on a
	// change: the changes within it go out together once it has passed.
	// Central's page fetches its picture again on every message, so a
	// busy minute of ingest costs each open page two fetches a second at
	// most, not one a batch.
	Throttle time.Duration
}

// Hub sends a picture's sections to every open board.
type Hub struct {
	opts    HubOptions
	logger  *slog.Logger
	done    <-chan struct{}
	start   sync.Once
	mu      sync.Mutex
	clients map[*boardClient]struct{}
	seq     uint64
	last    map[string]json.RawMessage
	snap    *websocket.PreparedMessage // the snapshot at seq; nil until asked for
}

// NewHub makes a hub that lives as long as the site: Close ends its boards.
func (s *Site) NewHub(opts HubOptions) *Hub {
	h := &Hub{opts: opts, logger: opts.Logger, done: s.done, clients: map[*boardClient]struct{}{}}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h
}

func (h *Hub) pingEvery() time.Duration {
	if h.opts.Every > 0 {
		return h.opts.Every
	}
	return pingEvery
}

// Boards is how many boards are open.
func (h *Hub) Boards() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Seq is the sequence number of the current picture.
func (h *Hub) Seq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
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

// Publish recomputes the sections and sends the changed ones to every
// board. It returns the message, for tests and benchmarks.
func (h *Hub) Publish() []byte {
	fresh := map[string]json.RawMessage{}
	for name, v := range h.opts.Sections() {
		b, err := json.Marshal(v)
		if err != nil {
			h.logger.Error("Board section failed", "section", name, "err", err)
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
	msg, _ := json.Marshal(Message{Type: "delta", Seq: h.seq, Sections: changed})
	h.broadcastLocked(prepare(msg))
	return msg
}

// prepare frames a message once for every board.
func prepare(msg []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	if err != nil {
		panic("web: board message: " + err.Error()) // only compression fails, and it is off
	}
	return pm
}

func (h *Hub) broadcastLocked(msg *websocket.PreparedMessage) {
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

// run publishes on every change, and on a timer for what changes without
// events (power, the clock, call-down), until the site closes.
func (h *Hub) run() {
	// The channel is taken before the state is read, so that an event
	// folded in while publish reads is not missed until the next poll.
	changed := h.opts.Changed()
	h.Publish()
	last := time.Now()
	var settle <-chan time.Time // a change waiting out the throttle
	heartbeat := time.NewTicker(h.pingEvery())
	defer heartbeat.Stop()
	// The power poll keeps its own deadline, so events and heartbeats do
	// not keep pushing it back.
	poll := time.NewTimer(pollEvery)
	defer poll.Stop()
	for {
		select {
		case <-h.done:
			h.mu.Lock()
			for c := range h.clients {
				delete(h.clients, c)
				c.drop()
			}
			h.mu.Unlock()
			return
		case <-changed:
			if wait := h.opts.Throttle - time.Since(last); wait > 0 {
				// Not listening until then: the next channel is taken
				// right before the publish, as above.
				changed, settle = nil, time.After(wait)
				continue
			}
			changed = h.opts.Changed()
			h.Publish()
			last = time.Now()
		case <-settle:
			settle = nil
			changed = h.opts.Changed()
			h.Publish()
			last = time.Now()
		case <-poll.C:
			h.Publish()
			interval := pollEvery
			if h.opts.Slow != nil && h.opts.Slow() {
				interval = pollSlow
			}
			poll.Reset(interval)
		case <-heartbeat.C:
			h.mu.Lock()
			msg, _ := json.Marshal(Message{Type: "heartbeat", Seq: h.seq})
			h.broadcastLocked(prepare(msg))
			h.mu.Unlock()
		}
	}
}

// snapshotLocked is the full picture at the current sequence number,
// marshalled once for all the boards that connect or resync at it.
func (h *Hub) snapshotLocked() *websocket.PreparedMessage {
	if h.snap == nil {
		msg, _ := json.Marshal(Message{Type: "snapshot", Seq: h.seq, Sections: h.last})
		h.snap = prepare(msg)
	}
	return h.snap
}

// ServeHTTP upgrades a request (a staff session's, behind the site's
// guard) to a live board.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.start.Do(func() {
		h.Publish() // the first snapshot is ready before the first client
		go h.run()
	})
	h.mu.Lock()
	full := len(h.clients) >= maxBoards
	h.mu.Unlock()
	if full {
		WriteError(w, http.StatusServiceUnavailable, "too many boards open")
		return
	}
	select {
	case <-h.done:
		WriteError(w, http.StatusServiceUnavailable, "the node is shutting down")
		return
	default:
	}
	conn, err := upgrader.Upgrade(hijacker{w}, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a foreign Origin)
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.status = http.StatusSwitchingProtocols // for the request count and log
	}
	conn.SetReadLimit(4096)
	c := &boardClient{conn: conn, send: make(chan *websocket.PreparedMessage, sendQueue), gone: make(chan struct{})}
	h.mu.Lock()
	select {
	case <-h.done:
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
func (c *boardClient) reader(h *Hub) {
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
// request counter's wrapper, which is no http.Hijacker itself; errors
// still go through the wrapper, so their status is counted and logged.
type hijacker struct{ http.ResponseWriter }

func (w hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
