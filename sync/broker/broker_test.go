package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

const (
	wait        = 20 * time.Second // any single network step: argon2id under -race on a loaded 2-core box takes seconds
	centralPass = "central-secret-0123"
)

func pass(node string) string { return "pw-" + node + "-0123456789" }

type testBroker struct {
	*Broker
	users string
	logs  *synctest.Buffer
}

// startBroker runs a broker on a free loopback port with nodes a and b of
// 2161, c of 2180, and an in-memory central "central".
func startBroker(t *testing.T) *testBroker {
	t.Helper()
	users := filepath.Join(t.TempDir(), "broker", "users")
	u := &Users{}
	for _, n := range []struct{ name, m string }{{"a", "2161"}, {"b", "2161"}, {"c", "2180"}} {
		if err := u.Add(n.name, RoleNode, n.m, pass(n.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Save(users); err != nil {
		t.Fatal(err)
	}
	logs := &synctest.Buffer{}
	b, err := New(Opts{
		Addr:      "127.0.0.1:0",
		UsersFile: users,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddCentral("central", centralPass); err != nil {
		t.Fatal(err)
	}
	stop := run(b)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("BROKER_TEST_LOGS") != "" {
			t.Logf("broker log:\n%s", logs)
		}
		stop(t, wait)
	})
	return &testBroker{Broker: b, users: users, logs: logs}
}

// run runs b until stop, which cancels Run, fails the test unless Run
// returns nil within d, and reports how long it took to return.
func run(b *Broker) (stop func(t *testing.T, d time.Duration) time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return func(t *testing.T, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(d):
			t.Fatal("Run did not return after cancel")
		}
		return time.Since(start)
	}
}

// dialSilent opens a connection to addr that never sends CONNECT, until
// the test ends.
func dialSilent(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}

type clientOpts struct {
	id, user, password string
	willTopic          string
	tls                *tls.Config // nil: plain MQTT
}

func connect(t *testing.T, addr string, o clientOpts) (paho.Client, error) {
	t.Helper()
	scheme := "tcp://"
	if o.tls != nil {
		scheme = "tls://"
	}
	opts := paho.NewClientOptions().
		AddBroker(scheme + addr).
		SetTLSConfig(o.tls).
		SetClientID(o.id).
		SetUsername(o.user).
		SetPassword(o.password).
		SetProtocolVersion(4). // else paho retries a refused CONNECT with MQTT 3.1
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetKeepAlive(30 * time.Second).
		SetCleanSession(true).
		SetOrderMatters(true)
	if o.willTopic != "" {
		opts.SetWill(o.willTopic, `{"state":"offline"}`, 1, true)
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func mustConnect(t *testing.T, addr string, o clientOpts) paho.Client {
	t.Helper()
	c, err := connect(t, addr, o)
	if err != nil {
		t.Fatalf("connect %s: %v", o.id, err)
	}
	return c
}

func node(t *testing.T, b *testBroker, name string) paho.Client {
	return mustConnect(t, b.Addr(), clientOpts{id: name, user: name, password: pass(name)})
}

type msg struct{ topic, payload string }

// subscribe subscribes and returns the granted codes and a channel of
// every message the client receives on those filters.
func subscribe(t *testing.T, c paho.Client, filters ...string) (map[string]byte, chan msg) {
	t.Helper()
	ch := make(chan msg, 100)
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := c.SubscribeMultiple(m, func(_ paho.Client, m paho.Message) {
		ch <- msg{m.Topic(), string(m.Payload())}
	})
	if !tok.WaitTimeout(wait) {
		t.Fatal("subscribe timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return tok.(*paho.SubscribeToken).Result(), ch
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, retained bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s QoS %d: no acknowledgement", topic, qos)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func next(t *testing.T, ch chan msg) msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
		return msg{}
	}
}

func central(t *testing.T, b *testBroker) paho.Client {
	return mustConnect(t, b.Addr(), clientOpts{id: "central", user: "central", password: centralPass})
}

func TestNodePublishReachesCentral(t *testing.T) {
	b := startBroker(t)
	c := central(t, b)
	codes, got := subscribe(t, c, "sp/v1/+/+/up", "sp/v1/+/+/status")
	for f, code := range codes {
		if code != 1 {
			t.Errorf("central subscribe %s: code %#x", f, code)
		}
	}
	a := node(t, b, "a")
	publish(t, a, "sp/v1/2161/a/up", 1, false, "batch-1")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/up", "batch-1"}) {
		t.Errorf("central got %v", m)
	}
	publish(t, a, "sp/v1/2161/a/status", 1, true, "online")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/status", "online"}) {
		t.Errorf("central got %v", m)
	}

	// Central's retained ack reaches the node, also when it subscribes later.
	publish(t, c, "sp/v1/2161/a/ack", 1, true, "acked-1")
	codes, acks := subscribe(t, a, "sp/v1/2161/a/ack", "sp/v1/2161/a/down")
	for f, code := range codes {
		if code != 1 {
			t.Errorf("node subscribe %s: code %#x", f, code)
		}
	}
	if m := next(t, acks); m != (msg{"sp/v1/2161/a/ack", "acked-1"}) {
		t.Errorf("node got %v", m)
	}
	publish(t, c, "sp/v1/2161/a/down", 1, false, "directive")
	m := next(t, acks)
	for m == (msg{"sp/v1/2161/a/ack", "acked-1"}) {
		// QoS 1 is at least once: mochi may send the retained ack again
		// when the subscription lands while it forwards it live.
		m = next(t, acks)
	}
	if m != (msg{"sp/v1/2161/a/down", "directive"}) {
		t.Errorf("node got %v", m)
	}
}

// TestNodeCannotWriteElsewhere: a denied publish is acknowledged (as by
// Mosquitto) and dropped; the node stays connected; nothing reaches central,
// nothing is retained.
func TestNodeCannotWriteElsewhere(t *testing.T) {
	b := startBroker(t)
	c := central(t, b)
	_, got := subscribe(t, c, "sp/v1/#")
	a := node(t, b, "a")
	denied := []string{
		"sp/v1/2161/b/up",     // another node
		"sp/v1/2161/b/status", // another node's status
		"sp/v1/2180/a/up",     // own name, other municipality
		"sp/v1/2161/a/ack",    // faking central's ack
		"sp/v1/2161/a/down",   // faking a directive
		"sp/v1/2161/a/other",
		"sp/v1/2161/a",
		"sp/other",
		"elsewhere",
	}
	for _, topic := range denied {
		for qos := range byte(3) {
			publish(t, a, topic, qos, true, "forged")
		}
	}
	// mochi drops a publish to $SYS before any hook sees it, and without
	// an acknowledgement: only QoS 0 completes.
	publish(t, a, "$SYS/broker/version", 0, true, "forged")
	if !a.IsConnectionOpen() {
		t.Fatal("node disconnected after a denied publish")
	}
	// Delivery to central is in publish order: once the sentinel arrives,
	// anything forged would have arrived before it.
	publish(t, a, "sp/v1/2161/a/up", 1, false, "sentinel")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/up", "sentinel"}) {
		t.Fatalf("central got %v before the sentinel", m)
	}
	// Nor was anything retained: a fresh subscriber to everything gets
	// nothing but the sentinel's successor.
	c2 := mustConnect(t, b.Addr(), clientOpts{id: "central-2", user: "central", password: centralPass})
	_, got2 := subscribe(t, c2, "sp/v1/#")
	publish(t, a, "sp/v1/2161/a/up", 1, false, "sentinel-2")
	if m := next(t, got2); m != (msg{"sp/v1/2161/a/up", "sentinel-2"}) {
		t.Fatalf("second central got %v: a forged message was retained", m)
	}
	if logs := b.logs.String(); strings.Contains(logs, "forged") {
		t.Errorf("payload in the log:\n%s", logs)
	}
	if n := strings.Count(b.logs.String(), "MQTT publish denied"); n != len(denied)*3 {
		t.Errorf("logged %d denied publishes, want %d", n, len(denied)*3)
	}
}

// TestNodeCannotReadElsewhere: mochi answers a denied subscription with
// SUBACK 0x80 (MQTT 3), which paho reports in the token's Result, not as an
// error; messages on those topics never reach the node.
func TestNodeCannotReadElsewhere(t *testing.T) {
	b := startBroker(t)
	a := node(t, b, "a")
	denied := []string{
		"sp/v1/2161/b/ack",
		"sp/v1/2161/b/down",
		"sp/v1/2161/+/ack",
		"sp/v1/+/a/ack",
		"sp/v1/2161/a/+",
		"sp/v1/2161/a/up",
		"sp/v1/2161/a/status",
		"sp/v1/2180/a/ack",
		"sp/v1/#",
		"#",
		"$SYS/#",
		"$share/g/sp/v1/2161/b/ack",
	}
	codes, got := subscribe(t, a, append(denied, "sp/v1/2161/a/ack")...)
	for _, f := range denied {
		if codes[f] != 0x80 {
			t.Errorf("subscribe %s: code %#x, want 0x80", f, codes[f])
		}
	}
	if codes["sp/v1/2161/a/ack"] != 1 {
		t.Errorf("subscribe own ack: code %#x", codes["sp/v1/2161/a/ack"])
	}
	c := central(t, b)
	bn := node(t, b, "b")
	publish(t, c, "sp/v1/2161/b/ack", 1, true, "b-ack")
	publish(t, c, "sp/v1/2161/b/down", 1, false, "b-down")
	publish(t, bn, "sp/v1/2161/b/up", 1, false, "b-up")
	publish(t, c, "sp/v1/2161/a/ack", 1, true, "a-ack")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/ack", "a-ack"}) {
		t.Fatalf("node a got %v", m)
	}
}

func TestCentralRules(t *testing.T) {
	b := startBroker(t)
	c := central(t, b)
	codes, _ := subscribe(t, c, "sp/v1/+/+/up", "sp/v1/+/+/status", "sp/v1/#", "$share/central/sp/v1/+/+/up", "#", "sp/#", "$SYS/#")
	want := map[string]byte{"sp/v1/+/+/up": 1, "sp/v1/+/+/status": 1, "sp/v1/#": 1, "$share/central/sp/v1/+/+/up": 1, "#": 0x80, "sp/#": 0x80, "$SYS/#": 0x80}
	for f, code := range want {
		if codes[f] != code {
			t.Errorf("central subscribe %s: code %#x, want %#x", f, codes[f], code)
		}
	}
	_, got := subscribe(t, node(t, b, "a"), "sp/v1/2161/a/ack")
	// Central may not write a node's uplink or status.
	publish(t, c, "sp/v1/2161/a/status", 1, true, "offline")
	publish(t, c, "sp/v1/2161/a/up", 1, false, "forged")
	publish(t, c, "sp/v1/2161/a/ack", 1, false, "ack")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/ack", "ack"}) {
		t.Fatalf("node got %v", m)
	}
	if n := strings.Count(b.logs.String(), "MQTT publish denied"); n != 2 {
		t.Errorf("logged %d denied publishes, want 2", n)
	}
}

func TestConnectRefused(t *testing.T) {
	b := startBroker(t)
	a := node(t, b, "a") // holds client id "a"
	_ = a
	notAuthorized := pahopackets.ErrorRefusedNotAuthorised // mochi sends MQTT 3 code 5 for every refusal but the id
	for _, tc := range []struct {
		name string
		o    clientOpts
		want error
	}{
		{"wrong password", clientOpts{id: "b", user: "b", password: pass("a")}, notAuthorized},
		{"empty password", clientOpts{id: "b", user: "b"}, notAuthorized},
		{"anonymous", clientOpts{id: "anon"}, notAuthorized},
		{"unknown user", clientOpts{id: "zz", user: "zz", password: pass("zz")}, notAuthorized},
		{"central with a node's password", clientOpts{id: "x", user: "central", password: pass("a")}, notAuthorized},
		{"client id not the user", clientOpts{id: "a", user: "b", password: pass("b")}, pahopackets.ErrorRefusedIDRejected},
		{"client id of another user", clientOpts{id: "b2", user: "b", password: pass("b")}, pahopackets.ErrorRefusedIDRejected},
		{"central taking a node's id", clientOpts{id: "a", user: "central", password: centralPass}, pahopackets.ErrorRefusedIDRejected},
		{"will on another node's status", clientOpts{id: "b", user: "b", password: pass("b"), willTopic: "sp/v1/2161/a/status"}, notAuthorized},
		{"will on own uplink", clientOpts{id: "b", user: "b", password: pass("b"), willTopic: "sp/v1/2161/b/up"}, notAuthorized},
		{"will in another municipality", clientOpts{id: "b", user: "b", password: pass("b"), willTopic: "sp/v1/2180/b/status"}, notAuthorized},
		{"central's will on a status", clientOpts{id: "central", user: "central", password: centralPass, willTopic: "sp/v1/2161/a/status"}, notAuthorized},
		{"node ok", clientOpts{id: "b", user: "b", password: pass("b"), willTopic: "sp/v1/2161/b/status"}, nil},
		{"central ok", clientOpts{id: "anything", user: "central", password: centralPass}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := connect(t, b.Addr(), tc.o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("connect: %v, want %v", err, tc.want)
			}
			if c != nil {
				c.Disconnect(50)
			}
		})
	}
	if !a.IsConnectionOpen() {
		t.Error("node a was kicked off")
	}
	logs := b.logs.String()
	for _, secret := range []string{pass("a"), pass("b"), pass("zz"), centralPass} {
		if strings.Contains(logs, secret) {
			t.Errorf("password %q in the log:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "reason=clientIDNotUser") || !strings.Contains(logs, "reason=willTopicDenied") {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

// TestWillIsDelivered: a node's Last Will on its own status topic reaches
// central, retained.
func TestWillIsDelivered(t *testing.T) {
	b := startBroker(t)
	_, got := subscribe(t, central(t, b), "sp/v1/+/+/status")
	// A raw connection, so that it can end without a DISCONNECT.
	conn, code := rawConnect(t, b.Addr(), 4, packets.ConnectParams{
		ClientIdentifier: "a", Username: []byte("a"), Password: []byte(pass("a")),
		WillFlag: true, WillTopic: "sp/v1/2161/a/status", WillPayload: []byte("offline"), WillQos: 1, WillRetain: true,
	})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	conn.Close()
	if m := next(t, got); m != (msg{"sp/v1/2161/a/status", "offline"}) {
		t.Fatalf("central got %v", m)
	}
}

// rawConnect connects with mochi's own codec, to speak MQTT 5 (paho.mqtt.golang
// speaks 3.1.1 only) or to drop a connection without DISCONNECT.
func rawConnect(t *testing.T, addr string, version byte, p packets.ConnectParams) (*rawConn, byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	rc := &rawConn{Conn: c, r: bufio.NewReader(c), version: version}
	p.ProtocolName = []byte("MQTT")
	p.Clean = true
	p.Keepalive = 30
	p.UsernameFlag = len(p.Username) > 0
	p.PasswordFlag = len(p.Password) > 0
	rc.send(t, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: p})
	ack := rc.read(t)
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return rc, ack.ReasonCode
}

type rawConn struct {
	net.Conn
	r       *bufio.Reader
	version byte
}

func (c *rawConn) send(t *testing.T, pk packets.Packet) {
	t.Helper()
	pk.ProtocolVersion = c.version
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	default:
		t.Fatalf("cannot send type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func (c *rawConn) read(t *testing.T) packets.Packet {
	t.Helper()
	hb, err := c.r.ReadByte()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var pk packets.Packet
	if err := pk.FixedHeader.Decode(hb); err != nil {
		t.Fatal(err)
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		t.Fatal(err)
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		t.Fatal(err)
	}
	pk.ProtocolVersion = c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		t.Fatalf("decode type %d: %v", pk.FixedHeader.Type, err)
	}
	return pk
}

// TestMQTT5: with MQTT 5 the refusals carry their reason codes.
func TestMQTT5(t *testing.T) {
	b := startBroker(t)
	for _, tc := range []struct {
		name string
		p    packets.ConnectParams
		want byte
	}{
		{"wrong password", packets.ConnectParams{ClientIdentifier: "a", Username: []byte("a"), Password: []byte("wrong-password")}, packets.ErrBadUsernameOrPassword.Code},
		{"anonymous", packets.ConnectParams{ClientIdentifier: "a"}, packets.ErrNotAuthorized.Code},
		{"client id", packets.ConnectParams{ClientIdentifier: "b", Username: []byte("a"), Password: []byte(pass("a"))}, packets.ErrClientIdentifierNotValid.Code},
		{"will", packets.ConnectParams{ClientIdentifier: "a", Username: []byte("a"), Password: []byte(pass("a")),
			WillFlag: true, WillTopic: "sp/v1/2161/b/status", WillPayload: []byte("offline")}, packets.ErrNotAuthorized.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code := rawConnect(t, b.Addr(), 5, tc.p)
			if code != tc.want {
				t.Errorf("CONNACK %#x, want %#x", code, tc.want)
			}
		})
	}

	_, got := subscribe(t, central(t, b), "sp/v1/#")
	a, code := rawConnect(t, b.Addr(), 5, packets.ConnectParams{ClientIdentifier: "a", Username: []byte("a"), Password: []byte(pass("a"))})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	pub := func(id uint16, topic string, qos byte) packets.Packet {
		a.send(t, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
			PacketID:    id, TopicName: topic, Payload: []byte("forged"),
		})
		return a.read(t)
	}
	if ack := pub(1, "sp/v1/2161/b/up", 1); ack.FixedHeader.Type != packets.Puback || ack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Errorf("denied QoS 1 publish: type %d reason %#x, want PUBACK 0x87", ack.FixedHeader.Type, ack.ReasonCode)
	}
	if ack := pub(2, "sp/v1/2161/b/up", 2); ack.FixedHeader.Type != packets.Pubrec || ack.ReasonCode != 0 {
		t.Errorf("denied QoS 2 publish: type %d reason %#x, want PUBREC 0 (acknowledged, dropped)", ack.FixedHeader.Type, ack.ReasonCode)
	}
	a.send(t, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    3,
		Filters:     packets.Subscriptions{{Filter: "sp/v1/2161/b/ack", Qos: 1}, {Filter: "sp/v1/2161/a/ack", Qos: 1}},
	})
	if ack := a.read(t); ack.FixedHeader.Type != packets.Suback || !bytes.Equal(ack.ReasonCodes, []byte{0x87, 1}) {
		t.Errorf("subscribe: type %d codes %x, want SUBACK 87 01", ack.FixedHeader.Type, ack.ReasonCodes)
	}
	if ack := pub(4, "sp/v1/2161/a/up", 1); ack.ReasonCode != 0 {
		t.Errorf("own publish: reason %#x", ack.ReasonCode)
	}
	if m := next(t, got); m != (msg{"sp/v1/2161/a/up", "forged"}) {
		t.Errorf("central got %v", m)
	}
	logs := b.logs.String()
	if strings.Contains(logs, "forged") || strings.Contains(logs, pass("a")) {
		t.Errorf("payload or password in the log:\n%s", logs)
	}
}

func TestUsersFileReloaded(t *testing.T) {
	b := startBroker(t)
	if _, err := connect(t, b.Addr(), clientOpts{id: "d", user: "d", password: pass("d")}); err == nil {
		t.Fatal("unknown node connected")
	}
	if err := WriteNodeEntry(b.users, "d", "2161", pass("d")); err != nil {
		t.Fatal(err)
	}
	node(t, b, "d")
	// A broken file keeps the users read before.
	if err := os.WriteFile(b.users, []byte("broken line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node(t, b, "a")
	if !strings.Contains(b.logs.String(), "MQTT users file invalid") {
		t.Errorf("broken users file not reported:\n%s", b.logs.String())
	}
}

func TestRun(t *testing.T) {
	b, err := New(Opts{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(b.Addr(), ":0") {
		t.Fatalf("Addr %s: want the bound port", b.Addr())
	}
	stop := run(b)

	// A peer that never sends CONNECT must not hold up shutdown.
	dialSilent(t, b.Addr())
	if err := b.AddCentral("central", centralPass); err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, b.Addr(), clientOpts{id: "central", user: "central", password: centralPass})

	time.Sleep(50 * time.Millisecond) // let the silent connection be accepted
	if d := stop(t, shutdownGrace+2*time.Second); d > time.Second {
		t.Errorf("stopped in %v: a silent connection held up shutdown", d)
	}
	deadline := time.Now().Add(wait)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Error("client still connected after Run returned")
	}
	if err := b.Run(context.Background()); err == nil {
		t.Error("second Run: no error")
	}
	if _, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		t.Error("still listening after Run returned")
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "users")
	if err := os.WriteFile(bad, []byte("a node 2161\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Opts{Addr: "127.0.0.1:0", UsersFile: bad}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("New with a bad users file: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := New(Opts{Addr: l.Addr().String()}); err == nil {
		t.Error("New on a busy port: no error")
	}
	// A missing users file is an empty one.
	b, err := New(Opts{Addr: "127.0.0.1:0", UsersFile: filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Run(ctx); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func ExampleWriteNodeEntry() {
	dir, _ := os.MkdirTemp("", "broker")
	defer os.RemoveAll(dir)
	users := filepath.Join(dir, "broker", "users")
	if err := WriteNodeEntry(users, "skola-1", "2161", "a long random secret"); err != nil {
		fmt.Println(err)
	}
	u, _ := LoadUsers(users)
	fmt.Println(u.Len())
	// Output: 1
}

func TestTLS(t *testing.T) {
	pki := synctest.NewPKI(t, t.TempDir())
	b, err := New(Opts{Addr: "127.0.0.1:0", TLSConfig: pki.ServerTLS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddCentral("central", centralPass); err != nil {
		t.Fatal(err)
	}
	stop := run(b)

	// Plain MQTT on the TLS port gets nowhere; neither does a silent peer
	// hold up shutdown.
	dialSilent(t, b.Addr())
	o := clientOpts{id: "central", user: "central", password: centralPass}
	if _, err := connect(t, b.Addr(), o); err == nil {
		t.Error("plain MQTT connected to the TLS port")
	}
	o.tls = &tls.Config{RootCAs: pki.Pool}
	c, err := connect(t, b.Addr(), o)
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	codes, got := subscribe(t, c, "sp/v1/#")
	if codes["sp/v1/#"] != 1 {
		t.Errorf("subscribe: %#x", codes["sp/v1/#"])
	}
	publish(t, c, "sp/v1/2161/a/ack", 1, false, "7")
	if m := next(t, got); m != (msg{"sp/v1/2161/a/ack", "7"}) {
		t.Errorf("got %v", m)
	}

	if d := stop(t, wait); d > time.Second {
		t.Errorf("stopped in %v", d)
	}
	c.Disconnect(0)
}
