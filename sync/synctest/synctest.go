// Package synctest holds helpers for the sync tests: a real Mosquitto on a
// free loopback port with its own configuration, a TCP proxy that can cut
// connections, and a subscriber that captures every sync message. Tests
// only: nothing in the daemon imports it.
package synctest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MosquittoBin is Debian's mosquitto.
const MosquittoBin = "/usr/sbin/mosquitto"

// NeedPeer skips a test whose external peer is missing, or fails it when
// REQUIRE_PEERS=1 says the peer must be there (CI images that install it).
func NeedPeer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("REQUIRE_PEERS") == "1" {
		t.Fatalf("%s, and REQUIRE_PEERS=1", what)
	}
	t.Skip("SKIP: " + what)
}

// NeedMosquitto skips (or fails, under REQUIRE_PEERS=1) without mosquitto.
func NeedMosquitto(t testing.TB) {
	t.Helper()
	if fi, err := os.Stat(MosquittoBin); err != nil || fi.Mode()&0o111 == 0 {
		NeedPeer(t, "mosquitto not installed ("+MosquittoBin+" missing)")
	}
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a mosquitto process on 127.0.0.1:Port, anonymous, without
// persistence: a restart forgets retained messages and sessions, as a
// production broker that lost its disk would.
type Mosquitto struct {
	t    testing.TB
	Port int
	conf string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	log      *Buffer
	restarts int
}

// StartMosquitto starts mosquitto on a free port.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoOn(t, FreePort(t))
}

// StartMosquittoOn starts mosquitto on port, which must be free.
func StartMosquittoOn(t testing.TB, port int) *Mosquitto {
	t.Helper()
	return startConf(t, port, MosquittoConf(port, "allow_anonymous true"))
}

// mosquittoCommon is what every test broker's configuration says beside
// its listener and users: nothing persisted, and a log for the test to
// show when it fails.
var mosquittoCommon = []string{
	"persistence false",
	"log_dest stderr",
	"log_type error", "log_type warning", "log_type notice",
	"connection_messages true",
}

// MosquittoConf is a configuration for mosquitto with a listener on
// 127.0.0.1:port, then settings (one a line: the listener's TLS, users,
// ACL), then what every test broker has: no persistence, and errors,
// warnings, notices and connections logged to stderr.
func MosquittoConf(port int, settings ...string) string {
	lines := append([]string{fmt.Sprintf("listener %d 127.0.0.1", port)}, settings...)
	return strings.Join(append(lines, mosquittoCommon...), "\n") + "\n"
}

// startConf starts mosquitto on port with configuration conf.
func startConf(t testing.TB, port int, conf string) *Mosquitto {
	t.Helper()
	NeedMosquitto(t)
	m := &Mosquitto{t: t, Port: port, conf: filepath.Join(t.TempDir(), "mosquitto.conf"), log: &Buffer{}}
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto on %d (%d restarts), its log:\n%s", m.Port, m.restarts, m.log.Tail(8000))
		}
	})
	return m
}

// URL is the broker's address for paho and --mqtt.
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr() }

// Addr is host:port.
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port)) }

// Log is what mosquitto wrote.
func (m *Mosquitto) Log() string { return m.log.String() }

func (m *Mosquitto) start() {
	m.t.Helper()
	// The port may still be held for a moment by the previous process.
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(MosquittoBin, "-c", m.conf)
		cmd.Stdout, cmd.Stderr = m.log, m.log
		if err := cmd.Start(); err != nil {
			m.t.Fatalf("start mosquitto: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		ok := waitListening(m.Addr(), done, 5*time.Second)
		if ok {
			m.mu.Lock()
			m.cmd, m.done = cmd, done
			m.mu.Unlock()
			return
		}
		cmd.Process.Kill()
		<-done
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %s; its log:\n%s", m.Addr(), m.log.Tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListening dials addr until it answers, the process ends or d passes.
func waitListening(addr string, done <-chan struct{}, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-done:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Stop kills mosquitto (SIGKILL: whatever it held in memory is gone).
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.t.Errorf("mosquitto %d did not die after SIGKILL", cmd.Process.Pid)
	}
}

// Restart kills mosquitto and starts it again on the same port.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.restarts++
	m.start()
}

// Start starts a stopped mosquitto again.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	running := m.cmd != nil
	m.mu.Unlock()
	if !running {
		m.start()
	}
}

// Buffer is a goroutine-safe bytes.Buffer.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last n bytes written.
func (b *Buffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Proxy forwards TCP connections from a loopback port to a target and can
// cut them: the link between a node and its broker, made unreliable.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	down  bool
	cuts  int
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address for paho and --mqtt.
func (p *Proxy) URL() string { return "tcp://" + p.Addr() }

// Cuts is how many connections Cut and SetDown have closed.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down || p.conns == nil {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			c.Close()
			u.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, u)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(u, c); closeBoth() }()
	go func() { defer wg.Done(); io.Copy(c, u); closeBoth() }()
	wg.Wait()
}

// Cut closes every open connection at once, both sides, and reports how
// many pairs it closed. New connections are accepted again at once.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	var cs []net.Conn
	for c := range p.conns {
		cs = append(cs, c)
	}
	n := len(cs) / 2
	p.cuts += n
	p.mu.Unlock()
	for _, c := range cs {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as when a link dies, not a polite close
		}
		c.Close()
	}
	return n
}

// SetDown makes the proxy refuse every connection (and cut the open ones)
// while down: the link is gone.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.Cut()
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.SetDown(true)
	p.wg.Wait()
}

// Message is one captured MQTT message.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	At       time.Time
}

// Capture subscribes to every sync topic (sp/v1/#) and keeps every message.
type Capture struct {
	client mqtt.Client
	mu     sync.Mutex
	msgs   []Message
}

// StartCapture connects a listening client to url.
func StartCapture(t testing.TB, url string) *Capture {
	t.Helper()
	c := &Capture{}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("capture-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(true).
		SetOnConnectHandler(func(cl mqtt.Client) {
			cl.Subscribe("sp/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
				p := append([]byte(nil), m.Payload()...)
				c.mu.Lock()
				c.msgs = append(c.msgs, Message{Topic: m.Topic(), Payload: p, Retained: m.Retained(), At: time.Now()})
				c.mu.Unlock()
			})
		})
	c.client = mqtt.NewClient(opts)
	tok := c.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("capture: connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.client.Disconnect(100) })
	return c
}

// Messages returns a copy of what was captured so far.
func (c *Capture) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// Client connects a plain paho client to url (for publishing by hand).
func Client(t testing.TB, url, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("client %s: connect to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish publishes and waits for the broker's acknowledgement.
func Publish(t testing.TB, c mqtt.Client, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// Eventually polls cond every 20 ms until it holds or d passes.
func Eventually(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logger is a slog logger into a buffer that the test prints when it
// fails (t.Log after a test ends would panic; a buffer never does).
func Logger(t testing.TB, name string) *slog.Logger {
	b := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, b.Tail(16000))
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TryClient connects a plain client to url, or returns nil.
func TryClient(url, id string) mqtt.Client {
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
		return nil
	}
	return c
}
