package demo

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

const storyPassword = "story password"

// storyEnv is a node as `safepoint node` composes it, on a real log:
// residents on plain HTTP, staff on HTTPS, one handler behind both.
type storyEnv struct {
	*webtest.Env
	public *httptest.Server
	mu     sync.Mutex
	calls  []string // "POST /api/login 200", in order
}

func startStoryNode(t *testing.T) *storyEnv {
	t.Helper()
	e := &storyEnv{}
	e.Env = webtest.Start(t, nil, true, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		site := web.New(web.Options{Accounts: staff, Logger: webtest.Discard(), StaffTLS: true})
		t.Cleanup(site.Close)
		h := site.Handler(portal.New(site, portal.Options{Log: l, Logger: webtest.Discard()}),
			board.New(site, board.Options{Log: l, Logger: webtest.Discard()}))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(rec, r)
			e.mu.Lock()
			e.calls = append(e.calls, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, rec.code))
			e.mu.Unlock()
		})
	})
	e.AddAccount(t, User, accounts.RoleAdmin, storyPassword)
	e.public = httptest.NewServer(e.Srv.Config.Handler)
	t.Cleanup(e.public.Close)
	return e
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (e *storyEnv) storyNode(id string) storyNode {
	return storyNode{id: id, public: e.public.URL, staff: e.Srv.URL, fingerprint: web.Fingerprint(e.Srv.Certificate().Raw)}
}

func (e *storyEnv) count(call string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if c == call {
			n++
		}
	}
	return n
}

// now is a wait that never waits: the story at full speed.
func now(ctx context.Context, _ time.Duration) bool { return ctx.Err() == nil }

// lines collects what the story says.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) say(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) all() string  { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.l, "\n") }

// TestStory plays the demo's story against three real nodes: every beat
// lands where it should, the picture has what central's page shows (needs
// of every urgency, households needing help, a need triaged, stock
// below its mark), nothing personal is sent or said, and staff log in
// once per node and out at the end.
func TestStory(t *testing.T) {
	envs := []*storyEnv{startStoryNode(t), startStoryNode(t), startStoryNode(t)}
	var nodes []storyNode
	for i, e := range envs {
		nodes = append(nodes, e.storyNode(Points[i].ID))
	}
	var out lines
	newTeller(nodes, storyPassword, out.say).tell(context.Background(), story, now)

	said := out.all()
	if got := strings.Count(said, "\n") + 1; got != len(story) {
		t.Errorf("%d lines for %d beats:\n%s", got, len(story), said)
	}
	for _, bad := range []string{"failed", "could not", "no report"} {
		if strings.Contains(said, bad) {
			t.Errorf("a beat failed:\n%s", said)
		}
	}
	urgencies := map[string]bool{}
	for _, b := range story {
		if b.report == nil {
			continue
		}
		urgencies[b.report.Urgency] = true
		for _, private := range []string{b.report.Text, b.report.Place} {
			if strings.Contains(said, private) {
				t.Errorf("the output holds what a resident wrote, %q:\n%s", private, said)
			}
		}
	}
	for _, u := range []string{"low", "normal", "life-threatening"} {
		if !urgencies[u] {
			t.Errorf("no need of urgency %s in the story", u)
		}
	}

	var needsHelp, triaged, low int
	for i, e := range envs {
		v := e.Log.State().View()
		var reports, checkIns []beat
		for _, b := range story {
			switch {
			case b.node%len(envs) != i:
			case b.report != nil:
				reports = append(reports, b)
			case b.checkIn != nil:
				checkIns = append(checkIns, b)
			}
		}
		if len(v.Reports) != len(reports) || len(v.CheckIns) != len(checkIns) {
			t.Errorf("node %d: %d reports and %d check-ins, want %d and %d", i, len(v.Reports), len(v.CheckIns), len(reports), len(checkIns))
			continue
		}
		for j, r := range v.Reports {
			if want := reports[j].report; r.Category != want.Category || r.Urgency != want.Urgency || r.Text != want.Text {
				t.Errorf("node %d: report %d is %s/%s %q, want %s/%s %q", i, j, r.Category, r.Urgency, r.Text, want.Category, want.Urgency, want.Text)
			}
			if r.Status == node.ReportInProgress && r.Assignee != "" {
				triaged++
			}
		}
		for j, c := range v.CheckIns {
			if want := checkIns[j].checkIn; c.Size != want.Size || c.Status != want.Status || c.HasPersonal {
				t.Errorf("node %d: check-in %d is %d %s (personal %v), want %d %s and nothing personal",
					i, j, c.Size, c.Status, c.HasPersonal, want.Size, want.Status)
			}
		}
		needsHelp += v.Counts.NeedsHelp
		for _, item := range v.Inventory {
			if item.IsLow {
				low++
			}
		}
		// One login for the node's staff beats, one logout after them.
		staffBeats := slices.ContainsFunc(story, func(b beat) bool {
			return b.node%len(envs) == i && (b.triage != nil || b.stock != nil)
		})
		want := 0
		if staffBeats {
			want = 1
		}
		if e.count("POST /api/login 200") != want || e.count("POST /logout 204") != want {
			t.Errorf("node %d: %d logins and %d logouts, want %d each; calls %q", i,
				e.count("POST /api/login 200"), e.count("POST /logout 204"), want, e.calls)
		}
	}
	if needsHelp == 0 || triaged != 1 || low != 1 {
		t.Errorf("%d households needing help, %d needs in progress and assigned, %d items low; want some, 1 and 1",
			needsHelp, triaged, low)
	}
	// The triaged need went through acknowledged first: two status changes.
	if n := envs[0].count("POST /api/staff/reports/" + envs[0].Log.State().View().Reports[0].ID + "/status 201"); n != 2 {
		t.Errorf("the triaged need's status changed %d times at node 0, want 2 (acknowledged, in progress); calls %q", n, envs[0].calls)
	}
}

// TestStoryOneNode: with one node every beat is played there.
func TestStoryOneNode(t *testing.T) {
	e := startStoryNode(t)
	var out lines
	newTeller([]storyNode{e.storyNode("solo")}, storyPassword, out.say).tell(context.Background(), story, now)
	v := e.Log.State().View()
	var reports, checkIns int
	for _, b := range story {
		if b.report != nil {
			reports++
		}
		if b.checkIn != nil {
			checkIns++
		}
	}
	if len(v.Reports) != reports || len(v.CheckIns) != checkIns || strings.Contains(out.all(), "failed") {
		t.Errorf("%d reports, %d check-ins; want %d, %d. Said:\n%s", len(v.Reports), len(v.CheckIns), reports, checkIns, out.all())
	}
}

// TestStoryFailures: a node whose certificate is not the one it made gets
// no staff action (and no password), a node that is down gets nothing;
// each failure is one line and the story goes on.
func TestStoryFailures(t *testing.T) {
	good, impostor := startStoryNode(t), startStoryNode(t)
	down := startStoryNode(t)
	downNode := down.storyNode(Points[2].ID)
	down.public.Close()
	down.Srv.Close()
	// Every httptest server has the same certificate: the impostor's
	// fingerprint is another.
	wrongCert := impostor.storyNode(Points[0].ID)
	wrongCert.fingerprint = strings.Repeat("AB:", 31) + "AB"
	nodes := []storyNode{wrongCert, good.storyNode(Points[1].ID), downNode}

	var out lines
	newTeller(nodes, storyPassword, out.say).tell(context.Background(), story, now)
	said := out.all()
	if got := strings.Count(said, "\n") + 1; got != len(story) {
		t.Errorf("%d lines for %d beats:\n%s", got, len(story), said)
	}
	if !strings.Contains(said, Points[0].ID+": staff could not log in") || !strings.Contains(said, "certificate is not the one it made") {
		t.Errorf("no line on the wrong certificate:\n%s", said)
	}
	if impostor.count("POST /api/login 200") != 0 || len(impostor.Log.State().View().Inventory) != 0 {
		t.Errorf("the node with the wrong certificate was logged in to: calls %q", impostor.calls)
	}
	if !strings.Contains(said, Points[2].ID+": a check-in failed") {
		t.Errorf("no line on the node that is down:\n%s", said)
	}
	if n := len(good.Log.State().View().Reports); n == 0 {
		t.Errorf("the good node got no reports:\n%s", said)
	}
}

// TestStoryStops: the story waits on the wall clock and ends with its
// context, saying nothing more.
func TestStoryStops(t *testing.T) {
	e := startStoryNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var out lines
	began := time.Now()
	newTeller([]storyNode{e.storyNode("solo")}, storyPassword, out.say).tell(ctx, story, sleepUntil(began))
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the story ended %v after its context, want at once", took)
	}
	if out.all() != "" || len(e.calls) != 0 {
		t.Errorf("a story stopped before its first beat (%v) said %q, called %q", story[0].at, out.all(), e.calls)
	}
}

// TestStoryTimes: the beats are in time order, within the storm's two
// minutes, and each triage follows the report it moves on, at the same
// node.
func TestStoryTimes(t *testing.T) {
	made := map[string]int{} // key → node
	for i, b := range story {
		if i > 0 && b.at < story[i-1].at {
			t.Errorf("beat %d at %v comes after one at %v", i, b.at, story[i-1].at)
		}
		if b.at > 2*time.Minute {
			t.Errorf("beat %d at %v: after the storm", i, b.at)
		}
		if b.report != nil && b.key != "" {
			made[b.key] = b.node
		}
		if b.triage != nil {
			if n, ok := made[b.triage.key]; !ok || n != b.node {
				t.Errorf("beat %d triages %q, which no earlier beat at node %d reports", i, b.triage.key, b.node)
			}
		}
	}
}
