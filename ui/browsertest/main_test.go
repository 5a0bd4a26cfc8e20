// Package browsertest drives the real safepoint binary with a real headless
// Chromium: the resident portal without JavaScript, escaping, accessibility
// (axe-core), phone-width screenshots and page weight.
//
// It needs /usr/bin/chromium and, for the accessibility test, axe-core in
// node_modules here (scripts/peers.sh installs both). Without them the tests
// skip loudly, or fail when REQUIRE_PEERS=1.
package browsertest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/ui/web"
)

const (
	chromiumPath = "/usr/bin/chromium"
	axePath      = "node_modules/axe-core/axe.min.js"
	adminName    = "admin"
	adminPass    = "browsertest-admin-1"
	pointName    = "Byhuset Ramsjö"
)

// The XSS payloads: one closes nothing and opens a script, one breaks out
// of an attribute into an element with an inline handler.
const (
	xssScript = `<script>window.__xss=1;alert(1)</script>`
	xssAttr   = `"><img src=x onerror="window.__xss=2">`
)

// binPath is the binary TestMain builds.
var binPath string

// catalog is the resident pages' texts, for the expected strings.
var catalog *web.Catalog

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(&binPath, func() int { return run(m) }))
}

func run(m *testing.M) int {
	var err error
	if catalog, err = web.LoadCatalog(""); err != nil {
		fmt.Fprintln(os.Stderr, "browsertest: languages:", err)
		return 1
	}
	code := m.Run()
	shared.mu.Lock()
	if shared.n != nil {
		shared.n.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	shared.mu.Unlock()
	return code
}

// needPeer skips a test whose real peer (a program from a Debian package, an
// npm package) is missing, loudly, or fails it when REQUIRE_PEERS=1, as CI
// sets.
func needPeer(t testing.TB, name, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("REQUIRE_PEERS") == "1" {
		t.Fatalf("SKIP: %s not installed (%s), and REQUIRE_PEERS=1", name, path)
	}
	t.Skipf("SKIP: %s not installed (%s)", name, path)
}

// spNode is one running `safepoint node`.
type spNode struct {
	*proctest.Proc
	data  string
	base  string // http://127.0.0.1:PORT: residents
	staff string // https://127.0.0.1:PORT: staff

	resident *proctest.Client // a phone's: no cookies, no login

	mu    sync.Mutex
	admin *proctest.Client // logged in as the admin, once asked for
}

// startNode creates an admin account in a new data directory under dir,
// starts the node on it and waits for /healthz.
func startNode(dir string) (*spNode, error) { return startNodeWith(dir, nil) }

// startNodeWith is startNode with a step between creating the data
// directory and starting the node (prepare, when not nil), and more flags
// (a later flag wins over an earlier one).
func startNodeWith(dir string, prepare func(data string) error, flags ...string) (*spNode, error) {
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := proctest.Run(ctx, binPath, adminPass+"\n"+adminPass+"\n",
		"user", "add", "--data", data, "--name", adminName, "--role", "admin")
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("exit %d", r.Code)
	}
	if err != nil {
		return nil, fmt.Errorf("safepoint user add: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	if prepare != nil {
		if err := prepare(data); err != nil {
			return nil, fmt.Errorf("preparing the data directory: %w", err)
		}
	}

	n := &spNode{data: data, Proc: proctest.Command(binPath, nil, append([]string{"node", "--data", data,
		"--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--log-format", "json", "--municipality", "2161",
		"--name", pointName, "--post-rate", "0", "--power", "sim"}, flags...)...)}
	// The two listen addresses, from the JSON log; ready closes once both
	// are known, and nothing is written after.
	var httpAddr, httpsAddr string
	ready := make(chan struct{})
	n.Stderr.Line = func(line []byte) {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if ready == nil || json.Unmarshal(line, &rec) != nil || rec.Addr == "" {
			return
		}
		switch rec.Msg {
		case "Serving": // exactly: not "Serving staff over HTTPS"
			httpAddr = rec.Addr
		case "Serving staff over HTTPS":
			httpsAddr = rec.Addr
		}
		if httpAddr != "" && httpsAddr != "" {
			close(ready)
			ready = nil
		}
	}
	bothServing := ready
	if err := n.Start(); err != nil {
		return nil, err
	}
	select {
	case <-bothServing:
	case <-n.Done():
		return nil, fmt.Errorf("node exited before serving; log:\n%s", n.Stderr)
	case <-ctx.Done():
		n.stop()
		return nil, fmt.Errorf("node did not log both Serving lines; log:\n%s", n.Stderr)
	}
	n.base, n.staff = "http://"+httpAddr, "https://"+httpsAddr
	n.resident = &proctest.Client{Base: n.base, HTTP: &http.Client{Timeout: 10 * time.Second}}
	if err := proctest.WaitHealthy(ctx, n.base); err != nil {
		n.stop()
		return nil, fmt.Errorf("%v; log:\n%s", err, n.Stderr)
	}
	return n, nil
}

// stop kills the node and waits for it.
func (n *spNode) stop() { n.Kill(10 * time.Second) }

// shared is the node most tests use; TestMain stops it.
var shared struct {
	mu  sync.Mutex
	n   *spNode
	err error
	dir string
}

func sharedNode(t testing.TB) *spNode {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.n == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "safepoint-browsertest-node-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		shared.n, shared.err = startNode(dir)
	}
	if shared.err != nil {
		t.Fatalf("starting the node: %v", shared.err)
	}
	select {
	case <-shared.n.Done():
		t.Fatalf("the shared node has exited; log:\n%s", shared.n.Stderr)
	default:
	}
	return shared.n
}

// freshNode starts a node of the test's own, stopped at its end.
func freshNode(t testing.TB) *spNode {
	t.Helper()
	n, err := startNode(t.TempDir())
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(n.stop)
	return n
}

// staffClient logs in as the admin over HTTPS (the node's certificate is
// self-signed) and returns the session's client, which holds its CSRF
// token.
func (n *spNode) staffClient(t testing.TB) *proctest.Client {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.admin != nil {
		return n.admin
	}
	c := proctest.NewClient(n.staff, &tls.Config{InsecureSkipVerify: true})
	resp, b, err := c.Login(adminName, adminPass)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/login: %d %s", resp.StatusCode, b)
	}
	n.admin = c
	return c
}

// publish publishes an announcement through the staff API.
func (n *spNode) publish(t testing.TB, title, body map[string]string, severity string) {
	t.Helper()
	c := n.staffClient(t)
	b, _ := json.Marshal(map[string]any{"title": title, "body": body, "severity": severity})
	if code, resp := doJSON(t, c, http.MethodPost, "/api/staff/announcements", c.CSRF, b); code != http.StatusCreated {
		t.Fatalf("POST /api/staff/announcements: %d %s", code, resp)
	}
}

// apiCheckIn checks a household in through the public API and returns the
// receipt code.
func (n *spNode) apiCheckIn(t testing.TB) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"size": 2, "status": "safe", "need": "none"})
	code, resp := doJSON(t, n.resident, http.MethodPost, "/api/checkins", "", b)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/checkins: %d %s", code, resp)
	}
	var c struct {
		Receipt string `json:"receipt"`
	}
	if err := json.Unmarshal(resp, &c); err != nil || !receiptCode.MatchString(c.Receipt) {
		t.Fatalf("POST /api/checkins: answer %s: %v", resp, err)
	}
	return c.Receipt
}

// apiReport files a report through the public API and returns the receipt.
func (n *spNode) apiReport(t testing.TB, text, place string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"category": "other", "text": text, "place": place, "urgency": "normal"})
	code, resp := doJSON(t, n.resident, http.MethodPost, "/api/reports", "", b)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/reports: %d %s", code, resp)
	}
	var c struct {
		Receipt string `json:"receipt"`
	}
	if err := json.Unmarshal(resp, &c); err != nil || !receiptCode.MatchString(c.Receipt) {
		t.Fatalf("POST /api/reports: answer %s: %v", resp, err)
	}
	return c.Receipt
}

// doJSON sends body as JSON through c, with csrf as its token when not
// empty, and returns the status and the answer.
func doJSON(t testing.TB, c *proctest.Client, method, path, csrf string, body []byte) (int, []byte) {
	t.Helper()
	var header map[string]string
	if csrf != "" {
		header = map[string]string{"X-CSRF-Token": csrf}
	}
	resp, b, err := c.Do(method, path, string(body), header)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// dump runs `safepoint dump` on the node's data directory.
func (n *spNode) dump(t testing.TB) []proctest.Event {
	t.Helper()
	events := proctest.Dump(t, binPath, n.data)
	if len(events) == 0 {
		t.Fatal("safepoint dump printed no event (point.configured at least was expected)")
	}
	return events
}

// receiptCode is a receipt as the node makes them.
var receiptCode = regexp.MustCompile(`^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$`)

// receiptPath is the receipt page a form redirects to.
var receiptPath = regexp.MustCompile(`^/r/([23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8})$`)

// textPattern is a regular expression for a text with one placeholder
// (arg), which matches re.
func textPattern(lang, key, arg, re string) *regexp.Regexp {
	const mark = "\x00"
	before, after, _ := strings.Cut(T(lang, key, arg, mark), mark)
	return regexp.MustCompile(regexp.QuoteMeta(before) + re + regexp.QuoteMeta(after))
}

// T is a resident text in a language, as the node shows it.
func T(lang, key string, args ...any) string { return catalog.T(lang, key, args...) }

// newBrowser starts one headless Chromium for the test with exactly the
// flags we allow, in a fresh profile; it is closed when the test ends. The
// browser lives at most 3 minutes.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	needPeer(t, "chromium", chromiumPath)
	profile := t.TempDir()
	life, cancelLife := context.WithTimeout(context.Background(), 3*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(profile),
	)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	// Cleanups run last-registered first: the browser closes, the
	// allocator waits for the process, then t.TempDir goes.
	t.Cleanup(cancelLife)
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return browserCtx
}

// tabOptions say how a tab behaves.
type tabOptions struct {
	noScript   bool   // JavaScript off, as Emulation.setScriptExecutionDisabled
	acceptLang string // Accept-Language header, "" for the browser's own
	ignoreCert bool   // accept the node's self-signed staff certificate
	timeout    time.Duration
}

// tab is a browser tab in a browser context of its own (its own cookies and
// cache), with what it saw.
type tab struct {
	ctx context.Context // bounded by the options' timeout

	mu       sync.Mutex
	requests []string // URLs of the requests it sent
	dialogs  []string // messages of the JavaScript dialogs it dismissed
}

func newTab(t *testing.T, browser context.Context, o tabOptions) *tab {
	t.Helper()
	tabCtx, cancelTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tabCtx); err != nil { // opens the tab; bounded by the browser's life
		t.Fatalf("opening a tab: %v", err)
	}
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(tabCtx, o.timeout)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			tb.mu.Lock()
			tb.requests = append(tb.requests, ev.Request.URL)
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Dialogs block the page: record each and dismiss it from here.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, string(ev.Type)+": "+ev.Message)
			tb.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	if o.noScript {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
			emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("turning JavaScript off: %v", err)
		}
	}
	if o.acceptLang != "" {
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": o.acceptLang}}); err != nil {
			t.Fatalf("setting Accept-Language: %v", err)
		}
	}
	if o.ignoreCert {
		if _, err := chromedp.Call(ctx, security.SetIgnoreCertificateErrors,
			security.SetIgnoreCertificateErrorsParams{Ignore: true}); err != nil {
			t.Fatalf("accepting the self-signed certificate: %v", err)
		}
	}
	return tb
}

// requested reports whether the tab sent a request whose path is p.
func (tb *tab) requested(p string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, raw := range tb.requests {
		if u, err := url.Parse(raw); err == nil && u.Path == p {
			return true
		}
	}
	return false
}

func (tb *tab) dialogList() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

// open navigates and fails the test unless the page answers want.
func (tb *tab) open(t *testing.T, target string, want int) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(target))
	if err != nil {
		t.Fatalf("open %s: %v", target, err)
	}
	if resp.Status != int64(want) {
		t.Fatalf("open %s: status %d, want %d", target, resp.Status, want)
	}
	return resp
}

// submit clicks a form's submit button like a person and waits for the page
// the post leads to; it returns that page's response.
func (tb *tab) submit(t *testing.T, form string) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	if err != nil {
		t.Fatalf("submitting %s: %v", form, err)
	}
	return resp
}

// eval evaluates JavaScript through DevTools (it works with the page's
// scripts off, and the page's CSP does not apply to it).
func eval[T any](t *testing.T, tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text is the rendered text (innerText) of the first element sel matches.
func (tb *tab) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// location is the tab's URL, parsed.
func (tb *tab) location(t *testing.T) *url.URL {
	t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("location %q: %v", s, err)
	}
	return u
}

func (tb *tab) htmlLang(t *testing.T) string {
	t.Helper()
	return eval[string](t, tb, `document.documentElement.lang`)
}

// injected lists what a payload that escaped its text would have added to
// the page: scripts other than the page's own, images, inline handlers.
func (tb *tab) injected(t *testing.T) []string {
	t.Helper()
	return eval[[]string](t, tb, `Array.from(document.querySelectorAll("script, img, [onerror], [onload], [onclick]"))
		.filter(e => !(e.tagName === "SCRIPT" && e.getAttribute("src") === "/static/portal.js"))
		.map(e => e.outerHTML.slice(0, 80))`)
}

// noInjectedMarkup fails the test when the page holds injected markup.
func (tb *tab) noInjectedMarkup(t *testing.T, where string) {
	t.Helper()
	if found := tb.injected(t); len(found) > 0 {
		t.Errorf("%s: markup from the payload became elements: %q", where, found)
	}
}
