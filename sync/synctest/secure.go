package synctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// StartMosquittoConfig starts mosquitto with conf, a whole configuration
// that must make it listen on 127.0.0.1:port (plain or TLS). Run as root,
// mosquitto would drop to the mosquitto user before reading the password
// and ACL files, which a test's temporary directory does not let it read,
// so "user root" is added then.
func StartMosquittoConfig(t testing.TB, port int, conf string) *Mosquitto {
	t.Helper()
	if os.Geteuid() == 0 {
		conf += "\n# added by synctest: the test's files are root's\nuser root\n"
	}
	return startConf(t, port, conf)
}

// Reload sends mosquitto SIGHUP: it reads its password and ACL files again.
func (m *Mosquitto) Reload() {
	m.t.Helper()
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil {
		m.t.Fatal("mosquitto not running")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		m.t.Fatal(err)
	}
}

// PKI is a test certificate authority and a server certificate it signed
// for 127.0.0.1 and localhost, written as PEM files.
type PKI struct {
	CAFile, CertFile, KeyFile string
	Pool                      *x509.CertPool // holds the CA only
	Server                    tls.Certificate
}

// NewPKI makes a CA and a server certificate (ECDSA P-256, valid for an
// hour) in dir.
func NewPKI(t testing.TB, dir string) *PKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "safepoint test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "mqtt.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{
		CAFile:   filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, "server.crt"),
		KeyFile:  filepath.Join(dir, "server.key"),
		Pool:     x509.NewCertPool(),
		Server:   tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key},
	}
	p.Pool.AddCert(ca)
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{p.CAFile, "CERTIFICATE", caDER}, {p.CertFile, "CERTIFICATE", der}, {p.KeyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// ClientTLS is a node's TLS configuration: the test CA as its only root.
func (p *PKI) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: p.Pool, MinVersion: tls.VersionTLS12}
}

// ServerTLS serves the server certificate (for the embedded broker).
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12}
}

// Cred is a broker user name and password.
type Cred struct{ Name, Password string }

// ACLTarget is a broker with three users in it: a central of every
// municipality, and nodes A and B, both of Municipality.
type ACLTarget struct {
	URL          string      // tcp://host:port or ssl://host:port
	TLS          *tls.Config // for ssl://
	Municipality string
	Other        string // another municipality, where neither node belongs
	Central      Cred
	A, B         Cred
}

// ConnectAs connects a plain paho client (MQTT 3.1.1, clean session, the
// user name as client id unless clientID is set). Every message it receives
// goes into in, if given, whatever subscription it came by.
func (tg ACLTarget) ConnectAs(c Cred, clientID string, in *Inbox) (mqtt.Client, error) {
	return tg.connect(c, clientID, in, "", "")
}

// connect is ConnectAs with a Last Will (QoS 1, not retained) on willTopic.
func (tg ACLTarget) connect(c Cred, clientID string, in *Inbox, willTopic, will string) (mqtt.Client, error) {
	if clientID == "" {
		clientID = c.Name
	}
	opts := mqtt.NewClientOptions().AddBroker(tg.URL).SetClientID(clientID).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetConnectTimeout(5 * time.Second).SetOrderMatters(true)
	if c.Name != "" {
		opts.SetUsername(c.Name).SetPassword(c.Password)
	}
	if tg.TLS != nil {
		opts.SetTLSConfig(tg.TLS)
	}
	if in != nil {
		opts.SetDefaultPublishHandler(in.handle)
	}
	if willTopic != "" {
		opts.SetWill(willTopic, will, 1, false)
	}
	cl := mqtt.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return cl, nil
}

// IsRefusal reports whether err is a broker's CONNACK refusing the
// credentials (MQTT 3.1.1 codes 4 and 5), not some other failure.
func IsRefusal(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedNotAuthorised)
}

// Inbox keeps every message a client receives.
type Inbox struct {
	mu   sync.Mutex
	msgs []Message
}

func (in *Inbox) handle(_ mqtt.Client, m mqtt.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...),
		Retained: m.Retained(), At: time.Now()})
	in.mu.Unlock()
}

// Messages is a copy of what came so far.
func (in *Inbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Message(nil), in.msgs...)
}

// Has reports whether a message with that topic and payload came.
func (in *Inbox) Has(topic, payload string) bool {
	for _, m := range in.Messages() {
		if m.Topic == topic && string(m.Payload) == payload {
			return true
		}
	}
	return false
}

// WaitFor waits up to 5 s for a message with that topic and payload.
func (in *Inbox) WaitFor(topic, payload string) bool {
	return Eventually(5*time.Second, func() bool { return in.Has(topic, payload) })
}

// Subscribe subscribes c to each filter at QoS 1 and returns the SUBACK
// code of each (0x80: refused). Messages go to c's default handler (an
// Inbox given to ConnectAs): with no route, paho drops nothing.
func Subscribe(t testing.TB, c mqtt.Client, filters ...string) map[string]byte {
	t.Helper()
	f := map[string]byte{}
	for _, s := range filters {
		f[s] = 1
	}
	tok := c.SubscribeMultiple(f, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	return tok.(*mqtt.SubscribeToken).Result()
}

// CheckNodeACL shows, with plain MQTT clients, that the broker at tg keeps
// node A to its own subtree: A's own up, status and downack reach central
// and central's ack and down reach A (the controls), while A cannot write
// into B's subtree or another municipality, cannot read B's ack or down,
// cannot fake central's acks or downlink, and bad or missing credentials
// are refused. A denied publish is dropped silently (at QoS 0 and 1), so
// each absence is shown against a control message that went the same way
// after it and did arrive.
func CheckNodeACL(t *testing.T, tg ACLTarget) {
	t.Helper()
	M, O := tg.Municipality, tg.Other
	topic := func(node, kind string) string { return "sp/v1/" + M + "/" + node + "/" + kind }
	a, b := tg.A.Name, tg.B.Name
	nonce := fmt.Sprintf("%x", time.Now().UnixNano())
	val := func(s string) string { return s + "-" + nonce }

	// Refused: no user name, a wrong password, an unknown user, a node's
	// name with another node's password.
	for _, c := range []struct {
		what string
		cred Cred
		id   string
	}{
		{"anonymous", Cred{}, "anon-" + nonce},
		{"wrong password", Cred{a, tg.A.Password + "x"}, a},
		{"unknown user", Cred{"nobody-" + nonce, tg.A.Password}, "nobody"},
		{"B's password as A", Cred{a, tg.B.Password}, a},
	} {
		cl, err := tg.ConnectAs(c.cred, c.id, nil)
		if err == nil {
			cl.Disconnect(0)
			t.Errorf("%s: connected", c.what)
		} else if !IsRefusal(err) {
			t.Errorf("%s: want a CONNACK refusal, got %v", c.what, err)
		}
	}

	connect := func(c Cred, in *Inbox) mqtt.Client {
		t.Helper()
		cl, err := tg.ConnectAs(c, "", in)
		if err != nil {
			t.Fatalf("connect as %s: %v", c.Name, err)
		}
		t.Cleanup(func() { cl.Disconnect(0) })
		return cl
	}
	var cIn, aIn, bIn Inbox
	central, na, nb := connect(tg.Central, &cIn), connect(tg.A, &aIn), connect(tg.B, &bIn)
	granted := func(who string, codes map[string]byte) {
		t.Helper()
		for f, code := range codes {
			if code == 0x80 {
				t.Errorf("%s: subscription to %s refused", who, f)
			}
		}
	}
	granted("central", Subscribe(t, central, "sp/v1/#"))
	granted("A", Subscribe(t, na, topic(a, "ack"), topic(a, "down")))
	granted("B", Subscribe(t, nb, topic(b, "ack"), topic(b, "down")))

	pub := func(cl mqtt.Client, who, tp string, retained bool, payload string) {
		t.Helper()
		tok := cl.Publish(tp, 1, retained, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: publish %s: %v", who, tp, tok.Error())
		}
	}
	want := func(in *Inbox, who, tp, payload string) {
		t.Helper()
		if !in.WaitFor(tp, payload) {
			t.Fatalf("%s did not receive %q on %s; it has %v", who, payload, tp, summary(in.Messages()))
		}
	}

	// The controls: each node's own topics work both ways.
	for _, n := range []struct {
		cl   mqtt.Client
		name string
		in   *Inbox
	}{{na, a, &aIn}, {nb, b, &bIn}} {
		pub(n.cl, n.name, topic(n.name, "up"), false, val(n.name+"-up"))
		pub(n.cl, n.name, topic(n.name, "status"), true, val(n.name+"-status"))
		pub(n.cl, n.name, topic(n.name, "downack"), true, val(n.name+"-downack"))
		for _, k := range []string{"up", "status", "downack"} {
			want(&cIn, "central", topic(n.name, k), val(n.name+"-"+k))
		}
		pub(central, "central", topic(n.name, "ack"), true, val("ack-"+n.name))
		pub(central, "central", topic(n.name, "down"), false, val("down-"+n.name))
		want(n.in, n.name, topic(n.name, "ack"), val("ack-"+n.name))
		want(n.in, n.name, topic(n.name, "down"), val("down-"+n.name))
	}

	// A writes into B's subtree, into its own id under another
	// municipality, and outside the scheme; then its own up, which central
	// gets after anything A published before it.
	for _, w := range []struct {
		tp       string
		retained bool
	}{
		{topic(b, "up"), false}, {topic(b, "status"), true}, {topic(b, "downack"), true},
		{"sp/v1/" + O + "/" + a + "/up", false}, {"sp/v1/" + O + "/" + a + "/status", true},
		{topic(a, "other"), false}, {"sp/v1/" + M + "/" + a, false}, {"sp/x", false},
	} {
		pub(na, a, w.tp, w.retained, val("fake"))
	}
	pub(na, a, topic(a, "up"), false, val("a-control-1"))
	want(&cIn, "central", topic(a, "up"), val("a-control-1"))

	// A fakes central: acks and downlink to itself and to B. Its own up
	// after them shows they were handled; then central's own messages,
	// which A and B get after anything of A's that reached them.
	for _, tp := range []string{topic(a, "ack"), topic(b, "ack")} {
		pub(na, a, tp, true, val("fake"))
	}
	for _, tp := range []string{topic(a, "down"), topic(b, "down")} {
		pub(na, a, tp, false, val("fake"))
	}
	pub(na, a, topic(a, "up"), false, val("a-control-2"))
	want(&cIn, "central", topic(a, "up"), val("a-control-2"))
	pub(central, "central", topic(a, "down"), false, val("down-a-2"))
	pub(central, "central", topic(b, "down"), false, val("down-b-2"))
	want(&aIn, a, topic(a, "down"), val("down-a-2"))
	want(&bIn, b, topic(b, "down"), val("down-b-2"))

	// A tries to read B's downlink and ack (retained: a granted
	// subscription would be sent it at once) and everything. Central then
	// writes to B, and last to A: A gets its own after anything of B's.
	codes := Subscribe(t, na, topic(b, "down"), topic(b, "ack"), "sp/v1/#",
		"sp/v1/"+M+"/+/down", "sp/v1/"+M+"/"+b+"/#", "#", "$share/g/"+topic(b, "down"))
	t.Logf("SUBACK codes for A's reads outside its own topics: %v", codes)
	pub(central, "central", topic(b, "down"), false, val("secret-down-b"))
	pub(central, "central", topic(b, "ack"), false, val("secret-ack-b"))
	pub(central, "central", topic(a, "down"), false, val("down-a-3"))
	want(&aIn, a, topic(a, "down"), val("down-a-3"))
	want(&bIn, b, topic(b, "down"), val("secret-down-b"))
	want(&bIn, b, topic(b, "ack"), val("secret-ack-b"))

	// What the broker retained is still what its owners wrote: a new
	// subscription is sent every retained message, and each topic holds one,
	// its owner's or a fake that replaced it.
	before := len(cIn.Messages())
	Subscribe(t, central, "sp/v1/+/+/+")
	wantRetained := map[string]string{
		topic(a, "status"): val(a + "-status"), topic(a, "downack"): val(a + "-downack"), topic(a, "ack"): val("ack-" + a),
		topic(b, "status"): val(b + "-status"), topic(b, "downack"): val(b + "-downack"), topic(b, "ack"): val("ack-" + b),
	}
	retained := map[string]string{}
	Eventually(5*time.Second, func() bool {
		for _, m := range cIn.Messages()[before:] {
			if m.Retained {
				retained[m.Topic] = string(m.Payload)
			}
		}
		for tp, v := range wantRetained {
			if retained[tp] != v {
				return false
			}
		}
		return true
	})
	for tp, v := range wantRetained {
		if retained[tp] != v {
			t.Errorf("retained on %s: %q, want %q", tp, retained[tp], v)
		}
	}

	// Nobody got anything of A's faking, and each node only its own topics.
	time.Sleep(100 * time.Millisecond) // anything still on its way, though none should be
	for _, r := range []struct {
		who  string
		in   *Inbox
		only []string
	}{
		{"central", &cIn, nil},
		{a, &aIn, []string{topic(a, "ack"), topic(a, "down")}},
		{b, &bIn, []string{topic(b, "ack"), topic(b, "down")}},
	} {
		for _, m := range r.in.Messages() {
			if strings.HasPrefix(string(m.Payload), "fake-") || (r.who == a && strings.HasPrefix(string(m.Payload), "secret-")) {
				t.Errorf("%s received %q on %s", r.who, m.Payload, m.Topic)
			}
			if r.only != nil && m.Topic != r.only[0] && m.Topic != r.only[1] {
				t.Errorf("%s received a message on %s", r.who, m.Topic)
			}
		}
	}
	if !na.IsConnectionOpen() {
		t.Error("A was disconnected for its denied publishes")
	}

	// A's credentials with B's client id do not take B's place: refused, or
	// (Mosquitto's use_username_as_clientid) connected as A. Either way B
	// stays connected and gets its downlink.
	if cl, err := tg.ConnectAs(tg.A, b, nil); err == nil {
		defer cl.Disconnect(0)
	}
	pub(central, "central", topic(b, "down"), false, val("down-b-4"))
	want(&bIn, b, topic(b, "down"), val("down-b-4"))
	if !nb.IsConnectionOpen() {
		t.Error("B was disconnected by A connecting with B's client id")
	}

	// A's Last Will on B's status ("B is offline") is refused at CONNECT
	// (the embedded broker) or dropped when the connection dies (Mosquitto
	// checks a will against the ACL as it sends it). The control: A's next
	// connection, with its will on its own status, dies after it.
	scheme, _, _ := strings.Cut(tg.URL, "://")
	for i, w := range []struct{ topic, payload string }{
		{topic(b, "status"), val("fake-will")},
		{topic(a, "status"), val("will-control")},
	} {
		p := NewProxy(t, strings.TrimPrefix(tg.URL, scheme+"://"))
		via := tg
		via.URL = scheme + "://" + p.Addr()
		cl, err := via.connect(tg.A, "", nil, w.topic, w.payload)
		if err != nil && i == 1 {
			t.Fatalf("A with its will on its own status: %v", err)
		}
		p.Cut()
		if err == nil {
			defer cl.Disconnect(0)
		}
	}
	want(&cIn, "central", topic(a, "status"), val("will-control"))
	if cIn.Has(topic(b, "status"), val("fake-will")) {
		t.Errorf("central received A's will on %s", topic(b, "status"))
	}
}

func summary(ms []Message) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Topic+"="+string(m.Payload))
	}
	return s
}
