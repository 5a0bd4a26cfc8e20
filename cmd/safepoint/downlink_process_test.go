package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

// TestDownlinkProcesses: `safepoint central --embedded-broker` and nodes as
// processes. Central staff post an announcement to one municipality over
// the HTTP API: it reaches exactly that municipality's nodes, including one
// that had never connected when it was sent (known from the broker's users
// file) and starts later; central's GET /api/announcements/ID shows each
// node queued, then shown. An exercise for all is labelled on every
// node's portal, and a resident's receipt says when the municipality got
// the report.
func TestDownlinkProcesses(t *testing.T) {
	tmp := t.TempDir()
	cdir := filepath.Join(tmp, "central")
	users := filepath.Join(cdir, "broker", "users")
	nodes := []struct{ id, municipality string }{{"byhuset-a", "2161"}, {"macken-b", "2161"}, {"skolan-c", "0180"}}
	for _, n := range nodes {
		pw := randHex(t, 16)
		if err := broker.WriteNodeEntry(users, n.id, n.municipality, pw); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, n.id+".pw"), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	password := randHex(t, 12)
	addUser(t, cdir, "kommunen", "admin", password)
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", synctest.FreePort(t))
	c := start(t, nil, "central", "--data", cdir, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", brokerAddr, "--log-format", "json")
	c.waitServing(t, "central", 20*time.Second)
	startPoint := func(i int) *proc {
		n := nodes[i]
		return startNode(t, nil, nodeArgs(filepath.Join(tmp, n.id), "--id", n.id, "--municipality", n.municipality,
			"--staff-tls", "off", "--mqtt", "tcp://"+brokerAddr, "--mqtt-user", n.id,
			"--mqtt-password-file", filepath.Join(tmp, n.id+".pw"))...)
	}
	procs := map[string]*proc{"byhuset-a": startPoint(0), "skolan-c": startPoint(2)}

	staff := newStaffClient(t, cdir, c.base)
	staff.mustLogin("kommunen", password)
	hdr := map[string]string{"X-CSRF-Token": staff.csrf}
	until := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	resp, b := staff.do(http.MethodPost, "/api/announcements", `{"target":"municipality:2161",
		"title":{"sv":"Vatten delas ut","en":"Water handed out"},"body":{"sv":"Vid byhuset kl. 14."},
		"severity":"warning","valid_until":"`+until+`"}`, hdr)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/announcements: %d %s", resp.StatusCode, b)
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.ID == "" {
		t.Fatalf("answer %s: %v", b, err)
	}
	// Without the CSRF token, or without a login, nothing is sent.
	if resp, _ := staff.do(http.MethodPost, "/api/announcements", `{"target":"all","title":{"sv":"x"}}`,
		map[string]string{"Content-Type": "text/plain"}); resp.StatusCode < 400 {
		t.Fatalf("a post without the JSON type or token: %d", resp.StatusCode)
	}
	if resp, err := httpClient.Get(c.base + "/api/announcements/" + created.ID); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without login: %v %v", resp.StatusCode, err)
	}
	states := func() map[string]string {
		resp, b := staff.do(http.MethodGet, "/api/announcements/"+created.ID, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/announcements/%s: %d %s", created.ID, resp.StatusCode, b)
		}
		var d struct {
			Nodes []struct {
				Node, State string
			} `json:"nodes"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, n := range d.Nodes {
			out[n.Node] = n.State
		}
		return out
	}
	if !synctest.Eventually(30*time.Second, func() bool {
		s := states()
		return s["byhuset-a"] == "shown" && s["macken-b"] == "queued" && len(s) == 2
	}) {
		t.Fatalf("states %v, want byhuset-a shown, macken-b queued, nothing else\ncentral:\n%s", states(), tail(c.stderr.String(), 4000))
	}
	hasAnn := func(p *proc) bool {
		resp, err := httpClient.Get(p.base + "/api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Announcements []struct {
				Title map[string]string `json:"title"`
			} `json:"announcements"`
		}
		json.NewDecoder(resp.Body).Decode(&st)
		return len(st.Announcements) == 1 && st.Announcements[0].Title["sv"] == "Vatten delas ut"
	}
	if !hasAnn(procs["byhuset-a"]) || hasAnn(procs["skolan-c"]) {
		t.Fatal("the announcement is not on byhuset-a's status, or it is on skolan-c's")
	}
	// macken-b starts for the first time.
	procs["macken-b"] = startPoint(1)
	if !synctest.Eventually(30*time.Second, func() bool { return states()["macken-b"] == "shown" }) {
		t.Fatalf("macken-b: %v after it started", states())
	}
	if !hasAnn(procs["macken-b"]) {
		t.Fatal("macken-b's status lacks the announcement")
	}

	// An exercise for all.
	resp, b = staff.do(http.MethodPost, "/api/activation", `{"target":"all","state":"exercise","note":"Övning Storm 26"}`, hdr)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/activation: %d %s", resp.StatusCode, b)
	}
	for id, p := range procs {
		if !synctest.Eventually(20*time.Second, func() bool {
			resp, err := httpClient.Get(p.base + "/")
			if err != nil {
				return false
			}
			return strings.Contains(readAll(resp), "ÖVNING: det här är en övning")
		}) {
			t.Errorf("%s's portal does not say it is an exercise", id)
		}
	}

	// A resident's report on byhuset-a: its receipt says when the
	// municipality got it.
	code, body, err := post(t.Context(), httpClient, procs["byhuset-a"].base+"/api/reports", `{"category":"road","text":"Träd över vägen"}`)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("report: %d %s %v", code, body, err)
	}
	var rep struct {
		Receipt string `json:"receipt"`
	}
	json.Unmarshal(body, &rep)
	if !synctest.Eventually(20*time.Second, func() bool {
		resp, err := httpClient.Get(procs["byhuset-a"].base + "/r/" + rep.Receipt)
		if err != nil {
			return false
		}
		return strings.Contains(readAll(resp), "Mottaget av kommunen kl. ")
	}) {
		t.Fatal("the receipt never said the municipality received the report")
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}
