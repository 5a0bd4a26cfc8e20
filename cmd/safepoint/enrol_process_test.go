package main

// Process-level tests of enrolment with one code: `safepoint enrol create`
// beside a running central, `safepoint enrol join` at a fresh point over
// central's HTTPS with the fingerprint it printed, then `safepoint node
// --data DIR` with no MQTT flags online at central; and every refusal.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

var codeLine = regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}\n$`)

// createCode runs `safepoint enrol create` at central's data directory and
// returns the code, which is all it prints on standard output.
func createCode(t *testing.T, cdir string, args ...string) (code string, r proctest.Result) {
	t.Helper()
	r = runCLI(t, "", append([]string{"enrol", "create", "--data", cdir}, args...)...)
	if r.Code != 0 || !codeLine.MatchString(r.Stdout) {
		t.Fatalf("enrol create %v: %s", args, r)
	}
	return strings.TrimSpace(r.Stdout), r
}

// joinCLI runs `safepoint enrol join` with stdin not a terminal.
func joinCLI(t *testing.T, ndir, central, code string, args ...string) proctest.Result {
	t.Helper()
	return runCLI(t, "", append([]string{"enrol", "join", "--data", ndir, "--central", central, "--code", code}, args...)...)
}

// nodeOnline reports whether central's GET /api/nodes shows id online in
// municipality.
func nodeOnline(t *testing.T, staff *staffClient, id, municipality string) bool {
	t.Helper()
	resp, b := staff.do(http.MethodGet, "/api/nodes", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/nodes: %d %s", resp.StatusCode, b)
	}
	var nodes []struct {
		ID           string `json:"id"`
		Municipality string `json:"municipality"`
		Online       bool   `json:"online"`
	}
	if err := json.Unmarshal(b, &nodes); err != nil {
		t.Fatalf("GET /api/nodes: %v in %s", err, b)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.Online && n.Municipality == municipality
		}
	}
	return false
}

// startEnrolledNode starts `safepoint node --data ndir` with listen
// addresses only: its id, municipality, name and link come from the
// enrolment.
func startEnrolledNode(t *testing.T, ndir string) *proc {
	t.Helper()
	return startNode(t, nil, "--data", ndir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--log-format", "json")
}

// TestEnrolProcesses: central with its embedded broker and staff TLS; a
// code made beside it; a fresh point joins with the fingerprint central
// printed and links with no MQTT flags, online at central; the same code
// again, an expired, a revoked code, a wrong fingerprint and no
// fingerprint off a terminal are refused; plain HTTP is refused; too many
// attempts get 429.
func TestEnrolProcesses(t *testing.T) {
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	password := randHex(t, 12)
	addUser(t, cdir, "kommunen", "admin", password)
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", synctest.FreePort(t))
	c := start(t, nil, "central", "--data", cdir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
		"--embedded-broker", brokerAddr, "--log-format", "json")
	c.waitServing(t, "central", 20*time.Second)
	c.waitHealthy(t)
	httpsAddr, fp := staffHTTPS(t, c)
	central := "https://" + httpsAddr

	// Beside the running central: the code alone on stdout, the command
	// to run at the point with central's fingerprint on stderr.
	code, r := createCode(t, cdir, "--node", "macken-b", "--municipality", "2161", "--name", "Macken i Byn")
	if !strings.Contains(r.Stderr, "--code "+code+" --fingerprint "+fp) {
		t.Errorf("enrol create does not print the join command with central's fingerprint %s:\n%s", fp, r.Stderr)
	}

	// A wrong fingerprint, and none off a terminal: refused before the
	// code is sent, each saying the fingerprint seen.
	ndir := filepath.Join(tmp, "macken-b")
	wrong := "SHA256:" + strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	if r := joinCLI(t, ndir, central, code, "--fingerprint", wrong); r.Code != 1 ||
		!strings.Contains(r.Stderr, "does not have the fingerprint given") || !strings.Contains(r.Stderr, fp) {
		t.Fatalf("join with a wrong fingerprint: %s", r)
	}
	if r := joinCLI(t, ndir, central, code); r.Code != 1 || !strings.Contains(r.Stderr, "--fingerprint "+fp) {
		t.Fatalf("join without a fingerprint off a terminal: %s", r)
	}
	if _, err := os.Stat(filepath.Join(ndir, enrolmentFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused join wrote the enrolment: %v", err)
	}

	// The join, pinned: the enrolment is written 0600.
	if r := joinCLI(t, ndir, httpsAddr, strings.ToLower(code), "--fingerprint", fp); r.Code != 0 ||
		!strings.Contains(r.Stdout, "Enrolled macken-b (Macken i Byn) of municipality 2161") {
		t.Fatalf("join: %s", r)
	}
	fi, err := os.Stat(filepath.Join(ndir, enrolmentFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("enrolment file: %v, %v; want mode 0600", fi.Mode(), err)
	}

	// The point, with no MQTT flags, no id and no municipality, links.
	n := startEnrolledNode(t, ndir)
	if st := n.getStatus(t); st.Point.ID != "macken-b" || st.Point.Municipality != "2161" || st.Point.Name != "Macken i Byn" {
		t.Fatalf("the point's status: %+v", st.Point)
	}
	staff := newStaffClient(t, cdir, central)
	staff.mustLogin("kommunen", password)
	if !synctest.Eventually(30*time.Second, func() bool { return nodeOnline(t, staff, "macken-b", "2161") }) {
		t.Fatalf("macken-b never online at central\nnode:\n%s\ncentral:\n%s", tail(n.Stderr.String(), 3000), tail(c.Stderr.String(), 3000))
	}

	// The same code again, at another fresh directory: used.
	if r := joinCLI(t, filepath.Join(tmp, "again"), central, code, "--fingerprint", fp); r.Code != 1 ||
		!strings.Contains(r.Stderr, "this code has been used") {
		t.Fatalf("the second use: %s", r)
	}
	// Expired (made valid for 1 s) and revoked codes.
	expired, _ := createCode(t, cdir, "--node", "skolan-c", "--municipality", "2161", "--valid", "1s")
	revoked, _ := createCode(t, cdir, "--node", "byhuset-a", "--municipality", "2161")
	if r := runCLI(t, "", "enrol", "revoke", "--data", cdir, "--node", "byhuset-a"); r.Code != 0 {
		t.Fatalf("enrol revoke: %s", r)
	}
	time.Sleep(1100 * time.Millisecond)
	for _, x := range []struct{ what, code, says string }{
		{"expired", expired, "this code has expired"},
		{"revoked", revoked, "this code has been revoked"},
	} {
		if r := joinCLI(t, filepath.Join(tmp, x.what), central, x.code, "--fingerprint", fp); r.Code != 1 || !strings.Contains(r.Stderr, x.says) {
			t.Fatalf("an %s code: %s", x.what, r)
		}
	}
	list := runCLI(t, "", "enrol", "list", "--data", cdir)
	for _, want := range []string{`byhuset-a\s+2161\s+-\s+revoked `, `skolan-c\s+2161\s+-\s+expired\s`, `macken-b\s+2161\s+Macken i Byn\s+used `} {
		if !regexp.MustCompile(want).MatchString(list.Stdout) {
			t.Errorf("enrol list lacks %q:\n%s", want, list.Stdout)
		}
	}
	if strings.Contains(list.Stdout, code) || strings.Contains(list.Stdout, expired) {
		t.Error("enrol list shows a code")
	}

	// Plain HTTP while staff TLS is on: refused, the body not read.
	code2, _ := createCode(t, cdir, "--node", "kyrkan-d", "--municipality", "2161")
	st, b, err := post(t.Context(), httpClient, c.base+"/api/enrol", `{"code":"`+code2+`"}`)
	if err != nil || st != http.StatusForbidden || !strings.Contains(string(b), `"reason":"https"`) {
		t.Fatalf("over plain HTTP: %d %s %v", st, b, err)
	}
	// Too many attempts from one address: 429 with Retry-After. Four of
	// the ten at once went on the joins above.
	pinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: nodePool(t, cdir), MinVersion: tls.VersionTLS12}}}
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		st, b, err := post(t.Context(), pinned, central+"/api/enrol", `{"code":"2222-3333-4444"}`)
		switch {
		case err != nil:
			t.Fatal(err)
		case st == http.StatusTooManyRequests:
			limited = i >= 5 && strings.Contains(string(b), `"reason":"rate"`)
			if !limited {
				t.Fatalf("429 after %d attempts: %s", i, b)
			}
		case st != http.StatusForbidden || !strings.Contains(string(b), `"reason":"unknown"`):
			t.Fatalf("an unknown code: %d %s", st, b)
		}
	}
	if !limited {
		t.Fatal("no 429 after 16 attempts from one address")
	}
	if r := joinCLI(t, filepath.Join(tmp, "limited"), central, code2, "--fingerprint", fp); r.Code != 1 ||
		!strings.Contains(r.Stderr, "too many enrolment attempts") {
		t.Fatalf("join over the limit: %s", r)
	}
	var e enrolment
	if _, err := toml.DecodeFile(filepath.Join(ndir, enrolmentFile), &e); err != nil || len(e.MQTTPassword) < 20 {
		t.Fatalf("enrolment file: %+v, %v", e, err)
	}
	for _, secret := range []string{code, strings.ReplaceAll(code, "-", ""), e.MQTTPassword} {
		if strings.Contains(c.Stderr.String(), secret) || strings.Contains(n.Stderr.String(), secret) {
			t.Errorf("a secret in a log: %s", secret)
		}
	}
	n.terminate()
	c.terminate()
}

// TestEnrolMosquittoProcesses: central on a real Mosquitto writes the
// point's password line and ACL block into DATA/mosquitto and says to
// reload; after SIGHUP the point, with no MQTT flags, links through
// Mosquitto and is online at central.
func TestEnrolMosquittoProcesses(t *testing.T) {
	synctest.NeedMosquitto(t)
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	files := broker.MosquittoFilesIn(filepath.Join(cdir, "mosquitto"))
	centralPW := randHex(t, 16)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := files.Add("central", broker.RoleCentral, broker.AllMunicipalities, centralPW, false); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(tmp, "central.pw")
	if err := os.WriteFile(pwFile, []byte(centralPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := synctest.FreePort(t)
	m := synctest.StartMosquittoConfig(t, port, synctest.MosquittoConf(port, "allow_anonymous false",
		"password_file "+files.Passwd, "acl_file "+files.ACL, "use_username_as_clientid true"))
	password := randHex(t, 12)
	addUser(t, cdir, "kommunen", "admin", password)
	c := start(t, nil, "central", "--data", cdir, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
		"--mqtt", m.URL(), "--mqtt-user", "central", "--mqtt-password-file", pwFile,
		"--enrol-broker-url", m.URL(), "--log-format", "json")
	c.waitServing(t, "central", 20*time.Second)
	c.waitHealthy(t)
	httpsAddr, fp := staffHTTPS(t, c)

	code, _ := createCode(t, cdir, "--node", "macken-b", "--municipality", "2161")
	ndir := filepath.Join(tmp, "macken-b")
	r := joinCLI(t, ndir, httpsAddr, code, "--fingerprint", fp)
	if r.Code != 0 || !strings.Contains(r.Stdout, "once central's operator has run: systemctl reload mosquitto") {
		t.Fatalf("join: %s", r)
	}
	if !hasLogMsg(c.Stderr.String(), "Reload the broker to let the enrolled point in") {
		t.Errorf("central does not log the reload to run:\n%s", tail(c.Stderr.String(), 2000))
	}
	acl, _ := os.ReadFile(files.ACL)
	if !strings.Contains(string(acl), "user macken-b\n") || !strings.Contains(string(acl), "topic write sp/v1/2161/macken-b/up\n") {
		t.Fatalf("the ACL file lacks the point's block:\n%s", acl)
	}
	m.Reload()
	n := startEnrolledNode(t, ndir)
	staff := newStaffClient(t, cdir, "https://"+httpsAddr)
	staff.mustLogin("kommunen", password)
	if !synctest.Eventually(30*time.Second, func() bool { return nodeOnline(t, staff, "macken-b", "2161") }) {
		t.Fatalf("macken-b never online at central through Mosquitto\nnode:\n%s\nmosquitto:\n%s",
			tail(n.Stderr.String(), 3000), m.Log())
	}
	n.terminate()
	c.terminate()
}
