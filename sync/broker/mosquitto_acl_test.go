package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// The users of these tests, written with the code of `safepoint
// broker-config --out DIR` (broker.MosquittoFiles.Add).
var (
	credCentral = synctest.Cred{Name: "central", Password: "central password 1"}
	credA       = synctest.Cred{Name: "skola-a", Password: "password of a 1"}
	credB       = synctest.Cred{Name: "skola-b", Password: "password of b 1"}
)

func aclTarget(url string, tlsConfig *tls.Config) synctest.ACLTarget {
	return synctest.ACLTarget{URL: url, TLS: tlsConfig, Municipality: "2161", Other: "2180",
		Central: credCentral, A: credA, B: credB}
}

func writeMosquittoUsers(t *testing.T, f broker.MosquittoFiles) {
	t.Helper()
	if err := f.Add(credCentral.Name, broker.RoleCentral, broker.AllMunicipalities, credCentral.Password, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []synctest.Cred{credA, credB} {
		if err := f.Add(c.Name, broker.RoleNode, "2161", c.Password, false); err != nil {
			t.Fatal(err)
		}
	}
	// A node of the other municipality, of the same name as nothing here:
	// its block must not widen A's or B's rights.
	if err := f.Add("skola-c", broker.RoleNode, "2180", "password of c 1", false); err != nil {
		t.Fatal(err)
	}
}

// mosquittoConf is a test broker's configuration: broker-config's files f,
// and listener, the TLS settings of its listener (none: plain MQTT).
func mosquittoConf(port int, f broker.MosquittoFiles, listener ...string) string {
	return synctest.MosquittoConf(port, slices.Concat(listener, []string{
		"allow_anonymous false",
		"password_file " + f.Passwd,
		"acl_file " + f.ACL,
		"use_username_as_clientid true",
		"set_tcp_nodelay true",
	})...)
}

// TestMosquittoACL: real Mosquitto with the password and ACL files of
// broker-config keeps each node to its own topics (synctest.CheckNodeACL),
// and on SIGHUP reads a user added, or given a new password, while it runs.
func TestMosquittoACL(t *testing.T) {
	synctest.NeedMosquitto(t)
	f := broker.MosquittoFilesIn(t.TempDir())
	writeMosquittoUsers(t, f)
	port := synctest.FreePort(t)
	m := synctest.StartMosquittoConfig(t, port, mosquittoConf(port, f))
	tg := aclTarget(m.URL(), nil)
	synctest.CheckNodeACL(t, tg)

	late := synctest.Cred{Name: "skola-late", Password: "password of late 1"}
	if c, err := tg.ConnectAs(late, "", nil); err == nil || !synctest.IsRefusal(err) {
		if c != nil {
			c.Disconnect(0)
		}
		t.Fatalf("a user not yet added: %v", err)
	}
	if err := f.Add(late.Name, broker.RoleNode, "2161", late.Password, false); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	connects := func(c synctest.Cred) bool {
		cl, err := tg.ConnectAs(c, "", nil)
		if err == nil {
			cl.Disconnect(0)
		}
		return err == nil
	}
	if !synctest.Eventually(5*time.Second, func() bool { return connects(late) }) {
		t.Fatal("a user added and SIGHUP: not let in")
	}
	renewed := synctest.Cred{Name: late.Name, Password: "password of late 2"}
	if err := f.Add(late.Name, broker.RoleNode, "2161", renewed.Password, true); err != nil {
		t.Fatal(err)
	}
	m.Reload()
	if !synctest.Eventually(5*time.Second, func() bool { return connects(renewed) }) {
		t.Fatal("a password replaced and SIGHUP: the new one is not let in")
	}
	if connects(late) {
		t.Error("the replaced password still lets in")
	}
}

// TestMosquittoTLS: Mosquitto's TLS listener with a test CA. A node that
// trusts the CA connects over ssl:// and the ACL holds there too; a client
// without the CA, or speaking plain MQTT, gets nowhere.
func TestMosquittoTLS(t *testing.T) {
	synctest.NeedMosquitto(t)
	dir := t.TempDir()
	pki := synctest.NewPKI(t, dir)
	f := broker.MosquittoFilesIn(dir)
	writeMosquittoUsers(t, f)
	port := synctest.FreePort(t)
	m := synctest.StartMosquittoConfig(t, port, mosquittoConf(port, f,
		"cafile "+pki.CAFile, "certfile "+pki.CertFile, "keyfile "+pki.KeyFile, "tls_version tlsv1.2"))
	url := "ssl://" + m.Addr()

	checkTLSRefusals(t, m.Addr())
	synctest.CheckNodeACL(t, aclTarget(url, pki.ClientTLS()))
}

// checkTLSRefusals: on a TLS port, a client without the CA fails on the
// certificate, TLS below 1.2 and plain MQTT fail, all before any password
// is sent.
func checkTLSRefusals(t *testing.T, addr string) {
	t.Helper()
	var unknown x509.UnknownAuthorityError
	if _, err := aclTarget("ssl://"+addr, &tls.Config{}).ConnectAs(credA, "", nil); !errors.As(err, &unknown) {
		t.Errorf("without the CA: want an unknown authority, got %v", err)
	}
	old := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := aclTarget("ssl://"+addr, old).ConnectAs(credA, "", nil); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1: want the server's protocol version alert, got %v", err)
	}
	if c, err := aclTarget("tcp://"+addr, nil).ConnectAs(credA, "", nil); err == nil {
		c.Disconnect(0)
		t.Error("plain MQTT connected to the TLS port")
	}
}

// TestMosquittoDeployConfig: deploy/mosquitto/mosquitto.conf, with its
// paths and port moved to the test's, is accepted by real Mosquitto; with
// deploy/mosquitto/acl and the users of broker-config appended to it, a node
// connects over TLS and the ACL holds.
func TestMosquittoDeployConfig(t *testing.T) {
	synctest.NeedMosquitto(t)
	src, err := os.ReadFile("../../deploy/mosquitto/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	aclSrc, err := os.ReadFile("../../deploy/mosquitto/acl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pki := synctest.NewPKI(t, dir)
	f := broker.MosquittoFilesIn(dir)
	if err := os.WriteFile(f.ACL, aclSrc, 0o600); err != nil {
		t.Fatal(err)
	}
	writeMosquittoUsers(t, f)
	for _, d := range []string{"persist", "conf.d"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := synctest.FreePort(t)

	// What production relies on must be there, uncommented, once.
	conf := string(src)
	for _, want := range []string{
		`allow_anonymous false`, `password_file /etc/mosquitto/passwd`, `acl_file /etc/mosquitto/acl`,
		`use_username_as_clientid true`, `persistence true`, `persistence_location /var/lib/mosquitto/`,
		`max_queued_messages 100000`, `max_inflight_messages \d+`, `set_tcp_nodelay true`,
		`listener 8883`, `cafile \S+`, `certfile \S+`, `keyfile \S+`, `tls_version tlsv1.2`,
		`require_certificate false`, `per_listener_settings false`,
	} {
		if n := len(regexp.MustCompile(`(?m)^`+want+`$`).FindAllString(conf, -1)); n != 1 {
			t.Errorf("%q: %d times in mosquitto.conf, want once", want, n)
		}
	}
	if regexp.MustCompile(`(?m)^(allow_anonymous true|listener 1883\b)`).MatchString(conf) {
		t.Error("an anonymous or non-loopback plain listener")
	}

	// Move paths and port into the test's directory.
	replaced := map[string]bool{}
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		key, _, _ := strings.Cut(line, " ")
		switch key {
		case "pid_file":
			line = "pid_file " + filepath.Join(dir, "mosquitto.pid")
		case "log_dest":
			line = "log_dest stderr"
		case "persistence_location":
			line = "persistence_location " + filepath.Join(dir, "persist") + "/"
		case "password_file":
			line = "password_file " + f.Passwd
		case "acl_file":
			line = "acl_file " + f.ACL
		case "cafile":
			line = "cafile " + pki.CAFile
		case "certfile":
			line = "certfile " + pki.CertFile
		case "keyfile":
			line = "keyfile " + pki.KeyFile
		case "include_dir":
			line = "include_dir " + filepath.Join(dir, "conf.d")
		case "listener":
			line = fmt.Sprintf("listener %d 127.0.0.1", port)
		default:
			out = append(out, line)
			continue
		}
		replaced[key] = true
		out = append(out, line)
	}
	if len(replaced) != 10 {
		t.Errorf("moved %d kinds of lines, want 10: %v", len(replaced), replaced)
	}
	m := synctest.StartMosquittoConfig(t, port, strings.Join(out, "\n"))
	checkTLSRefusals(t, m.Addr())
	synctest.CheckNodeACL(t, aclTarget("ssl://"+m.Addr(), pki.ClientTLS()))
}
