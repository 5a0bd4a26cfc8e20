package main

// Process-level sync tests: the real binary as node and as central, a real
// mosquitto, and a TCP proxy between the node and the broker that cuts the
// link; and central's announcements and activations down to the nodes,
// over its embedded broker. The long chaos run is `make soak`
// (SAFEPOINT_SOAK=1).

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// startCentralProc starts `safepoint central` on data against broker and
// waits until it serves /healthz.
func startCentralProc(t testing.TB, data, broker string) *proc {
	t.Helper()
	p := start(t, nil, "central", "--data", data, "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--mqtt", broker, "--log-format", "json", "--log-level", "debug")
	p.waitServing(t, "central", 15*time.Second)
	p.waitHealthy(t)
	return p
}

// syncState is the sync block of a node's /api/status.
type syncState struct {
	Configured bool       `json:"configured"`
	Online     bool       `json:"online"`
	LastSync   *time.Time `json:"last_sync"`
	Backlog    uint64     `json:"backlog"`
}

func nodeSync(base string) (syncState, error) {
	resp, err := httpClient.Get(base + "/api/status")
	if err != nil {
		return syncState{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Sync syncState `json:"sync"`
	}
	if resp.StatusCode != http.StatusOK {
		return syncState{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	return st.Sync, json.NewDecoder(resp.Body).Decode(&st)
}

// logMsgs counts the records of a JSON log by message.
func logMsgs(log string) map[string]int {
	n := map[string]int{}
	for _, r := range logRecords(log) {
		n[r.Msg]++
	}
	return n
}

// compareLogs checks that central holds exactly the node's events: every
// dump line (origin, seq, hlc, type, occurred_at, payload) once, nothing
// else.
func compareLogs(t *testing.T, nodeEvents, centralEvents []proctest.Event) (missing, extra, twice int) {
	t.Helper()
	have := map[string]int{}
	for _, e := range centralEvents {
		have[e.Raw]++
	}
	for raw, n := range have {
		if n > 1 {
			twice++
			if twice <= 5 {
				t.Errorf("central holds twice: %s", raw)
			}
		}
	}
	for _, e := range nodeEvents {
		if have[e.Raw] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("central lacks: %s", e.Raw)
			}
		}
		delete(have, e.Raw)
	}
	for raw := range have {
		extra++
		if extra <= 5 {
			t.Errorf("central holds what the node does not: %s", raw)
		}
	}
	return missing, extra, twice
}

// chaosPlan is what a chaos run does, and how long.
type chaosPlan struct {
	duration                                  time.Duration
	nodeKills, brokerRestarts, centralRestart int
	rate                                      time.Duration // one report every rate
	drain                                     time.Duration // how long the link may take to catch up at the end
}

func chaosPlanFromEnv(t *testing.T) chaosPlan {
	if os.Getenv("SAFEPOINT_SOAK") == "1" {
		p := chaosPlan{duration: 90 * time.Second, nodeKills: 6, brokerRestarts: 3, centralRestart: 1,
			rate: 20 * time.Millisecond, drain: 90 * time.Second}
		if s := os.Getenv("SAFEPOINT_SOAK_DURATION"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 60*time.Second {
				t.Fatalf("SAFEPOINT_SOAK_DURATION=%q: a duration of at least 60s", s)
			}
			p.duration = d
		}
		return p
	}
	return chaosPlan{duration: 20 * time.Second, nodeKills: 2, brokerRestarts: 1, centralRestart: 1,
		rate: 25 * time.Millisecond, drain: 25 * time.Second}
}

// TestSyncChaos runs a node, central and mosquitto as real processes while
// the link between node and broker is cut at random every 0.5–5 s,
// residents' reports come in at a steady rate, the node is killed with
// SIGKILL and restarted, mosquitto restarted (no persistence: it forgets
// everything) and central killed and restarted. After a quiet period
// central must hold exactly the node's events: none missing, none twice.
func TestSyncChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: skipped under -short")
	}
	plan := chaosPlanFromEnv(t)
	mq := synctest.StartMosquitto(t)
	proxy := synctest.NewProxy(t, mq.Addr())
	tmp := t.TempDir()
	nodeDir, centralDir := filepath.Join(tmp, "node"), filepath.Join(tmp, "central")
	nodeFlags := nodeArgs(nodeDir, "--id", "byhuset-a", "--mqtt", proxy.URL(), "--log-level", "info")

	var mu sync.Mutex // guards nodeProc, centralProc
	nodeProc := startNode(t, nil, nodeFlags...)
	centralProc := startCentralProc(t, centralDir, mq.URL())
	var nodeLogs, centralLogs []*proc
	nodeLogs = append(nodeLogs, nodeProc)
	centralLogs = append(centralLogs, centralProc)
	defer func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			for i, p := range nodeLogs {
				t.Logf("node run %d log (tail):\n%s", i, tail(p.Stderr.String(), 6000))
			}
			for i, p := range centralLogs {
				t.Logf("central run %d log (tail):\n%s", i, tail(p.Stderr.String(), 6000))
			}
		}
	}()
	base := func() string { mu.Lock(); defer mu.Unlock(); return nodeProc.base }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg                      sync.WaitGroup
		posted, refused, failed atomic.Int64
		idsMu                   sync.Mutex
		ids                     = map[string]bool{}
	)
	// Residents' reports at a steady rate.
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 3 * time.Second}
		tick := time.NewTicker(plan.rate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			code, c, _, err := postReport(ctx, client, base(), fmt.Sprintf("kaos %d", i), "Storvägen")
			switch {
			case err != nil:
				failed.Add(1)
			case code == http.StatusCreated:
				if c.ID != "" {
					idsMu.Lock()
					ids[c.ID] = true
					idsMu.Unlock()
				}
				posted.Add(1)
			default:
				refused.Add(1)
			}
		}
	}()
	// The link, cut at random.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500*time.Millisecond + mrand.N(4500*time.Millisecond)):
			}
			proxy.Cut()
		}
	}()

	// The schedule of kills and restarts, spread over the run.
	type action struct {
		at   time.Duration
		name string
		do   func()
	}
	var actions []action
	spread := func(n int, offset float64) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			f := (float64(i) + offset) / float64(n)
			out = append(out, time.Duration(f*float64(plan.duration)*0.9))
		}
		return out
	}
	// restart kills *cur, leaves it down a moment (under maxDown), starts
	// its successor and keeps that one's log with the others in *runs.
	restart := func(cur **proc, runs *[]*proc, maxDown time.Duration, start func() *proc) {
		mu.Lock()
		old := *cur
		mu.Unlock()
		old.kill()
		time.Sleep(mrand.N(maxDown))
		p := start()
		mu.Lock()
		*cur = p
		*runs = append(*runs, p)
		mu.Unlock()
	}
	for _, at := range spread(plan.nodeKills, 0.5) {
		actions = append(actions, action{at, "node kill -9", func() {
			restart(&nodeProc, &nodeLogs, 500*time.Millisecond, func() *proc { return startNode(t, nil, nodeFlags...) })
		}})
	}
	for _, at := range spread(plan.brokerRestarts, 0.3) {
		actions = append(actions, action{at, "mosquitto restart", func() {
			mq.Stop()
			time.Sleep(time.Duration(200+mrand.IntN(800)) * time.Millisecond)
			mq.Start()
		}})
	}
	for _, at := range spread(plan.centralRestart, 0.7) {
		actions = append(actions, action{at, "central kill -9", func() {
			restart(&centralProc, &centralLogs, time.Second, func() *proc { return startCentralProc(t, centralDir, mq.URL()) })
		}})
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].at < actions[j].at })
	began := time.Now()
	for _, a := range actions {
		if d := a.at - time.Since(began); d > 0 {
			time.Sleep(d)
		}
		a.do()
		t.Logf("%5.1fs %s", time.Since(began).Seconds(), a.name)
	}
	if d := plan.duration - time.Since(began); d > 0 {
		time.Sleep(d)
	}
	cancel()
	wg.Wait()
	stopped := time.Now()

	// Quiet: the link must catch up.
	var st syncState
	if !synctest.Eventually(plan.drain, func() bool {
		var err error
		st, err = nodeSync(base())
		return err == nil && st.Online && st.Backlog == 0
	}) {
		t.Errorf("the link did not catch up within %v of the chaos ending: %+v", plan.drain, st)
	}
	drained := time.Since(stopped)

	nodeEvents := runDumpProc(t, nodeDir)
	centralEvents := runDumpProc(t, centralDir)
	checkLogOrder(t, nodeEvents)
	checkLogOrder(t, centralEvents)
	missing, extra, twice := compareLogs(t, nodeEvents, centralEvents)

	// Every report answered 201 is in both.
	inCentral := map[string]bool{}
	for _, e := range centralEvents {
		if id, ok := e.Payload["id"].(string); ok && e.Type == "report.created" {
			inCentral[id] = true
		}
	}
	lost := 0
	for id := range ids {
		if !inCentral[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d reports answered 201 are not at central", lost)
	}
	if posted.Load() < int64(plan.duration/plan.rate)/4 {
		t.Errorf("only %d reports accepted in %v: the run barely produced events", posted.Load(), plan.duration)
	}
	mu.Lock()
	var refusedAtCentral, storeFailed, resends, linkDowns int
	for _, p := range centralLogs {
		m := logMsgs(p.Stderr.String())
		refusedAtCentral += m["Sync message refused"]
		storeFailed += m["Storing node events failed"]
	}
	for _, p := range nodeLogs {
		m := logMsgs(p.Stderr.String())
		resends += m["Sync: resending"] + m["Sync: no acknowledgement, resending"]
		linkDowns += m["Sync link down"]
	}
	mu.Unlock()
	if refusedAtCentral > 0 {
		t.Errorf("central refused %d message(s) from a well-behaved node", refusedAtCentral)
	}
	t.Logf("chaos %v: %d reports accepted (%d requests failed while the node was down, %d refused); "+
		"node log %d events, central %d: %d missing, %d extra, %d twice; proxy cut %d connections; "+
		"%d node kills, %d broker restarts, %d central restarts; node logged %d link downs and %d resends; "+
		"central logged %d failed stores; drained %v after the chaos",
		plan.duration, posted.Load(), failed.Load(), refused.Load(), len(nodeEvents), len(centralEvents),
		missing, extra, twice, proxy.Cuts(), plan.nodeKills, plan.brokerRestarts, plan.centralRestart,
		linkDowns, resends, storeFailed, drained.Round(100*time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// peakRSS is VmHWM of a process in kB.
func peakRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.Atoi(f[1])
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// TestLongOffline: 10,000 reports come in while no broker is reachable
// (the node's link points at a closed port); then mosquitto and central
// start on that port. Everything arrives, in seq order, within a bounded
// time, and the node's memory stays bounded throughout.
func TestLongOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("long offline: skipped under -short")
	}
	const reports = 10000
	const maxRSS = 100 << 10 // kB
	port := synctest.FreePort(t)
	broker := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	tmp := t.TempDir()
	nodeDir, centralDir := filepath.Join(tmp, "node"), filepath.Join(tmp, "central")
	synctest.NeedMosquitto(t)
	n := startNode(t, nil, nodeArgs(nodeDir, "--id", "offline-a", "--mqtt", broker, "--log-level", "info")...)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > reports || ctx.Err() != nil {
					return
				}
				code, _, b, err := postReport(ctx, client, n.base, fmt.Sprintf("offline %d", i), fmt.Sprintf("Byvägen %d", i%97))
				if err != nil || code != http.StatusCreated {
					if failures.Add(1) <= 3 {
						t.Errorf("report %d: %d %s %v", i, code, b, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d reports failed", failures.Load())
	}
	appended := time.Since(began)
	st, err := nodeSync(n.base)
	if err != nil {
		t.Fatal(err)
	}
	if st.Online || st.Backlog < reports {
		t.Fatalf("with no broker the node's sync is %+v, want offline with a backlog of at least %d", st, reports)
	}
	rssOffline, err := peakRSS(n.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	head := st.Backlog // nothing was ever acknowledged: the backlog is the head

	// The broker and central come up on the port the node keeps trying.
	mq := synctest.StartMosquittoOn(t, port)
	capture := synctest.StartCapture(t, mq.URL())
	c := startCentralProc(t, centralDir, mq.URL())
	up := time.Now()
	const bound = 90 * time.Second // the node's backoff (≤ 60 s) plus the transfer
	if !synctest.Eventually(bound, func() bool {
		st, err = nodeSync(n.base)
		return err == nil && st.Backlog == 0
	}) {
		t.Fatalf("backlog not delivered within %v of the broker coming up: %+v", bound, st)
	}
	delivered := time.Since(up)
	rss, err := peakRSS(n.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	n.terminate()
	c.terminate()

	nodeEvents := runDumpProc(t, nodeDir)
	centralEvents := runDumpProc(t, centralDir)
	if uint64(len(nodeEvents)) != head || head < reports {
		t.Fatalf("node holds %d events, head %d", len(nodeEvents), head)
	}
	checkLogOrder(t, centralEvents) // 1..N exactly, rising HLC
	if len(centralEvents) != len(nodeEvents) || centralEvents[len(centralEvents)-1].Seq != head {
		t.Errorf("central holds %d events up to seq %d, the node %d", len(centralEvents), centralEvents[len(centralEvents)-1].Seq, head)
	}
	compareLogs(t, nodeEvents, centralEvents)

	// In seq order on the wire: each batch that brought anything new
	// started right after the highest seq seen before it.
	var seen uint64
	var batches, bytes, resent int
	for _, m := range capture.Messages() {
		_, _, kind, ok := wire.ParseTopic(m.Topic)
		if !ok || kind != wire.KindUp {
			continue
		}
		b, err := wire.DecodeBatch(m.Payload)
		if err != nil {
			t.Errorf("captured batch: %v", err)
			continue
		}
		batches++
		bytes += len(m.Payload)
		first, last := b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
		switch {
		case last <= seen:
			resent++
		case first > seen+1 && seen > 0:
			t.Errorf("batch %d..%d arrived after only 1..%d had", first, last, seen)
		}
		seen = max(seen, last)
	}
	if seen != head {
		t.Errorf("the capture saw seqs up to %d, the head is %d", seen, head)
	}
	if rss > maxRSS {
		t.Errorf("node's peak RSS %d MB, more than %d MB", rss>>10, maxRSS>>10)
	}
	t.Logf("%d reports appended offline in %v; head %d delivered %v after the broker came up, in %d batches (%d resent, %.1f bytes/event on the wire); node peak RSS (VmHWM) %d MB offline, %d MB after delivery",
		reports, appended.Round(time.Millisecond), head, delivered.Round(time.Millisecond), batches, resent,
		float64(bytes)/float64(head), rssOffline>>10, rss>>10)
}

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
	hdr := map[string]string{"X-CSRF-Token": staff.CSRF}
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
		t.Fatalf("states %v, want byhuset-a shown, macken-b queued, nothing else\ncentral:\n%s", states(), tail(c.Stderr.String(), 4000))
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

	// Central's situation picture: the report folded from the point's own
	// events, as JSON and on the page; an account limited to 0180 sees
	// skolan-c's point alone.
	if !synctest.Eventually(20*time.Second, func() bool {
		resp, b := staff.do(http.MethodGet, "/api/central/needs?point=byhuset-a", "", nil)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), "Träd över vägen")
	}) {
		t.Fatal("central's needs never listed byhuset-a's report")
	}
	if resp, b := staff.do(http.MethodGet, "/central", "", nil); resp.StatusCode != http.StatusOK ||
		!strings.Contains(string(b), "Träd över vägen") || !strings.Contains(string(b), `id="p-skolan-c"`) {
		t.Errorf("GET /central: %d, without the report or skolan-c's row", resp.StatusCode)
	}
	scopedPassword := randHex(t, 12)
	if r := userCmd(t, cdir, scopedPassword+"\n"+scopedPassword+"\n", "add", "--name", "stockholm", "--role", "viewer", "--municipalities", "0180"); r.Code != 0 {
		t.Fatalf("user add --municipalities: %s", r)
	}
	scoped := newStaffClient(t, cdir, c.base)
	scoped.mustLogin("stockholm", scopedPassword)
	resp, b = scoped.do(http.MethodGet, "/api/central/points", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"id":"skolan-c"`) || strings.Contains(string(b), "byhuset-a") {
		t.Errorf("the 0180 account's points: %d %s", resp.StatusCode, b)
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
