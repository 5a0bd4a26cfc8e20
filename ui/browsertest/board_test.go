package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The staff board on a tablet: live over its websocket with JavaScript,
// complete with plain forms without it, and its one-page printout.

// created is what a submission answers.
type created struct {
	ID        string `json:"id"`
	Receipt   string `json:"receipt"`
	Household string `json:"household"`
}

// residentReport files a report through the resident API.
func (n *spNode) residentReport(t testing.TB, category, urgency, text, place string) created {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"category": category, "urgency": urgency, "text": text, "place": place})
	code, resp := doJSON(t, n.resident, http.MethodPost, "/api/reports", "", b)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/reports: %d %s", code, resp)
	}
	var c created
	if err := json.Unmarshal(resp, &c); err != nil || c.ID == "" || !receiptCode.MatchString(c.Receipt) {
		t.Fatalf("POST /api/reports: answer %s: %v", resp, err)
	}
	return c
}

// staffPost posts JSON to a staff API route and wants 201.
func (n *spNode) staffPost(t testing.TB, path string, body any) created {
	t.Helper()
	c := n.staffClient(t)
	b, _ := json.Marshal(body)
	code, resp := doJSON(t, c, http.MethodPost, path, c.CSRF, b)
	if code != http.StatusCreated {
		t.Fatalf("POST %s %s: %d %s", path, b, code, resp)
	}
	var out created
	json.Unmarshal(resp, &out)
	return out
}

// loginBoard logs in as the admin through the /login form and lands on
// the board.
func loginBoard(t *testing.T, tb *tab, n *spNode) { loginBoardAs(t, tb, n, adminName, adminPass) }

func loginBoardAs(t *testing.T, tb *tab, n *spNode, name, password string) {
	t.Helper()
	tb.open(t, n.staff+"/login", 200)
	if err := chromedp.Do(tb.ctx,
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
	); err != nil {
		t.Fatal(err)
	}
	resp := tb.submit(t, "form")
	if u := tb.location(t); resp.Status != 200 || u.Path != "/board" {
		t.Fatalf("after logging in: status %d at %s, want the board", resp.Status, u)
	}
}

// waitFor polls a JavaScript condition until it holds, or fails the test.
func waitFor(t *testing.T, tb *tab, what, cond string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v (%s; last error %v); the board says:\n%s", what, limit, cond, err, tb.text(t, "body"))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// click clicks an element like a person, without waiting for a page.
func click(t *testing.T, tb *tab, sel string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
}

// clickNav clicks an element and waits for the page it leads to.
func clickNav(t *testing.T, tb *tab, sel string) (int64, string) {
	t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	return resp.Status, tb.location(t).String()
}

// scriptErrors collects the page's uncaught exceptions and console errors.
func scriptErrors(t *testing.T, tb *tab) func() []string {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	if err := chromedp.Listen(tb.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			errs = append(errs, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == "error" {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				errs = append(errs, "console.error: "+strings.Join(args, " "))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// rowSel is the queue's row of a report.
func rowSel(id string) string { return fmt.Sprintf(`#queue > li[data-key=%q]`, id) }

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wsSpy wraps the page's WebSocket before any script of the page runs: it
// records what the page sends (window.__sent) and drops the next delta
// when window.__dropDelta is set, as a lost message would.
const wsSpy = `(() => {
	const Real = window.WebSocket, set = Object.getOwnPropertyDescriptor(Real.prototype, "onmessage").set;
	window.__sent = [];
	window.WebSocket = function (url, protocols) {
		const ws = new Real(url, protocols), send = ws.send.bind(ws);
		ws.send = d => { window.__sent.push(String(d)); send(d); };
		Object.defineProperty(ws, "onmessage", { set(fn) {
			set.call(ws, e => {
				if (window.__dropDelta && JSON.parse(e.data).type === "delta") { window.__dropDelta = false; window.__dropped = JSON.parse(e.data).seq; return; }
				fn(e);
			});
		} });
		return ws;
	};
	window.WebSocket.prototype = Real.prototype;
})()`

// TestBoardLive has JavaScript on: a report filed by a resident appears on
// the open board within seconds without a reload, the board's buttons
// acknowledge and resolve it, and the resident's receipt shows it done.
func TestBoardLive(t *testing.T) {
	n := freshNode(t)
	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{ignoreCert: true})
	errs := scriptErrors(t, tb)
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: wsSpy}); err != nil {
		t.Fatal(err)
	}
	loginBoard(t, tb, n)
	waitFor(t, tb, "the live connection", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
	eval[bool](t, tb, `(window.__marker = 1) === 1`)
	stillHere := func(where string) {
		t.Helper()
		if v := eval[bool](t, tb, `window.__marker === 1`); !v {
			t.Fatalf("%s: window.__marker is gone: the page was reloaded or left", where)
		}
	}

	// The text carries markup: the row cloned for it must show it as text.
	text := fmt.Sprintf("Dricksvatten behövs på Ekbacken %d %s %s", time.Now().UnixNano(), xssScript, xssAttr)
	rep := n.residentReport(t, "supplies", "high", text, xssAttr)
	row := rowSel(rep.ID)
	took := waitFor(t, tb, "the new report on the open board",
		fmt.Sprintf(`(() => { const li = document.querySelector(%s); return !!li && li.innerText.includes(%s) })()`, jsString(row), jsString(text)),
		5*time.Second)
	t.Logf("the report was on the board %v after the resident's POST", took.Round(time.Millisecond))
	stillHere("after the report came")
	if v := eval[string](t, tb, `String(window.__xss)`); v != "undefined" {
		t.Errorf("window.__xss = %s: markup in a report ran", v)
	}
	if n := eval[int](t, tb, `document.querySelectorAll("main img, main script, main [onerror]").length`); n != 0 {
		t.Errorf("the report's markup became %d element(s)", n)
	}
	if got := tb.text(t, row+" [data-k=receipt]"); got != rep.Receipt {
		t.Errorf("the row shows receipt %q, want %q", got, rep.Receipt)
	}
	if got := tb.text(t, "#queue-count"); got != "1" {
		t.Errorf("the queue counts %q, want 1", got)
	}

	status := func(want string) string {
		return fmt.Sprintf(`(() => { const s = document.querySelector(%s); return !!s && s.innerText.startsWith(%s) })()`,
			jsString(row+" [data-k=status]"), jsString(want))
	}
	click(t, tb, row+` button[value=acknowledged]:not([hidden])`)
	waitFor(t, tb, "acknowledged on the board", status("Kvitterad"), 5*time.Second)
	if eval[bool](t, tb, fmt.Sprintf(`!document.querySelector(%s).hidden`, jsString(row+` button[data-show=new]`))) {
		t.Error("an acknowledged report still offers Kvittera")
	}
	click(t, tb, row+` button[value=resolved]:not([hidden])`)
	waitFor(t, tb, "the resolved report leaves the open queue", fmt.Sprintf(`!document.querySelector(%s)`, jsString(row)), 5*time.Second)
	if ok := eval[bool](t, tb, `!document.getElementById("queue-empty").hidden`); !ok {
		t.Error(`an empty queue does not say "Inga ärenden att visa"`)
	}
	stillHere("after acknowledging and resolving")

	// The filter works in place, and the address keeps it.
	eval[bool](t, tb, `(() => { const s = document.getElementById("f-status"); s.value = "all"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	waitFor(t, tb, "the resolved report under the filter all", status("Klar"), 2*time.Second)
	if q := eval[string](t, tb, `location.search`); q != "?status=all" {
		t.Errorf("after filtering: the address's query is %q, want ?status=all", q)
	}
	stillHere("after filtering")

	// A lost delta: the next one shows a gap, the board asks for a
	// snapshot and shows both changes.
	eval[bool](t, tb, `(window.__dropDelta = true)`)
	lostOne := n.residentReport(t, "road", "normal", "Stängt grindhål vid skolan", "Skolan")
	waitFor(t, tb, "the delta dropped", `window.__dropped > 0`, 5*time.Second)
	if eval[bool](t, tb, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(rowSel(lostOne.ID)))) {
		t.Fatal("the dropped delta's report is on the board: the spy did not drop it")
	}
	next := n.residentReport(t, "water", "normal", "Vattnet brunt i Ekbacken", "Ekbacken")
	waitFor(t, tb, "both reports after the resync", fmt.Sprintf(`!!document.querySelector(%s) && !!document.querySelector(%s)`,
		jsString(rowSel(lostOne.ID)), jsString(rowSel(next.ID))), 5*time.Second)
	if sent := eval[[]string](t, tb, `window.__sent`); !slices.Contains(sent, `{"type":"resync"}`) {
		t.Errorf("the board sent %q after a gap, want a resync", sent)
	}
	stillHere("after the resync")

	// Both changes are events by the logged-in staff member.
	var seen []string
	for _, e := range n.dump(t) {
		if e.Type == "report.status_changed" && e.Payload["id"] == rep.ID {
			seen = append(seen, fmt.Sprint(e.Payload["status"], " by ", e.Payload["by"]))
		}
	}
	if strings.Join(seen, ", ") != "acknowledged by admin, resolved by admin" {
		t.Errorf("status events %q, want acknowledged and resolved by admin", seen)
	}

	// The resident's receipt says it is done.
	rt := newTab(t, browser, tabOptions{acceptLang: "sv"})
	rt.open(t, n.base+"/r/"+rep.Receipt, 200)
	if got, want := rt.text(t, "main"), T("sv", "rstatus.resolved"); !strings.Contains(got, want) {
		t.Errorf("the receipt page does not say %q:\n%s", want, got)
	}

	// A check-in with personal data: the details only on request.
	name, contact := fmt.Sprintf("Elsa Lind %d", time.Now().UnixNano()%1e6), "070-123 45 67"
	ci := n.staffPost(t, "/api/staff/checkins", map[string]any{"size": 2, "status": "needs_help", "need": "medical",
		"name": name, "contact": contact, "details": "Insulin i kylskåp"})
	ciRow := fmt.Sprintf(`#checkin-list > li[data-key=%q]`, ci.Household)
	waitFor(t, tb, "the check-in on the board", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(ciRow)), 5*time.Second)
	if strings.Contains(tb.text(t, "#checkins"), name) {
		t.Error("the check-in's name is on the board before anyone asked for it")
	}
	click(t, tb, ciRow+" .personal-btn")
	waitFor(t, tb, "the personal details", fmt.Sprintf(`(() => { const d = document.querySelector(%s); return !!d && !d.hidden && d.innerText.includes(%s) })()`,
		jsString(ciRow+" dl.personal"), jsString(name)), 5*time.Second)
	click(t, tb, ciRow+" .personal-btn")
	waitFor(t, tb, "the details hidden again", fmt.Sprintf(`document.querySelector(%s).hidden`, jsString(ciRow+" dl.personal")), 2*time.Second)

	// A form posted in place: the journal.
	entry := fmt.Sprintf("Generator startad, 40 liter diesel %d", time.Now().UnixNano())
	if err := chromedp.Do(tb.ctx, chromedp.SendKeys(chromedp.CSS("#j-text"), entry)); err != nil {
		t.Fatal(err)
	}
	click(t, tb, `#journal form button[type=submit]`)
	waitFor(t, tb, "the journal entry", fmt.Sprintf(`document.getElementById("journal-list").innerText.includes(%s)`, jsString(entry)), 5*time.Second)
	if v := eval[string](t, tb, `document.getElementById("j-text").value`); v != "" {
		t.Errorf("the journal form keeps %q after posting", v)
	}
	stillHere("after the journal entry")

	if e := errs(); len(e) > 0 {
		t.Errorf("the board's script failed: %q", e)
	}
	if d := tb.dialogList(); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}

	// A viewer sees the board without its forms and personal details.
	n.staffPost(t, "/api/staff/accounts", map[string]any{"name": "vera", "role": "viewer", "password": "vera-password-123"})
	vt := newTab(t, browser, tabOptions{ignoreCert: true})
	loginBoardAs(t, vt, n, "vera", "vera-password-123")
	waitFor(t, vt, "the viewer's live board", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
	if got := eval[int](t, vt, `document.querySelectorAll("main form[method=post], .personal-btn").length`); got != 0 {
		t.Errorf("a viewer's board has %d forms or detail buttons", got)
	}
	if !strings.Contains(vt.text(t, "#queue"), "Vattnet brunt") {
		t.Error("a viewer's board does not show the queue")
	}

	// The box goes away: the board says so.
	n.stop()
	waitFor(t, tb, "the offline indicator", `document.getElementById("live").dataset.state === "offline"`, 5*time.Second)
	if got := tb.text(t, "#live"); !strings.Contains(got, "frånkopplad") {
		t.Errorf("the indicator says %q, want frånkopplad", got)
	}
}

// TestBoardNoScript has JavaScript off: the board is complete as HTML, its
// forms post and come back to their panel, the filter works by query, and
// the printout renders.
func TestBoardNoScript(t *testing.T) {
	n := freshNode(t)
	text := fmt.Sprintf("Träd över vägen vid bron %d", time.Now().UnixNano())
	rep := n.residentReport(t, "road", "high", text, "Ramsjövägen")
	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{noScript: true, ignoreCert: true})
	errs := scriptErrors(t, tb)
	loginBoard(t, tb, n)
	row := rowSel(rep.ID)

	if !strings.Contains(tb.text(t, row), text) {
		t.Fatalf("the board without script does not show the report:\n%s", tb.text(t, "#reports"))
	}
	if eval[bool](t, tb, `document.documentElement.classList.contains("js")`) {
		t.Fatal("board.js ran in a tab where JavaScript is off")
	}
	if eval[bool](t, tb, `getComputedStyle(document.getElementById("live")).display !== "none"`) {
		t.Error("the live indicator shows without JavaScript")
	}
	if n := eval[int](t, tb, `document.querySelectorAll('noscript').length`); n == 0 || !strings.Contains(eval[string](t, tb, `document.head.innerHTML`), `http-equiv="refresh" content="60"`) {
		t.Error(`the board lacks <noscript><meta http-equiv="refresh" content="60"></noscript>`)
	}
	for _, id := range []string{"power", "link", "checkins", "reports", "inventory", "roster", "journal", "services", "announcements", "clock"} {
		if !eval[bool](t, tb, fmt.Sprintf(`!!document.getElementById(%q)`, id)) {
			t.Errorf("the board has no #%s", id)
		}
	}
	back := func(what string, status int64, loc, panel string) {
		t.Helper()
		if status != 200 || !strings.HasSuffix(loc, "/board#"+panel) {
			t.Fatalf("%s: status %d at %s, want 200 at /board#%s; page:\n%s", what, status, loc, panel, tb.text(t, "body"))
		}
	}

	// Acknowledge with the row's form.
	st, loc := clickNav(t, tb, row+` button[value=acknowledged]`)
	back("acknowledging", st, loc, "reports")
	if got := tb.text(t, row+" [data-k=status]"); !strings.HasPrefix(got, "Kvitterad") {
		t.Errorf("after acknowledging: status %q", got)
	}
	// Assign, and comment.
	if err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(row+" details.r-more summary")),
		chromedp.SendKeys(chromedp.CSS(row+` input[name=assignee]`), "logistik"),
	); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, row+` form[data-a=assign] button`)
	back("assigning", st, loc, "reports")
	if err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(row+" details.r-more summary")),
		chromedp.SendKeys(chromedp.CSS(row+` input[name=text]`), "Motorsåg på väg"),
	); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, row+` form[data-a=comments] button`)
	back("commenting", st, loc, "reports")
	if got := tb.text(t, row); !strings.Contains(got, "logistik") || !strings.Contains(got, "Motorsåg på väg") {
		t.Errorf("the row lacks the assignee or the comment:\n%s", got)
	}

	// The filter, by query.
	tb.open(t, n.staff+"/board?status=resolved", 200)
	if eval[bool](t, tb, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row))) || !eval[bool](t, tb, `!document.getElementById("queue-empty").hidden`) {
		t.Error("?status=resolved shows an acknowledged report")
	}
	tb.open(t, n.staff+"/board?status=acknowledged&urgency=high", 200)
	if !eval[bool](t, tb, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row))) {
		t.Error("?status=acknowledged&urgency=high does not show the report")
	}
	if got := eval[string](t, tb, `document.getElementById("f-status").value + " " + document.getElementById("f-urgency").value`); got != "acknowledged high" {
		t.Errorf("the filter's fields show %q, want the query's", got)
	}
	tb.open(t, n.staff+"/board?urgency=low", 200)
	if eval[bool](t, tb, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row))) {
		t.Error("?urgency=low shows a high report")
	}

	// A resident without a phone, from a paper record.
	tb.open(t, n.staff+"/board", 200)
	if err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(`#checkins details.add summary`)),
		chromedp.SetValue(chromedp.CSS("#ci-size"), "3"),
		chromedp.Click(chromedp.CSS(`#checkins input[name=status][value=needs_help]`)),
		chromedp.SetValue(chromedp.CSS("#ci-need"), "heat"),
		chromedp.SendKeys(chromedp.CSS("#ci-name"), "Gustav Ek"),
		chromedp.SetValue(chromedp.CSS("#ci-occurred"), time.Now().Add(-2*time.Hour).Format("2006-01-02T15:04")),
	); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, `#checkins form button[type=submit]`)
	back("checking in", st, loc, "checkins")
	help := tb.text(t, "#checkin-list > li.ci-needs_help")
	if !strings.Contains(help, "3 pers.") || !strings.Contains(help, "Värme") || !strings.Contains(help, "papper") {
		t.Errorf("the check-in is not first among those needing help, from paper:\n%s", help)
	}
	if strings.Contains(tb.text(t, "#checkins"), "Gustav Ek") {
		t.Error("the check-in's name is on the board")
	}

	// The journal, and a correction of it.
	entry := fmt.Sprintf("Stab upprättad %d", time.Now().UnixNano())
	if err := chromedp.Do(tb.ctx, chromedp.SendKeys(chromedp.CSS("#j-text"), entry)); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, `#journal form button[type=submit]`)
	back("writing in the journal", st, loc, "journal")
	first := eval[string](t, tb, `document.querySelector("#journal-list > li").dataset.key`)
	if err := chromedp.Do(tb.ctx,
		chromedp.SendKeys(chromedp.CSS("#j-text"), "Rättelse: stab upprättad 06:45"),
		chromedp.Click(chromedp.CSS(`#journal details.add summary`)),
		chromedp.SetValue(chromedp.CSS("#j-corrects"), first),
	); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, `#journal form button[type=submit]`)
	back("correcting the journal", st, loc, "journal")
	newest := tb.text(t, "#journal-list > li:first-child")
	if !strings.Contains(newest, "rättar") || !strings.Contains(newest, entry) {
		t.Errorf("the correction does not say what it corrects:\n%s", newest)
	}
	if got := tb.text(t, fmt.Sprintf(`#journal-list > li[data-key=%q]`, first)); !strings.Contains(got, "Rättad") {
		t.Errorf("the corrected entry does not say it was corrected:\n%s", got)
	}

	// The roster.
	if err := chromedp.Do(tb.ctx,
		chromedp.Click(chromedp.CSS(`#roster details.add summary`)),
		chromedp.SendKeys(chromedp.CSS("#ro-person"), "Karin Ek"),
		chromedp.SendKeys(chromedp.CSS("#ro-role"), "logistik"),
	); err != nil {
		t.Fatal(err)
	}
	st, loc = clickNav(t, tb, `#roster form button[type=submit]`)
	back("the roster", st, loc, "roster")
	if got := tb.text(t, `#roster-list > li[data-key="Karin Ek"]`); !strings.Contains(got, "logistik") || !strings.Contains(got, "I tjänst") {
		t.Errorf("the roster row: %q", got)
	}

	// A service's switch.
	st, loc = clickNav(t, tb, `#services li[data-key=water] button[value=limited]`)
	back("the water service", st, loc, "services")
	if got := eval[string](t, tb, `document.querySelector("#services li[data-key=water] button[value=limited]").getAttribute("aria-pressed")`); got != "true" {
		t.Errorf("water limited: aria-pressed %q", got)
	}

	// A refused form shows the board with the error, and its reload goes
	// to the board, not to the post's address.
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(`#checkins details.add summary`)),
		chromedp.SetValue(chromedp.CSS("#ci-household"), "!!")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`#checkins form button[type=submit]`)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 400 || !strings.Contains(tb.text(t, ".error[role=alert]"), "household") {
		t.Errorf("a bad household code: status %d, error %q", resp.Status, tb.text(t, "body"))
	}
	if !strings.Contains(eval[string](t, tb, `document.head.innerHTML`), `content="60; url=/board"`) {
		t.Error("the error page's reload would repeat the post's address")
	}

	// The printout.
	tb.open(t, n.staff+"/board/print", 200)
	printed := tb.text(t, "main")
	for _, want := range []string{"Lägesrapport", pointName, text, "Stab upprättad", "Certifikat SHA-256"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the printout lacks %q:\n%s", want, printed)
		}
	}
	if pages := printPages(t, tb); pages != 1 {
		t.Errorf("the printout is %d pages, want 1", pages)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("script errors: %q", e)
	}
}
