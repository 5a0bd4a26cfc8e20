package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is a mochi listener that owns its connections. mochi's own TCP
// listener leaves three things undone that matter here: no deadline before
// CONNECT (a silent peer holds its connection, and shutdown, forever); no
// way to close connections that never authenticated; and the server's
// connection WaitGroup is Add-ed in each connection's goroutine with no
// ordering against Close's Wait (the race detector reports it).
type listener struct {
	ln  net.Listener
	tls *tls.Config
	log *slog.Logger

	mu      sync.Mutex
	closed  bool
	conns   map[*conn]struct{}
	serving chan struct{} // closed when Serve returns; nil until Serve runs
}

const listenerID = "mqtt"

func newListener(ln net.Listener, tlsConfig *tls.Config, log *slog.Logger) *listener {
	return &listener{ln: ln, tls: tlsConfig, log: log, conns: map[*conn]struct{}{}}
}

func (l *listener) ID() string              { return listenerID }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	done := make(chan struct{})
	l.serving = done
	l.mu.Unlock()
	defer close(done)

	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if isTemporary(err) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return
		}
		nc.SetDeadline(time.Now().Add(connectTimeout)) // mochi replaces it after CONNECT
		c := &conn{Conn: nc, l: l, started: make(chan struct{})}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			nc.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()

		var mc net.Conn = c
		if l.tls != nil {
			mc = tls.Server(c, l.tls)
		}
		go func() {
			defer l.forget(c)
			// mochi's own listeners log this at warn level; a node on a
			// bad link is normal, not a warning. Refusals are logged already.
			if err := establish(listenerID, mc); err != nil && !errors.Is(err, errRefused) {
				l.log.Debug("MQTT connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// isTemporary reports an accept error worth retrying (out of file
// descriptors, a connection aborted before accept).
func isTemporary(err error) bool {
	type temporary interface{ Temporary() bool }
	t, ok := err.(temporary)
	return ok && t.Temporary()
}

// Close is called by mochi's Server.Close before it waits for every
// connection to end. It has mochi send DISCONNECT to the authenticated
// clients, closes the socket and every connection that never
// authenticated, then waits until each remaining connection's goroutine has
// started reading, which orders mochi's WaitGroup.Add before its Wait.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	serving := l.serving
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()

	closeClients(listenerID)
	l.ln.Close()
	if serving != nil {
		<-serving
	}
	for _, c := range conns {
		if !c.authed.Load() {
			c.Close()
		}
	}
	for _, c := range conns {
		<-c.started
	}
}

// closeAll closes every connection, authenticated or not.
func (l *listener) closeAll() {
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// conn is an accepted connection.
type conn struct {
	net.Conn
	l         *listener
	authed    atomic.Bool   // passed CONNECT
	started   chan struct{} // closed at the first Read: mochi's goroutine for it is running
	startOnce sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	c.startOnce.Do(func() { close(c.started) })
	return c.Conn.Read(p)
}

// forget drops c once mochi is done with it. Taking the lock here also
// orders everything mochi did for c before a later Close.
func (l *listener) forget(c *conn) {
	c.Close()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// markAuthenticated records that cl's connection passed CONNECT, so that
// shutdown lets mochi say goodbye to it rather than cutting it off.
func markAuthenticated(cl *mqtt.Client) {
	nc := cl.Net.Conn
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*conn); ok {
		c.authed.Store(true)
	}
}
