package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/central/enrol"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/ui/join"
	"github.com/safepoint-se/safepoint/ui/web"
)

// enrolCmd runs `safepoint enrol args…` in the process.
func enrolCmd(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = runEnrolWith(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), err
}

// TestEnrolFlags: the command's mistakes are refused before anything is
// written or central is asked, usage mistakes as such.
func TestEnrolFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{nil, true, "Usage: safepoint enrol ACTION"},
		{[]string{"make"}, true, `unknown action "make"`},
		{[]string{"create", "--data", dir}, true, "--node ID and --municipality CODE are required"},
		{[]string{"create", "--data", dir, "--node", "Macken B", "--municipality", "2161"}, false, `--node "Macken B"`},
		{[]string{"create", "--data", dir, "--node", "macken-b", "--municipality", "21610"}, false, `--municipality "21610"`},
		{[]string{"create", "--data", dir, "--node", "macken-b", "--municipality", "2161", "--valid", "200h"}, false, "--valid 200h0m0s"},
		{[]string{"create", "--data", dir, "--node", "macken-b", "--municipality", "2161", "extra"}, true, `unexpected argument "extra"`},
		{[]string{"revoke", "--data", dir}, true, "give --node ID or --code CODE, one of them"},
		{[]string{"revoke", "--data", dir, "--node", "a", "--code", "b"}, true, "one of them"},
		{[]string{"join", "--data", dir, "--code", "K7QF-M2XD-9WPA"}, true, "--central URL and --code CODE are required"},
		{[]string{"join", "--data", dir, "--central", "ftp://c", "--code", "K7QF-M2XD-9WPA"}, false, "not https://"},
		{[]string{"join", "--data", dir, "--central", "c", "--code", "K7QF-M2XD"}, false, `--code "K7QF-M2XD": a code is 12`},
		{[]string{"join", "--data", dir, "--central", "c", "--code", "K7QF-M2XD-9WPA", "--fingerprint", "AB:CD"}, false, "64 hex digits"},
		{[]string{"join", "--data", dir, "--central", "http://c", "--code", "K7QF-M2XD-9WPA", "--fingerprint",
			strings.Repeat("ab", 32)}, false, "--fingerprint: only for an https:// central"},
	} {
		_, errOut, err := enrolCmd(tc.args...)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error()+errOut, tc.want) {
			t.Errorf("%v: %v (usage %v), stderr %q; want %q", tc.args, err, errors.Is(err, errUsage), errOut, tc.want)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("refused runs made the data directory: %v", err)
	}
	if out, _, err := enrolCmd("help"); err != nil || !strings.Contains(out, "join   --data DIR --central URL") {
		t.Errorf("enrol help: %v %q", err, out)
	}
}

// TestEnrolCreateEmbeddedUser: with the embedded broker, a code for a node
// it has in another municipality is refused (the join could not make its
// account); one in the same municipality is made, with a warning that the
// join replaces its password.
func TestEnrolCreateEmbeddedUser(t *testing.T) {
	dir := t.TempDir()
	if err := broker.WriteNodeEntry(filepath.Join(dir, "broker", "users"), "macken-b", "2161", "a password 123"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := enrolCmd("create", "--data", dir, "--node", "macken-b", "--municipality", "2180"); err == nil ||
		!strings.Contains(err.Error(), "is in municipality 2161") {
		t.Fatalf("another municipality: %v", err)
	}
	out, errOut, err := enrolCmd("create", "--data", dir, "--node", "macken-b", "--municipality", "2161")
	if err != nil || !codeLine.MatchString(out) || !strings.Contains(errOut, "has a broker account already") {
		t.Fatalf("the same municipality: %v %q %q", err, out, errOut)
	}
}

// nodeConfigFrom is the node's configuration from args, env and the
// enrolment in its data directory, as runNode makes it.
func nodeConfigFrom(t *testing.T, args []string, env map[string]string) nodeConfig {
	t.Helper()
	cfg := defaultNodeConfig()
	var configPath string
	fs := nodeFlags(&cfg, &configPath, io.Discard)
	if err := parseLayered(fs, args, func(k string) string { return env[k] }, &configPath,
		func() { cfg = defaultNodeConfig() },
		func(path string) error { return decodeTOML(path, &cfg) }); err != nil {
		t.Fatal(err)
	}
	if err := applyEnrolment(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestApplyEnrolment: the node takes from DATA/enrolment.toml each key
// that flags, environment and --config leave empty, and no other; the
// password and the CA only when no file is named for them.
func TestApplyEnrolment(t *testing.T) {
	dir := t.TempDir()
	pki := synctest.NewPKI(t, t.TempDir())
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeEnrolment(filepath.Join(dir, enrolmentFile), enrolment{ID: "macken-b", Municipality: "2161",
		Name: "Macken i Byn", MQTT: "ssl://central.example:8883", MQTTUser: "macken-b", MQTTPassword: "enrolled password",
		MQTTCA: string(caPEM), Central: "https://central.example:8493", Enrolled: time.Now()}); err != nil {
		t.Fatal(err)
	}

	cfg := nodeConfigFrom(t, []string{"--data", dir}, nil)
	if cfg.ID != "macken-b" || cfg.Municipality != "2161" || cfg.Name != "Macken i Byn" ||
		cfg.MQTT != "ssl://central.example:8883" || cfg.MQTTUser != "macken-b" {
		t.Fatalf("from the enrolment alone: %+v", cfg)
	}
	if pw, err := cfg.password(); err != nil || pw != "enrolled password" {
		t.Fatalf("password %q, %v", pw, err)
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil || tlsCfg == nil || !tlsCfg.RootCAs.Equal(pki.Pool) {
		t.Fatalf("the enrolment's CA is not the broker's only root: %v", err)
	}

	conf := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(conf, []byte(`name = "Från filen"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("file password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = nodeConfigFrom(t, []string{"--data", dir, "--config", conf, "--mqtt", "tcp://other:1883", "--mqtt-password-file", pwFile},
		map[string]string{"SAFEPOINT_MQTT_USER": "someone"})
	if cfg.Name != "Från filen" || cfg.MQTT != "tcp://other:1883" || cfg.MQTTUser != "someone" || cfg.ID != "macken-b" {
		t.Fatalf("flags, environment and file do not win key by key: %+v", cfg)
	}
	if pw, _ := cfg.password(); pw != "file password" {
		t.Fatalf("password %q, want the file's", pw)
	}
	if tlsCfg, err := cfg.tlsConfig(); err != nil || tlsCfg != nil {
		t.Fatalf("the enrolment's CA for a tcp:// broker: %v %v", tlsCfg, err)
	}

	// No enrolment: nothing changes.
	cfg = nodeConfigFrom(t, []string{"--data", t.TempDir()}, nil)
	if cfg.ID != "" || cfg.MQTT != "" {
		t.Fatalf("without an enrolment: %+v", cfg)
	}
}

// TestCentralEnrolBroker: the broker address central gives a point: the
// flag's; with the embedded broker on loopback or every address, its port
// on the host the point reached central at; with --mqtt, that URL, but
// never a loopback one. The CA goes with an ssl:// broker only.
func TestCentralEnrolBroker(t *testing.T) {
	ctx := context.Background()
	pki := synctest.NewPKI(t, t.TempDir())
	embedded := func(addr string) *broker.Broker {
		b, err := broker.New(broker.Opts{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		t.Cleanup(func() { b.Run(ctx) }) // serves and closes at once
		return b
	}
	loopback := embedded("127.0.0.1:0")
	_, loopPort, _ := net.SplitHostPort(loopback.Addr())
	every := embedded("0.0.0.0:0")
	_, everyPort, _ := net.SplitHostPort(every.Addr())
	for _, tc := range []struct {
		name     string
		cfg      enrolConfig
		mqtt, ca string
		embedded *broker.Broker
		want     string // for a point that reached central at central.example; "" for a refusal
		withCA   bool
		reload   bool
	}{
		{"embedded on loopback", enrolConfig{}, "", "", loopback, "tcp://central.example:" + loopPort, false, false},
		{"embedded on every address", enrolConfig{}, "", "", every, "tcp://central.example:" + everyPort, false, false},
		{"embedded, the flag", enrolConfig{EnrolBrokerURL: "tcp://10.0.0.5:1883"}, "", "", loopback, "tcp://10.0.0.5:1883", false, false},
		{"mosquitto", enrolConfig{}, "ssl://broker.example:8883", pki.CAFile, nil, "ssl://broker.example:8883", true, true},
		{"mosquitto on loopback", enrolConfig{}, "tcp://127.0.0.1:1883", "", nil, "", false, true},
		{"mosquitto, the flag", enrolConfig{EnrolBrokerURL: "ssl://broker.example:8883", EnrolBrokerCA: pki.CAFile},
			"tcp://127.0.0.1:1883", "", nil, "ssl://broker.example:8883", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultCentralConfig()
			cfg.Data, cfg.enrolConfig = t.TempDir(), tc.cfg
			cfg.MQTT, cfg.MQTTCA = tc.mqtt, tc.ca
			e, err := newCentralEnrol(ctx, cfg, filepath.Join(cfg.Data, "safepoint.db"), tc.embedded,
				func(context.Context, string, string) error { return nil }, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			got, err := e.opts.Broker("central.example")
			switch {
			case tc.want == "" && (err == nil || !strings.Contains(err.Error(), "--enrol-broker-url")):
				t.Errorf("broker %q, %v; want a refusal naming --enrol-broker-url", got, err)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Errorf("broker %q, %v; want %s", got, err, tc.want)
			}
			if (len(e.opts.CA) > 0) != tc.withCA || (e.opts.BrokerReload != "") != tc.reload {
				t.Errorf("CA %d bytes, reload %q", len(e.opts.CA), e.opts.BrokerReload)
			}
			if _, ok := e.opts.Accounts.(mosquittoAccounts); ok != (tc.embedded == nil) {
				t.Errorf("accounts %T", e.opts.Accounts)
			}
			if j := e.part(web.Options{StaffTLS: true, HTTPSPort: "8493"}); j == nil {
				t.Error("no endpoint")
			}
		})
	}
	for _, bad := range []enrolConfig{
		{EnrolBrokerURL: "mqtt://x:1883"},
		{EnrolBrokerURL: "tcp://x"},
		{EnrolBrokerURL: "tcp://x:1883", EnrolBrokerCA: "ca.pem"},
		{EnrolBrokerCA: "ca.pem"},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

type noAccounts struct{}

func (noAccounts) Provision(string, string, string) error { return nil }

// TestEnrolJoinAsRoot: the installer runs the join as root in the data
// directory of the user that runs the node: the enrolment file is that
// user's, 0600, so the node can read it and nobody else.
func TestEnrolJoinAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: needs root to give a file away")
	}
	ctx := context.Background()
	codes, err := enrol.Open(ctx, filepath.Join(t.TempDir(), "safepoint.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer codes.Close()
	code, _, err := codes.Create(ctx, enrol.Draft{Node: "macken-b", Municipality: "2161"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	j := join.New(join.Options{Codes: codes, Accounts: noAccounts{}, Logger: slog.New(slog.DiscardHandler),
		Broker: func(host string) (string, error) { return "tcp://" + host + ":1883", nil }})
	srv := httptest.NewTLSServer(j.Routes()[0].Handler)
	defer srv.Close()

	dir := filepath.Join(t.TempDir(), "node")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := enrolCmd("join", "--data", dir, "--central", srv.URL, "--code", code,
		"--fingerprint", join.FingerprintOf(srv.Certificate().Raw))
	if err != nil {
		t.Fatalf("join: %v %s %s", err, out, errOut)
	}
	fi, err := os.Stat(filepath.Join(dir, enrolmentFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody || fi.Mode().Perm() != 0o600 {
		t.Fatalf("enrolment file %v owned by %d:%d, want 0600 of %d", fi.Mode(), st.Uid, st.Gid, nobody)
	}
}
