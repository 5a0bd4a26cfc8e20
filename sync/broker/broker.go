// Package broker is the embedded MQTT broker of `safepoint central
// --embedded-broker`: mochi-mqtt with the same users and ACL as the
// production Mosquitto setup (docs/BROKER.md). Each node may write only its
// own up and status topics and read only its own ack and down topics; a
// central reads every node's uplink and writes acks and downlink.
//
// Retained messages and sessions live in memory only. That is enough: the
// durable queue is the SQLite log at both ends, and a node resends whatever
// central has not acknowledged, so the broker may forget everything.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Opts configures a Broker. Zero fields mean defaults.
type Opts struct {
	Addr      string       // where to listen; "127.0.0.1:1883" by default, port 0 picks a free one
	UsersFile string       // DATA/broker/users; re-read when it changes
	Logger    *slog.Logger // warnings and refusals; nothing by default
	TLSConfig *tls.Config  // serve MQTT over TLS when set
	MaxQueued int          // messages queued and in flight per client; 10000 by default
}

const (
	defaultAddr      = "127.0.0.1:1883"
	defaultMaxQueued = 10000
	// maxPacket bounds every packet, CONNECT included, so an unauthenticated
	// peer cannot make the broker buffer a 256 MB packet. sync/wire's
	// messages are at most 1 MiB; the rest is headroom for topic and headers.
	maxPacket = 2 << 20
	// connectTimeout is how long a new connection may take to send CONNECT
	// (and finish TLS). mochi sets no deadline before CONNECT.
	connectTimeout = 10 * time.Second
	// shutdownGrace is how long Run lets mochi close its clients before it
	// closes every connection itself.
	shutdownGrace = 3 * time.Second
	// sessionExpiry bounds how long a disconnected persistent session is
	// kept (mochi's default is forever).
	sessionExpiry = 24 * 60 * 60
)

// Broker is an embedded MQTT broker.
type Broker struct {
	opts  Opts
	log   *slog.Logger
	srv   *mqtt.Server
	ln    *listener
	slots chan struct{} // bounds concurrent argon2id hashes (19 MiB each)
	ran   atomic.Bool

	mu       sync.RWMutex
	file     *Users      // the users file as last read; nil if none
	fileStat os.FileInfo // of the read that produced file (or failed)
	centrals map[string]*user
}

// New makes a broker and binds its address, so that Addr is known before
// Run. Run must be called to serve and, in the end, to close the socket.
func New(opts Opts) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = defaultAddr
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = defaultMaxQueued
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{
		opts:     opts,
		log:      opts.Logger,
		slots:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		centrals: map[string]*user{},
	}
	if opts.UsersFile != "" {
		if err := b.reload(); err != nil {
			return nil, err
		}
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(min(opts.MaxQueued, math.MaxInt32))
	caps.MaximumInflight = uint16(min(opts.MaxQueued, math.MaxUint16))
	caps.MaximumPacketSize = maxPacket
	caps.MaximumSessionExpiryInterval = sessionExpiry
	// Keep retained messages (acks, statuses) until the broker stops, as
	// Mosquitto does; mochi's default drops them after a day.
	caps.MaximumMessageExpiryInterval = 0
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 slog.New(mochiHandler{h: opts.Logger.Handler()}),
		SysTopicResendInterval: 60, // nobody may read $SYS; don't stop the world every second for it
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}

	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.ln = newListener(l, opts.TLSConfig, opts.Logger)
	if err := b.srv.AddListener(b.ln); err != nil {
		l.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on, with the real port when
// Opts.Addr asked for port 0.
func (b *Broker) Addr() string { return b.ln.Address() }

// Run serves until ctx ends, then disconnects every client and closes the
// socket. It returns nil on a clean stop.
func (b *Broker) Run(ctx context.Context) error {
	if !b.ran.CompareAndSwap(false, true) {
		return errors.New("broker: Run called twice")
	}
	if err := b.srv.Serve(); err != nil {
		b.ln.ln.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.log.Info("MQTT broker listening", "address", b.Addr(), "tls", b.opts.TLSConfig != nil)
	<-ctx.Done()

	closed := make(chan struct{})
	go func() {
		b.srv.Close() // sends DISCONNECT to clients, then waits for every connection to end
		close(closed)
	}()
	select {
	case <-closed:
		return nil
	case <-time.After(shutdownGrace):
		b.log.Warn("MQTT clients slow to close; closing their connections")
		b.ln.closeAll()
	}
	// Once every connection is cut, mochi's Close has nothing left to wait
	// for; if it still does (seen once in a test run, in 1 of some hundred
	// stops), the daemon must not hang on its way out: say so and go.
	select {
	case <-closed:
		return nil
	case <-time.After(shutdownGrace):
		return errors.New("broker: still stopping after every connection was closed; left behind")
	}
}

// AddCentral adds a central user that lives in memory only, so that the
// central process can connect to its own embedded broker without an entry
// in the users file. It may read and write every municipality. Adding the
// same name again replaces the password. An in-memory central shadows a
// user of the same name in the file.
func (b *Broker) AddCentral(name, password string) error {
	u, err := newUser(name, RoleCentral, AllMunicipalities, password)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.centrals[name] = u
	b.mu.Unlock()
	return nil
}

func (b *Broker) lookup(name string) (*user, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if u, ok := b.centrals[name]; ok {
		return u, true
	}
	return b.file.lookup(name)
}

// reload reads the users file. A missing file is an empty one: nodes are
// added later with `safepoint broker-config`.
func (b *Broker) reload() error {
	fi, err := os.Stat(b.opts.UsersFile)
	if errors.Is(err, os.ErrNotExist) {
		b.mu.Lock()
		b.file, b.fileStat = nil, nil
		b.mu.Unlock()
		b.log.Warn("MQTT users file missing; only in-process centrals can connect", "file", b.opts.UsersFile)
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	u, err := LoadUsers(b.opts.UsersFile)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.file, b.fileStat = u, fi
	b.mu.Unlock()
	return nil
}

// refresh re-reads the users file if it changed since it was last read, so
// that a node added while central runs can connect at once. A file that no
// longer parses is reported and the previous users stay.
func (b *Broker) refresh() {
	if b.opts.UsersFile == "" {
		return
	}
	fi, err := os.Stat(b.opts.UsersFile)
	b.mu.RLock()
	prev := b.fileStat
	b.mu.RUnlock()
	switch {
	case err != nil && prev == nil:
		return // still missing
	case err != nil:
		b.log.Warn("MQTT users file unreadable; keeping the previous users", "error", err)
		return
	case prev != nil && os.SameFile(prev, fi) && prev.ModTime().Equal(fi.ModTime()) && prev.Size() == fi.Size():
		return
	}
	u, err := LoadUsers(b.opts.UsersFile)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fileStat = fi // a bad file is not parsed again until it changes
	if err != nil {
		b.log.Warn("MQTT users file invalid; keeping the previous users", "error", err)
		return
	}
	b.file = u
	b.log.Info("MQTT users file reloaded", "users", u.Len())
}

// authenticate checks a password, costing one argon2id hash whether or not
// the user exists.
func (b *Broker) authenticate(name string, password []byte) (*user, bool) {
	b.slots <- struct{}{}
	defer func() { <-b.slots }()
	u, ok := b.lookup(name)
	hash := dummyHash()
	if ok {
		hash = u.hash
	}
	if !verifyPassword(hash, password) || !ok {
		return nil, false
	}
	return u, true
}

// hook enforces the users file and the ACL inside mochi.
type hook struct {
	mqtt.HookBase
	b        *Broker
	approved sync.Map // *mqtt.Client → struct{}: passed OnConnect, awaiting OnConnectAuthenticate
}

const hookID = "safepoint-acl"

func (h *hook) ID() string { return hookID }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish:
		return true
	}
	return false
}

// errRefused ends a connection the hook refused (and logged).
var errRefused = errors.New("broker: connection refused")

// OnConnect checks the credentials, the client id and the Last Will. It
// runs before OnConnectAuthenticate, and refusing here lets the CONNACK say
// why (mochi's OnConnectAuthenticate can only say "bad user name or
// password").
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	b := h.b
	name := string(pk.Connect.Username)
	refuse := func(code packets.Code, reason string, known bool) error {
		attrs := []any{"reason", reason, "remote", cl.Net.Remote}
		if known { // an unknown "name" may be a password typed in the wrong field
			attrs = append(attrs, "user", name)
		}
		b.log.Warn("MQTT connection refused", attrs...)
		if cl.Properties.ProtocolVersion < 5 && code != packets.ErrClientIdentifierNotValid {
			// mochi maps this one to MQTT 3's "not authorized" (5); it has
			// no MQTT 3 mapping for ErrNotAuthorized.
			code = packets.ErrBadUsernameOrPassword
		}
		b.srv.SendConnack(cl, code, false, nil)
		return errRefused
	}
	if !pk.Connect.UsernameFlag || name == "" {
		return refuse(packets.ErrNotAuthorized, "anonymous", false)
	}
	b.refresh()
	u, ok := b.authenticate(name, pk.Connect.Password)
	if !ok {
		return refuse(packets.ErrBadUsernameOrPassword, "badCredentials", false)
	}
	if u.role == RoleNode && cl.ID != u.name {
		return refuse(packets.ErrClientIdentifierNotValid, "clientIDNotUser", true)
	}
	// Taking over a session moves its subscriptions and queue to the new
	// connection: only the user who owns it may.
	if old, ok := b.srv.Clients.Get(cl.ID); ok && string(old.Properties.Username) != name {
		return refuse(packets.ErrClientIdentifierNotValid, "clientIDInUse", true)
	}
	if pk.Connect.WillFlag && !willAllowed(u, pk.Connect.WillTopic) {
		return refuse(packets.ErrNotAuthorized, "willTopicDenied", true)
	}
	h.approved.Store(cl, struct{}{})
	return nil
}

// OnConnectAuthenticate admits exactly the clients OnConnect approved.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	_, ok := h.approved.LoadAndDelete(cl)
	if ok {
		markAuthenticated(cl)
	}
	return ok
}

// OnACLCheck decides reads: subscriptions, and each delivery. Writes are
// decided in OnPublish, after topic aliases are resolved, so that a denied
// publish is acknowledged and dropped as Mosquitto does, rather than
// disconnecting the client as mochi does for MQTT 3 at QoS 1 and 2.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true // see OnPublish
	}
	u, _ := h.b.lookup(string(cl.Properties.Username))
	ok := mayRead(u, topic)
	if !ok {
		h.b.log.Warn("MQTT read denied", "user", string(cl.Properties.Username), "filter", clip(topic))
	}
	return ok
}

// OnPublish drops a publish the user may not make. The client still gets
// its PUBACK (MQTT 3) or a PUBACK "not authorized" (MQTT 5, QoS 1), as from
// Mosquitto.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	u, _ := h.b.lookup(string(cl.Properties.Username))
	if mayPublish(u, pk.TopicName) {
		return pk, nil
	}
	h.b.log.Warn("MQTT publish denied", "user", string(cl.Properties.Username), "topic", clip(pk.TopicName))
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos == 1 {
		// mochi answers QoS 2 with a PUBACK here too, so QoS 2 is ignored below.
		return pk, packets.ErrNotAuthorized
	}
	// Ignored: neither retained nor delivered, but acknowledged. Any other
	// error would let mochi deliver the message anyway.
	return pk, packets.CodeSuccessIgnore
}

// clip bounds a client-chosen string for the log.
func clip(s string) string {
	if len(s) > 128 {
		return strings.ToValidUTF8(s[:128], "") + "…"
	}
	return s
}
