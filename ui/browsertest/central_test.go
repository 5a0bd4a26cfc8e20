package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/office"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// linkedNode is the point in TestCentralPage that runs: the safepoint
// binary with its link to central's broker.
const linkedNode = "byhuset-a"

// TestCentralPage drives central's staff page as the municipality's staff
// would, with JavaScript off: a real central.Receiver on a real mosquitto,
// three registered points of which one is the safepoint binary with its
// link up. The admin logs in, sends an announcement with the form, finds
// it in "Skickat", follows it to "visad" at the linked point, sends an
// exercise activation, and the linked point's portal then shows the
// exercise banner. Both pages: no serious or critical axe finding but the
// known one (knownRefresh, logged), every control reached with Tab and
// named. With -update-screenshots it writes docs/screenshots/central.png.
func TestCentralPage(t *testing.T) {
	needPeer(t, "axe-core", axePath)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	mq := synctest.StartMosquitto(t)
	clog := synctest.OpenLog(t, filepath.Join(t.TempDir(), "central"), wire.Central, nil)
	recv := synctest.RunCentral(t, ctx, central.Opts{Broker: mq.URL(), Log: clog})
	for _, n := range [][2]string{{linkedNode, "2161"}, {"macken-b", "2161"}, {"skolan-c", "0180"}} {
		if err := recv.Register(ctx, n[0], n[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := webtest.Accounts(t, clog).Add(ctx, adminName, accounts.RoleAdmin, adminPass); err != nil {
		t.Fatal(err)
	}
	// Central's staff pages as `safepoint central` serves them: over TLS.
	logger := synctest.Logger(t, "central ui")
	site := web.New(web.Options{Accounts: webtest.Accounts(t, clog), Logger: logger, StaffTLS: true})
	handler := site.Handler(office.New(site, office.Options{Clock: clog.Clock(), Logger: logger, Downlink: recv, Nodes: recv.Nodes,
		Picture: synctest.PictureOf(clog), Append: clog.Append}))
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // Chromium's first look at the test certificate
	srv.StartTLS()
	t.Cleanup(site.Close)
	t.Cleanup(srv.Close)

	// The point with a link: the binary, on municipality 2161 (startNode's).
	pt, err := startNodeWith(t.TempDir(), nil, "--id", linkedNode, "--mqtt", mq.URL())
	if err != nil {
		t.Fatalf("starting the linked point: %v", err)
	}
	t.Cleanup(pt.stop)

	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{noScript: true, ignoreCert: true})
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// Logging in: the page sends to the login and back.
	tb.open(t, srv.URL+"/central", 200)
	if u := tb.location(t); u.Path != "/login" || u.Query().Get("next") != "/central" {
		t.Fatalf("/central without a session shows %s, want the login with next=/central", u)
	}
	if err := chromedp.Do(tb.ctx,
		chromedp.SendKeys(chromedp.ID("name"), adminName),
		chromedp.SendKeys(chromedp.ID("password"), adminPass),
	); err != nil {
		t.Fatal(err)
	}
	if resp := tb.submit(t, "form"); resp.Status != 200 || tb.location(t).Path != "/central" {
		t.Fatalf("after logging in: status %d at %s, want /central", resp.Status, tb.location(t))
	}
	// One script makes the page live (off in this tab); the page is whole without it.
	if srcs := eval[[]string](t, tb, `Array.from(document.scripts, s => s.getAttribute("src"))`); len(srcs) != 1 || srcs[0] != "/static/central.js" {
		t.Errorf("central's page has the scripts %q, want central.js alone", srcs)
	}
	rows := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#nodes tbody tr"), r => r.innerText)`)
	if len(rows) != 3 {
		t.Fatalf("the nodes table has %d rows, want 3: %q", len(rows), rows)
	}

	// The linked point comes online (the page has no script: reload it).
	reloadUntil(t, tb, srv.URL+"/central", "the linked point online",
		fmt.Sprintf(`Array.from(document.querySelectorAll("#nodes tr.n-online"), r => r.innerText).some(s => s.includes(%s))`, jsString(linkedNode)),
		15*time.Second)
	if got := tb.text(t, "#nodes .h-count"); !strings.HasPrefix(got, "1 av 3") {
		t.Errorf("the nodes' count says %q, want 1 av 3", got)
	}

	// The announcement form, filled and sent like a person does.
	title := "Vatten delas ut vid skolan"
	if err := chromedp.Do(tb.ctx,
		chromedp.SetValue(chromedp.ID("a-target"), "municipality:2161"),
		chromedp.SendKeys(chromedp.ID("title_sv"), title),
		chromedp.SendKeys(chromedp.ID("body_sv"), "Kl. 14–16 vid skolans entré. Ta med egna dunkar."),
		chromedp.SendKeys(chromedp.ID("title_en"), "Water at the school"),
		chromedp.SendKeys(chromedp.ID("body_en"), "2–4 pm at the school's entrance. Bring your own cans."),
		chromedp.SetValue(chromedp.ID("severity"), "warning"),
	); err != nil {
		t.Fatalf("filling the announcement form: %v", err)
	}
	resp := tb.submit(t, "#announce form")
	if u := tb.location(t); resp.Status != 200 || u.Path != "/central" || u.Query().Get("sent") == "" {
		t.Fatalf("after sending: status %d at %s, want /central?sent=ID (after the 303)", resp.Status, u)
	}
	if got := tb.text(t, "p.notice[role=status]"); !strings.Contains(got, "Skickat till 2 trygghetspunkt") {
		t.Errorf("the notice says %q, want Skickat till 2 trygghetspunkt(er)", got)
	}
	first := tb.text(t, "#sent tbody tr:first-child")
	for _, want := range []string{"Meddelande", "Kommun 2161", title, adminName, "/2"} {
		if !strings.Contains(first, want) {
			t.Errorf("Skickat's first row lacks %q: %q", want, first)
		}
	}

	// Its page: köad at the point without a link, visad at the linked one.
	if code, where := clickNav(t, tb, "#sent tbody tr:first-child td:nth-child(4) a"); code != 200 || !strings.Contains(where, "/central/directives/") {
		t.Fatalf("the directive's link: status %d at %s", code, where)
	}
	detail := tb.location(t).String()
	facts := tb.text(t, ".d-facts")
	for _, want := range []string{title, "Water at the school", "Kl. 14–16 vid skolans entré", "Varning", "Kommun 2161", adminName} {
		if !strings.Contains(facts, want) {
			t.Errorf("the directive's page lacks %q:\n%s", want, facts)
		}
	}
	reloadUntil(t, tb, detail, "visad at the linked point",
		fmt.Sprintf(`!!document.querySelector("tr.ds-shown") && document.querySelector("tr.ds-shown").innerText.includes(%s)`, jsString(linkedNode)),
		15*time.Second)
	states := eval[map[string]string](t, tb, `Object.fromEntries(Array.from(document.querySelectorAll("#deliveries tbody tr"),
		r => [r.cells[0].innerText, r.cells[2].innerText]))`)
	if len(states) != 2 || !strings.HasPrefix(states[linkedNode], "visad") || !strings.HasPrefix(states["macken-b"], "köad") {
		t.Errorf("per point: %q, want %s visad and macken-b köad (skolan-c is in 0180)", states, linkedNode)
	}
	keyboardNames(t, tb, "the directive's page")
	axeScriptOn(t, tb, "the directive's page", knownRefresh)

	// The linked point's staff board is open, live, with JavaScript, while
	// central activates: it shows the exercise without a reload.
	bt := newTab(t, browser, tabOptions{ignoreCert: true})
	loginBoard(t, bt, pt)
	waitFor(t, bt, "the point's live board", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
	eval[bool](t, bt, `(window.__marker = 1) === 1`)
	if !eval[bool](t, bt, `document.getElementById("activation-note").hidden`) {
		t.Error("the board shows an activation before any")
	}

	// Back, and the activation form: an exercise, everywhere.
	if code, where := clickNav(t, tb, `nav.tools a[href="/central"]`); code != 200 || !strings.HasSuffix(where, "/central") {
		t.Fatalf("back: status %d at %s", code, where)
	}
	note := "Övning hela dagen, inget skarpt läge"
	if err := chromedp.Do(tb.ctx,
		chromedp.SetValue(chromedp.ID("act-target"), "all"),
		chromedp.Click(chromedp.CSS(`input[name=state][value=exercise]`)),
		chromedp.SendKeys(chromedp.ID("act-note"), note),
	); err != nil {
		t.Fatalf("filling the activation form: %v", err)
	}
	resp = tb.submit(t, "#activation form")
	if u := tb.location(t); resp.Status != 200 || u.Path != "/central" || u.Query().Get("sent") == "" {
		t.Fatalf("after activating: status %d at %s, want /central?sent=ID", resp.Status, u)
	}
	if got := tb.text(t, "p.notice[role=status]"); !strings.Contains(got, "Skickat till 3 trygghetspunkt") {
		t.Errorf("the notice says %q, want Skickat till 3 trygghetspunkt(er)", got)
	}
	sent := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#sent tbody tr"), r => r.innerText)`)
	if len(sent) != 2 {
		t.Fatalf("Skickat has %d rows, want 2: %q", len(sent), sent)
	}
	for _, want := range []string{"Aktivering", "Alla", "övning / exercise · " + note} {
		if !strings.Contains(sent[0], want) {
			t.Errorf("Skickat's activation row lacks %q: %q", want, sent[0])
		}
	}
	if !strings.Contains(sent[1], title) || !strings.Contains(sent[1], "1/2") {
		t.Errorf("Skickat's announcement row: %q, want %q shown at 1/2", sent[1], title)
	}
	keyboardNames(t, tb, "/central")
	axeScriptOn(t, tb, "/central", knownRefresh)

	took := waitFor(t, bt, "the exercise on the open board", `(() => { const a = document.getElementById("activation-note");
		return !a.hidden && a.querySelector("p.activation-exercise") !== null && a.innerText.includes("ÖVNING") })()`, 15*time.Second)
	t.Logf("the exercise on the point's open board: waited %v more after central's checks", took.Round(time.Millisecond))
	if !eval[bool](t, bt, `window.__marker === 1`) {
		t.Error("the board reloaded to show the activation")
	}

	// The linked point took the exercise: its portal says so.
	reloadUntil(t, tb, pt.base+"/?lang=sv", "the exercise banner at the linked point",
		fmt.Sprintf(`(document.querySelector("p.activation-exercise") || {}).innerText === %s`, jsString(T("sv", "activation.exercise"))),
		15*time.Second)
	if got := eval[string](t, tb, `document.title`); !strings.HasPrefix(got, T("sv", "activation.exercise.short")+" · ") {
		t.Errorf("the linked point's title is %q, want it to start with ÖVNING", got)
	}

	// The page as staff see it, for docs/screenshots.
	tb.open(t, srv.URL+"/central", 200)
	h := eval[int](t, tb, `document.documentElement.scrollHeight`)
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, int64(h))); err != nil {
		t.Fatal(err)
	}
	shot(t, tb, "central.png", 1280, h)
}

// knownRefresh: no finding is tolerated on central's pages (they once
// reloaded themselves with a meta refresh; now staff reload by a link).
var knownRefresh = map[string]string{}

// axeScriptOn runs axe-core on a page of a tab with JavaScript off, as it
// stands: axe needs the page's event loop, so scripts are on for the run
// (central.js, which the page's HTML loads, stays not run: the page is
// not loaded again) and off again after it.
func axeScriptOn(t *testing.T, tb *tab, where string, known map[string]string) {
	t.Helper()
	setScript := func(off bool) {
		t.Helper()
		if _, err := chromedp.Call(tb.ctx, emulation.SetScriptExecutionDisabled,
			emulation.SetScriptExecutionDisabledParams{Value: off}); err != nil {
			t.Fatalf("%s: JavaScript off=%v: %v", where, off, err)
		}
	}
	setScript(false)
	defer setScript(true)
	runAxe(t, tb, where, known)
}

// runAxe runs axe-core on the page: no serious or critical violation, but
// for a known one (rule → the only element it may be found at).
func runAxe(t *testing.T, tb *tab, where string, known map[string]string) {
	t.Helper()
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tb.ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
		t.Fatalf("%s: injecting axe-core: %v", where, err)
	}
	found, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			nodes: v.nodes.map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", where, err)
	}
	bad := 0
	for _, v := range found {
		switch {
		case v.Impact != "serious" && v.Impact != "critical":
			t.Logf("%s: %s: %s (%s)", where, v.Impact, v.ID, v.Help)
		case known[v.ID] != "" && !slices.ContainsFunc(v.Nodes, func(n string) bool { return n != known[v.ID] }):
			t.Logf("%s: KNOWN %s violation %s (%s) at %s", where, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
		default:
			bad++
			t.Errorf("%s: %s violation %s (%s) at %s", where, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
		}
	}
	t.Logf("%s: axe: %d violation(s), %d serious or critical not known", where, len(found), bad)
}

// reloadUntil opens target until the JavaScript condition holds on it: for
// pages without script, which change only when loaded again.
func reloadUntil(t *testing.T, tb *tab, target, what, cond string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		tb.open(t, target, 200)
		if ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v (%s); the page says:\n%s", what, limit, cond, tb.text(t, "body"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// controlKey names an element the same way in the page's list of controls
// and at each Tab stop: a radio by its group, a button by its form.
const controlKey = `(e => !e || e === document.body || e === document.documentElement ? "" :
	e.type === "radio" ? "radio " + e.name :
	e.tagName === "BUTTON" ? "button " + (e.form ? e.form.getAttribute("action") : e.innerText) :
	e.tagName === "A" ? "a " + e.getAttribute("href") :
	e.tagName.toLowerCase() + " " + (e.id || e.name))`

// keyboardNames walks the page with the Tab key from its top, as a person
// without a mouse does, and wants every form control reached (one radio of
// a group is enough) and every stop named in the browser's accessibility
// tree: what a screen reader says there.
func keyboardNames(t *testing.T, tb *tab, where string) {
	t.Helper()
	controls := eval[[]string](t, tb, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button"))
		.filter(e => e.getClientRects().length > 0 && !e.disabled).map(`+controlKey+`)`)
	eval[bool](t, tb, `(document.activeElement && document.activeElement.blur && document.activeElement.blur(),
		window.scrollTo(0, 0), window.__kbSeen = new WeakSet(), window.__kbLast = null, true)`)
	reached := map[string]bool{}
	var stops []string
	for range 3*len(controls) + 40 {
		if err := chromedp.Do(tb.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatalf("%s: pressing Tab: %v", where, err)
		}
		// [its key, "same" for a date field's next part, "again" once around]
		at := eval[[]string](t, tb, `(e => { const k = (`+controlKey+`)(e);
			if (!k) return [k, ""];
			if (e === window.__kbLast) return [k, "same"];
			if (window.__kbSeen.has(e)) return [k, "again"];
			window.__kbSeen.add(e); window.__kbLast = e; return [k, ""] })(document.activeElement)`)
		if at[0] == "" || at[1] == "again" {
			break // out of the page, or around again
		}
		if at[1] == "same" {
			continue
		}
		reached[at[0]] = true
		name := focusedName(t, tb)
		stops = append(stops, at[0]+" = "+jsString(name))
		if strings.TrimSpace(name) == "" {
			t.Errorf("%s: Tab stop %s has no accessible name", where, at[0])
		}
	}
	for _, c := range controls {
		if !reached[c] {
			t.Errorf("%s: %s is not reached with Tab", where, c)
		}
	}
	if len(stops) < len(slices.Compact(slices.Sorted(slices.Values(controls)))) {
		t.Errorf("%s: %d Tab stops for %d controls", where, len(stops), len(controls))
	}
	t.Logf("%s: %d Tab stops: %s", where, len(stops), strings.Join(stops, "; "))
}

// focusedName is the accessible name Chromium computes for the focused
// element.
func focusedName(t *testing.T, tb *tab) string {
	t.Helper()
	obj, err := chromedp.Run(tb.ctx, chromedp.Evaluate[*runtime.RemoteObject](`document.activeElement`, chromedp.EvalObjectGroup("kb")))
	if err != nil || obj.ObjectID == "" {
		t.Fatalf("the focused element: %v", err)
	}
	defer chromedp.Call(tb.ctx, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: "kb"})
	fetch := false
	tree, err := chromedp.Call(tb.ctx, accessibility.GetPartialAXTree,
		accessibility.GetPartialAXTreeParams{ObjectID: obj.ObjectID, FetchRelatives: &fetch})
	if err != nil {
		t.Fatalf("the focused element's accessibility node: %v", err)
	}
	for _, n := range tree.Nodes {
		if n.Ignored || n.Name == nil {
			continue
		}
		var s string
		if json.Unmarshal(n.Name.Value, &s) == nil {
			return s
		}
	}
	return ""
}
