package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/board"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The story: what residents and staff do at the points while the storm
// plays, so that central's picture changes as one watches it: needs of
// every urgency, households checking in (some needing help), a need
// triaged by staff, drinking water running low. Residents post to the
// public API over plain HTTP, as a phone on the point's Wi-Fi does; staff
// log in to the staff API over HTTPS, as a tablet at the board does,
// trusting the node's certificate by its fingerprint. Check-ins carry no
// personal fields, and no output line carries what a resident wrote.

// beat is one thing that happens at a point during the storm. One of
// report, checkIn, triage and stock is set.
type beat struct {
	at   time.Duration // after every process answers
	node int           // which of the demo's nodes, modulo how many run
	// key names a report for a later triage at the same node.
	key     string
	report  *api.ReportRequest
	checkIn *api.CheckInRequest
	triage  *triage
	stock   *board.InventoryRequest
}

// triage is staff moving a need on: a status, and whom it is given to.
type triage struct {
	key, status, assignee string
}

// story is the demo's, timed against the storm (storm-demo.toml): on
// battery from about 15 s, the generator from about 75 s, mains again from
// about 105 s. Node 0 and 1 are in Ljusdal, node 2 in Hudiksvall.
var story = []beat{
	{at: 20 * time.Second, node: 0, checkIn: &api.CheckInRequest{Size: 4, Status: "safe"}},
	{at: 20 * time.Second, node: 2, report: &api.ReportRequest{Category: "heat", Urgency: "high",
		Text:  "Ingen värme sedan strömmen gick. Vi är två pensionärer och det är 13 grader inne.",
		Place: "Skolvägen 9"}},
	{at: 30 * time.Second, node: 1, checkIn: &api.CheckInRequest{Size: 2, Status: "needs_help", Need: "heat"}},
	{at: 45 * time.Second, node: 0, key: "oxygen", report: &api.ReportRequest{Category: "medical", Urgency: "life-threatening",
		Text:  "Min granne har syrgasapparat hemma. Reservbatteriet räcker bara ett par timmar till.",
		Place: "Byvägen 7"}},
	{at: 45 * time.Second, node: 2, checkIn: &api.CheckInRequest{Size: 1, Status: "needs_help", Need: "medical"}},
	{at: 55 * time.Second, node: 0, triage: &triage{key: "oxygen", status: "acknowledged"}},
	{at: 65 * time.Second, node: 0, checkIn: &api.CheckInRequest{Size: 3, Status: "needs_help", Need: "power"}},
	{at: 70 * time.Second, node: 1, report: &api.ReportRequest{Category: "water", Urgency: "normal",
		Text:  "Brunnspumpen står utan ström. Tre hushåll har inget vatten.",
		Place: "Sörbyvägen 20–24"}},
	{at: 80 * time.Second, node: 0, stock: &board.InventoryRequest{Item: "dricksvatten", Quantity: 40, Unit: "l", Low: 50}},
	{at: 90 * time.Second, node: 0, triage: &triage{key: "oxygen", status: "in_progress", assignee: "Hemsjukvården"}},
	{at: 100 * time.Second, node: 1, report: &api.ReportRequest{Category: "road", Urgency: "low",
		Text:  "Grenar över cykelvägen mot skolan, men det går att ta sig förbi.",
		Place: "Cykelvägen vid skolan"}},
	{at: 110 * time.Second, node: 2, checkIn: &api.CheckInRequest{Size: 5, Status: "safe"}},
}

// storyNode is where the story reaches one node.
type storyNode struct {
	id          string
	public      string // residents' base URL: http://host:port
	staff       string // staff's base URL: https://host:port
	fingerprint string // of the staff certificate, as web.Fingerprint gives it
}

// teller plays a story against running nodes.
type teller struct {
	nodes    []storyNode
	password string       // the demo account's
	say      func(string) // one line of the demo's output
	public   *http.Client
	staff    []*staffSession         // per node, once logged in
	reports  []map[string]reportMade // per node: by the key of the beat that made it
}

// reportMade is a report the story made, for staff to triage.
type reportMade struct {
	id, category, urgency string
}

// staffSession is the demo account logged in at one node.
type staffSession struct {
	client *http.Client
	csrf   string
}

func newTeller(nodes []storyNode, password string, say func(string)) *teller {
	t := &teller{nodes: nodes, password: password, say: say,
		public: &http.Client{Timeout: 10 * time.Second},
		staff:  make([]*staffSession, len(nodes)), reports: make([]map[string]reportMade, len(nodes))}
	for i := range t.reports {
		t.reports[i] = map[string]reportMade{}
	}
	return t
}

// tell plays beats in order, each once wait(ctx, its time) returns true,
// and logs out of every node at the end. It stops when ctx ends.
func (t *teller) tell(ctx context.Context, beats []beat, wait func(context.Context, time.Duration) bool) {
	defer t.logout()
	if len(t.nodes) == 0 {
		return
	}
	for _, b := range beats {
		if !wait(ctx, b.at) {
			return
		}
		i := b.node % len(t.nodes)
		n := t.nodes[i]
		if err := t.play(ctx, i, b); err != nil {
			if ctx.Err() != nil {
				return
			}
			t.say(n.id + ": " + err.Error())
		}
	}
}

// sleepUntil is tell's wait in the demo: until start+at on the wall clock.
func sleepUntil(start time.Time) func(context.Context, time.Duration) bool {
	return func(ctx context.Context, at time.Duration) bool {
		timer := time.NewTimer(time.Until(start.Add(at)))
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
}

// play does one beat at node i and says what happened.
func (t *teller) play(ctx context.Context, i int, b beat) error {
	n := t.nodes[i]
	switch {
	case b.report != nil:
		var created api.Created
		if err := postJSON(ctx, t.public, n.public+"/api/reports", "", b.report, &created); err != nil {
			return fmt.Errorf("a resident's report failed: %w", err)
		}
		if b.key != "" {
			t.reports[i][b.key] = reportMade{created.ID, b.report.Category, b.report.Urgency}
		}
		t.say(fmt.Sprintf("%s: a resident reports a need: %s, urgency %s (receipt %s)",
			n.id, b.report.Category, b.report.Urgency, created.Receipt))
	case b.checkIn != nil:
		var created api.Created
		if err := postJSON(ctx, t.public, n.public+"/api/checkins", "", b.checkIn, &created); err != nil {
			return fmt.Errorf("a check-in failed: %w", err)
		}
		what := "safe"
		if b.checkIn.Status == "needs_help" {
			what = "needs help (" + b.checkIn.Need + ")"
		}
		t.say(fmt.Sprintf("%s: a household of %d checks in: %s", n.id, b.checkIn.Size, what))
	case b.triage != nil:
		r, ok := t.reports[i][b.triage.key]
		if !ok {
			return fmt.Errorf("staff have no report %q to triage (its report failed)", b.triage.key)
		}
		s, err := t.login(ctx, i)
		if err != nil {
			return err
		}
		path := n.staff + "/api/staff/reports/" + url.PathEscape(r.id)
		if err := postJSON(ctx, s.client, path+"/status", s.csrf, board.ReportAction{Status: b.triage.status}, nil); err != nil {
			return fmt.Errorf("staff could not set a need's status: %w", err)
		}
		line := fmt.Sprintf("%s: staff set the %s need (%s) to %s", n.id, r.category, r.urgency, b.triage.status)
		if b.triage.assignee != "" {
			if err := postJSON(ctx, s.client, path+"/assign", s.csrf, board.ReportAction{Assignee: b.triage.assignee}, nil); err != nil {
				return fmt.Errorf("staff could not assign a need: %w", err)
			}
			line += ", given to " + b.triage.assignee
		}
		t.say(line)
	case b.stock != nil:
		s, err := t.login(ctx, i)
		if err != nil {
			return err
		}
		if err := postJSON(ctx, s.client, n.staff+"/api/staff/inventory", s.csrf, b.stock, nil); err != nil {
			return fmt.Errorf("staff could not count %s: %w", b.stock.Item, err)
		}
		line := fmt.Sprintf("%s: staff count %s: %g %s", n.id, b.stock.Item, b.stock.Quantity, b.stock.Unit)
		if b.stock.Quantity <= b.stock.Low {
			line += fmt.Sprintf(", at or below its low mark of %g", b.stock.Low)
		}
		t.say(line)
	}
	return nil
}

// login logs the demo account in at node i, once.
func (t *teller) login(ctx context.Context, i int) (*staffSession, error) {
	if s := t.staff[i]; s != nil {
		return s, nil
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 10 * time.Second, Jar: jar,
		Transport: &http.Transport{TLSClientConfig: pinned(t.nodes[i].fingerprint)},
		// The staff API answers; a redirect would mean the wrong port.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp web.LoginResponse
	if err := postJSON(ctx, c, t.nodes[i].staff+"/api/login", "", web.LoginRequest{Name: User, Password: t.password}, &resp); err != nil {
		c.CloseIdleConnections()
		return nil, fmt.Errorf("staff could not log in: %w", err)
	}
	t.staff[i] = &staffSession{client: c, csrf: resp.CSRF}
	return t.staff[i], nil
}

// logout ends the story's staff sessions, so that the board lists no
// login left behind.
func (t *teller) logout() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, s := range t.staff {
		if s == nil {
			continue
		}
		postJSON(ctx, s.client, t.nodes[i].staff+"/logout", s.csrf, struct{}{}, nil) // a node gone ends it anyway
		s.client.CloseIdleConnections()
		t.staff[i] = nil
	}
	t.public.CloseIdleConnections()
}

// pinned trusts exactly the certificate whose fingerprint is given: each
// node makes its own, self-signed, and the demo read its fingerprint when
// it prepared the node's data directory.
func pinned(fingerprint string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // no chain to verify: VerifyConnection checks the fingerprint
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || web.Fingerprint(cs.PeerCertificates[0].Raw) != fingerprint {
				return errors.New("demo: the node's certificate is not the one it made")
			}
			return nil
		},
	}
}

// postJSON posts body as JSON, with the CSRF token when one is given, and
// reads a 2xx answer into out (nil: none wanted). Another answer is an
// error with the status and the API's error message.
func postJSON(ctx context.Context, c *http.Client, url, csrf string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		return fmt.Errorf("%s: %s %s", req.URL.Path, resp.Status, strings.TrimSpace(e.Error))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return json.Unmarshal(data, out)
}
