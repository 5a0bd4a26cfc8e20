package portal

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/node/nodetest"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, client *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func postForm(t *testing.T, client *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := client.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPortalPages(t *testing.T) {
	srv, _ := newTestServer(t, Options{}, nil)
	for _, path := range []string{"/", "/announcements", "/guidance", "/checkin", "/report", "/contact"} {
		for _, lang := range []string{"sv", "en", "sv-lattlast"} {
			resp, body := get(t, noRedirect, srv.URL+path+"?lang="+lang)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s %s: %d %s", path, lang, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			wantLang := lang
			if lang == "sv-lattlast" {
				wantLang = "sv"
			}
			if !strings.Contains(body, `<html lang="`+wantLang+`" dir="ltr">`) {
				t.Errorf("%s %s: no <html lang=%q>", path, lang, wantLang)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
				t.Errorf("%s %s: inline script or an external address in the page", path, lang)
			}
		}
	}
	resp, body := get(t, noRedirect, srv.URL+"/no/such/page")
	if resp.StatusCode != 404 || !strings.Contains(body, "Sidan finns inte") {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
}

func TestCaptivePortalProbes(t *testing.T) {
	probes := []string{"/generate_204", "/gen_204", "/hotspot-detect.html", "/library/test/success.html",
		"/connecttest.txt", "/ncsi.txt", "/success.txt", "/canonical.html"}
	t.Run("no portal host", func(t *testing.T) {
		srv, _ := newTestServer(t, Options{}, nil)
		for _, p := range probes {
			resp, _ := get(t, noRedirect, srv.URL+p)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
				t.Errorf("%s: %d %q, want 302 to /", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		if resp, _ := get(t, noRedirect, srv.URL+"/", "Host", "example.com"); resp.StatusCode != 200 {
			t.Errorf("any host without a portal host: %d", resp.StatusCode)
		}
	})
	t.Run("portal host", func(t *testing.T) {
		srv, _ := newTestServer(t, Options{PortalHost: "safepoint.lan"}, nil)
		for _, p := range probes {
			// The phone asks its vendor's host; the point's DNS sent it here.
			resp, _ := get(t, noRedirect, srv.URL+p, "Host", "connectivitycheck.gstatic.com")
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://safepoint.lan/" {
				t.Errorf("%s: %d %q", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		resp, _ := get(t, noRedirect, srv.URL+"/news/today", "Host", "www.example.se")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://safepoint.lan/" {
			t.Errorf("other host: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := get(t, noRedirect, srv.URL+"/", "Host", "SafePoint.lan:80"); resp.StatusCode != 200 {
			t.Errorf("the portal host itself: %d", resp.StatusCode)
		}
		if resp, _ := get(t, noRedirect, srv.URL+"/healthz", "Host", "10.0.0.1"); resp.StatusCode != 200 {
			t.Errorf("/healthz on another host: %d", resp.StatusCode)
		}
	})
	t.Run("staff HTTPS is not redirected", func(t *testing.T) {
		srv := webtest.Start(t, nil, true, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
			h, _ := serve(l, staff, Options{PortalHost: "safepoint.lan"})
			return h
		}).Srv
		client := srv.Client()
		client.CheckRedirect = noRedirect.CheckRedirect
		if resp, _ := get(t, client, srv.URL+"/login", "Host", "10.0.0.1:8443"); resp.StatusCode != 200 {
			t.Errorf("HTTPS /login on the box's address: %d", resp.StatusCode)
		}
	})
}

func TestLanguageChoice(t *testing.T) {
	srv, _ := newTestServer(t, Options{}, nil)
	tests := []struct {
		name, query, accept, want string
	}{
		{"default", "", "", `lang="sv"`},
		{"accept english", "", "en-GB,en;q=0.9", `lang="en"`},
		{"accept by quality", "", "de;q=0.9,en;q=0.8,sv;q=0.95", `lang="sv"`},
		{"accept unknown", "", "fi", `lang="sv"`},
		{"query wins", "?lang=en", "sv", `lang="en"`},
		{"unknown query", "?lang=xx", "en", `lang="en"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, noRedirect, srv.URL+"/"+tt.query, "Accept-Language", tt.accept)
			if !strings.Contains(body, tt.want) || !strings.Contains(resp.Header.Get("Vary"), "Accept-Language") {
				t.Errorf("want %s; Vary %q", tt.want, resp.Header.Get("Vary"))
			}
		})
	}
	// The choice is remembered in a cookie.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get(t, client, srv.URL+"/?lang=sv-lattlast")
	if _, body := get(t, client, srv.URL+"/", "Accept-Language", "en"); !strings.Contains(body, "Så här är det nu") {
		t.Error("lättläst was not remembered")
	}
	if _, body := get(t, client, srv.URL+"/checkin"); !strings.Contains(body, "Hushållskod") {
		t.Error("lättläst does not fall back to Swedish for the check-in form")
	}
}

func TestRightToLeftLanguage(t *testing.T) {
	cat, err := web.LoadCatalog("testdata/i18n")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newTestServer(t, Options{Catalog: cat}, nil)
	_, body := get(t, noRedirect, srv.URL+"/?lang=ar")
	for _, want := range []string{`<html lang="ar" dir="rtl">`, "الوضع الآن", "Available here now" /* English fallback */, ">العربية</a>"} {
		if !strings.Contains(body, want) {
			t.Errorf("Arabic page lacks %q", want)
		}
	}
	if _, body := get(t, noRedirect, srv.URL+"/?lang=sv"); !strings.Contains(body, `hreflang="ar"`) {
		t.Error("the language switch does not offer the added language")
	}
}

func TestLanguageFiles(t *testing.T) {
	cat, err := web.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	sv, en, easy := cat.Lang("sv"), cat.Lang("en"), cat.Lang("sv-lattlast")
	for key := range sv.Messages {
		if _, ok := en.Messages[key]; !ok {
			t.Errorf("en lacks %q", key)
		}
	}
	for key := range en.Messages {
		if _, ok := sv.Messages[key]; !ok {
			t.Errorf("sv lacks %q", key)
		}
	}
	// Every key the templates use exists in Swedish.
	used := map[string]bool{}
	literal := regexp.MustCompile(`\.T "([a-z_.-]+)"`)
	files, _ := filepath.Glob("templates/*.html")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, prefixed := range [][2][]string{
		{{"svc."}, node.Services}, {{"svcstatus."}, append(slices.Clone(node.ServiceStatuses), node.ServiceUnknown)},
		{{"sev."}, node.Severities}, {{"need."}, node.Needs}, {{"cat."}, node.Categories}, {{"urg."}, node.Urgencies},
		{{"receipt.what."}, {"checkin", "report"}}, {{"form."}, {"required", "invalid"}}, {{"rstatus."}, node.ReportStatuses},
	} {
		for _, v := range prefixed[1] {
			used[prefixed[0][0]+v] = true
		}
	}
	for _, key := range []string{"status.title", "ann.title", "guide.title", "checkin.title", "report.title", "contact.title",
		"receipt.title", "receipt.notfound", "ratelimit.title", "ratelimit.text", "notfound.title", "notfound.text", "error.title", "error.text", "form.again"} {
		used[key] = true
	}
	for key := range used {
		if _, ok := sv.Messages[key]; !ok {
			t.Errorf("templates use %q, which sv.toml lacks", key)
		}
	}
	// English and lättläst have the same advice as Swedish.
	ids := func(l *web.Lang) (out []string) {
		for _, g := range l.Guide {
			out = append(out, g.ID)
		}
		return out
	}
	if !slices.Equal(ids(sv), ids(en)) || !slices.Equal(ids(sv), ids(easy)) {
		t.Errorf("guide ids differ: sv %v en %v lättläst %v", ids(sv), ids(en), ids(easy))
	}
	// Lättläst covers the status page itself.
	for key := range sv.Messages {
		if strings.HasPrefix(key, "status.") || strings.HasPrefix(key, "svc") {
			if _, ok := easy.Messages[key]; !ok {
				t.Errorf("lättläst lacks status text %q", key)
			}
		}
	}
}

func TestReportForm(t *testing.T) {
	srv, l := newTestServer(t, Options{PostPerMinute: -1}, nil)
	_, page := get(t, noRedirect, srv.URL+"/report")
	token := regexp.MustCompile(`name="token" value="([A-Z0-9]{16})"`).FindStringSubmatch(page)
	if token == nil {
		t.Fatal("report form has no token")
	}
	form := url.Values{"category": {"road"}, "text": {`Träd <b>över</b> vägen`}, "place": {"Byvägen 3"}, "urgency": {"high"}, "token": {token[1]}}
	resp, _ := postForm(t, noRedirect, srv.URL+"/report", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/r/[2-9A-Z]{8}\?new=1$`).MatchString(loc) {
		t.Fatalf("post: %d %q", resp.StatusCode, loc)
	}
	// A double tap, and back + resubmit: the same receipt, no second event.
	for i := 0; i < 2; i++ {
		again, _ := postForm(t, noRedirect, srv.URL+"/report", form)
		if again.Header.Get("Location") != loc {
			t.Fatalf("resubmit %d went to %q, want %q", i, again.Header.Get("Location"), loc)
		}
	}
	if n := len(l.State().View().Reports); n != 1 {
		t.Fatalf("%d reports after resubmits, want 1", n)
	}
	code := loc[3:11]
	resp, body := get(t, noRedirect, srv.URL+"/r/"+strings.ToLower(code))
	if resp.StatusCode != 200 || !strings.Contains(body, code) || !strings.Contains(body, "Mottaget här kl.") {
		t.Errorf("receipt page: %d", resp.StatusCode)
	}
	if resp, _ := get(t, noRedirect, srv.URL+"/r/AAAAAAAA"); resp.StatusCode != 404 {
		t.Errorf("unknown receipt: %d", resp.StatusCode)
	}

	// A form at fault comes back with the typed values, escaped, and marks.
	bad := url.Values{"category": {"road"}, "text": {"  "}, "place": {`"><script>x</script>`}, "urgency": {"high"}, "token": {token[1] + "X"}}
	resp, body = postForm(t, noRedirect, srv.URL+"/report", bad)
	if resp.StatusCode != 400 || !strings.Contains(body, "Något behöver rättas") || !strings.Contains(body, "Måste fyllas i") {
		t.Errorf("bad form: %d", resp.StatusCode)
	}
	if strings.Contains(body, "<script>x") || !strings.Contains(body, "&lt;script&gt;x") {
		t.Error("a refilled value is not escaped")
	}
	if n := len(l.State().View().Reports); n != 1 {
		t.Errorf("a bad form wrote a report")
	}

	// Text that is not UTF-8 is refused as the JSON API refuses it (400),
	// never stored as U+FFFD: the form comes back with the rest kept.
	notUTF8 := url.Values{"category": {"road"}, "text": {"\xff\xfe"}, "place": {"Ekbacken"}, "urgency": {"high"}, "token": {node.NewCode(16)}}
	resp, body = postForm(t, noRedirect, srv.URL+"/report", notUTF8)
	if resp.StatusCode != 400 || !strings.Contains(body, "Något behöver rättas") || !strings.Contains(body, `value="Ekbacken"`) {
		t.Errorf("invalid UTF-8: %d, want 400 with the form and its typed place", resp.StatusCode)
	}
	if n := len(l.State().View().Reports); n != 1 {
		t.Errorf("invalid UTF-8 wrote a report")
	}
}

func TestCheckInFormKeepsPersonalOffPages(t *testing.T) {
	srv, l := newTestServer(t, Options{PostPerMinute: -1}, nil)
	form := url.Values{"size": {"3"}, "status": {"needs_help"}, "need": {"medical"},
		"name": {"Greta Personsson"}, "contact": {"070-111 22 33"}, "details": {"syrgas"}, "token": {node.NewCode(16)}}
	resp, _ := postForm(t, noRedirect, srv.URL+"/checkin", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("check-in: %d", resp.StatusCode)
	}
	_, body := get(t, noRedirect, srv.URL+resp.Header.Get("Location"))
	v := l.State().View()
	if len(v.CheckIns) != 1 || !strings.Contains(body, v.CheckIns[0].Household) {
		t.Fatal("receipt lacks the household code")
	}
	for _, secret := range []string{"Greta", "070-111", "syrgas"} {
		if strings.Contains(body, secret) {
			t.Errorf("receipt shows personal data %q", secret)
		}
	}
	if p, ok, _ := l.Personal(context.Background(), v.CheckIns[0].ID); !ok || p.Name != "Greta Personsson" {
		t.Error("personal data not stored beside the check-in")
	}
	// Size is required and bounded.
	form.Set("size", "0")
	form.Set("token", node.NewCode(16))
	if resp, _ := postForm(t, noRedirect, srv.URL+"/checkin", form); resp.StatusCode != 400 {
		t.Errorf("size 0: %d", resp.StatusCode)
	}
}

func TestFormLimits(t *testing.T) {
	srv, l := newTestServer(t, Options{PostPerMinute: 1, PostBurst: 1}, nil)
	form := url.Values{"category": {"road"}, "text": {"a"}, "urgency": {"low"}}
	if resp, _ := postForm(t, noRedirect, srv.URL+"/report", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first post: %d", resp.StatusCode)
	}
	resp, body := postForm(t, noRedirect, srv.URL+"/report", form)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Vänta en stund") {
		t.Errorf("over the limit: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	srv2, l2 := newTestServer(t, Options{PostPerMinute: -1}, nil)
	big := url.Values{"category": {"road"}, "text": {strings.Repeat("x", web.MaxBody)}}
	if resp, _ := postForm(t, noRedirect, srv2.URL+"/report", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d", resp.StatusCode)
	}
	if n := len(l.State().View().Reports) + len(l2.State().View().Reports); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
}

func TestUntrustedClockShowsNoTimes(t *testing.T) {
	wall := nodetest.NewWall(time.Unix(0, 0))
	srv, _ := newTestServer(t, Options{PostPerMinute: -1}, node.NewClock(wall.Now))
	_, body := get(t, noRedirect, srv.URL+"/")
	if !strings.Contains(body, "klockan i boxen är inte ställd") || strings.Contains(body, "01:00") {
		t.Error("status page with a 1970 clock")
	}
	resp, _ := postForm(t, noRedirect, srv.URL+"/report", url.Values{"category": {"road"}, "text": {"a"}})
	_, body = get(t, noRedirect, srv.URL+resp.Header.Get("Location"))
	if !strings.Contains(body, "Mottaget här.") || strings.Contains(body, "Mottaget här kl.") {
		t.Error("receipt with a 1970 clock shows a time")
	}
}

func TestStatusPageFollowsState(t *testing.T) {
	srv, l := newTestServer(t, Options{}, nil)
	ctx := context.Background()
	_, before := get(t, noRedirect, srv.URL+"/")
	if strings.Contains(before, "Vattnet är tillbaka") {
		t.Fatal("announcement before it exists")
	}
	l.Append(ctx, node.Draft{Type: node.TypeAnnouncementPublished, Payload: node.Announcement{
		ID: "a1", Title: map[string]string{"sv": "Vattnet är tillbaka", "en": "Water is back"}, Severity: "info"}})
	l.Append(ctx, node.Draft{Type: node.TypeServiceChanged, Payload: node.ServiceChanged{Service: "charging", Status: "open", Note: "vid kassan"}})
	_, after := get(t, noRedirect, srv.URL+"/")
	for _, want := range []string{"Vattnet är tillbaka", "Ladda telefonen: <strong>Öppet</strong> – vid kassan"} {
		if !strings.Contains(after, want) {
			t.Errorf("status page after changes lacks %q", want)
		}
	}
	if _, en := get(t, noRedirect, srv.URL+"/?lang=en"); !strings.Contains(en, "Water is back") {
		t.Error("English page does not pick the English title")
	}
}

func TestLiveEvents(t *testing.T) {
	var site *web.Site
	env := webtest.Start(t, nil, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		h, s := serve(l, staff, Options{})
		site = s
		return h
	})
	srv, l := env.Srv, env.Log
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() string {
		for lines.Scan() {
			if line := lines.Text(); line != "" {
				return line
			}
		}
		return ""
	}
	if first := next(); first != "retry: 5000" {
		t.Fatalf("first line %q", first)
	}
	e, err := l.Append(context.Background(), report("live"))
	if err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "data: "+e.HLC.String() {
		t.Fatalf("after an append: %q, want data: %s", got, e.HLC)
	}
	site.Close() // as on shutdown: the stream ends
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Close")
	}
}

func report(text string) node.Draft {
	return node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: node.NewID(),
		Receipt: node.NewCode(node.ReceiptLen), Category: "road", Text: text, Urgency: "normal"}}
}

func TestStatusPagePower(t *testing.T) {
	var mu sync.Mutex
	f := func(x float64) *float64 { return &x }
	st := powermon.Status{State: "OL", SourceOK: true, Source: "sim"}
	power := func() powermon.Status { mu.Lock(); defer mu.Unlock(); return st }
	srv, _ := newTestServer(t, Options{Power: power}, nil)
	tests := []struct {
		set  powermon.Status
		want []string
	}{
		{powermon.Status{State: "OL", SourceOK: true}, []string{"Elnätet fungerar."}},
		{powermon.Status{State: "OB", SourceOK: true, Runtime: f(300), RuntimeLow: f(240), RuntimeHigh: f(360)},
			[]string{"reservkraft från batteri", "ungefär 5 timmar till (mellan 4 timmar och 6 timmar)"}},
		{powermon.Status{State: "OB LB", SourceOK: true, Runtime: f(40), RuntimeLow: f(38), RuntimeHigh: f(42)},
			[]string{"batteriet börjar ta slut", "ungefär 40 minuter till."}},
		{powermon.Status{State: "GEN", SourceOK: true, Runtime: f(600), GeneratorHours: f(7.5)},
			[]string{"ström från en generator", "Bränslet till generatorn räcker ungefär 8 timmar."}},
		{powermon.Status{State: "OB", SourceOK: false, SourceProblem: "nut: dial tcp 10.1.2.3:3493: connection refused"},
			[]string{"Vi vet inte just nu"}},
	}
	for _, tt := range tests {
		mu.Lock()
		st = tt.set
		mu.Unlock()
		_, body := get(t, noRedirect, srv.URL+"/")
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("state %q: status page lacks %q", tt.set.State, w)
			}
		}
	}
	resp, body := get(t, noRedirect, srv.URL+"/api/status")
	if resp.StatusCode != 200 || !strings.Contains(body, `"power":{"state":"OB"`) {
		t.Errorf("api/status power: %s", body)
	}
	// Why the source is lost is for staff: it may name an address.
	if _, page := get(t, noRedirect, srv.URL+"/"); strings.Contains(body, "10.1.2.3") || strings.Contains(page, "10.1.2.3") {
		t.Error("residents see the power source's problem")
	}
	// Without a monitor there is no power at all.
	srv2, _ := newTestServer(t, Options{}, nil)
	if _, body := get(t, noRedirect, srv2.URL+"/api/status"); strings.Contains(body, `"power"`) {
		t.Error("power in the status without a source")
	}
}

// TestLiveEventsPerClientCap: one address holds at most
// maxStreamsPerClient live-update streams (429 beyond them, with
// Retry-After); another address still gets one, and a stream closed gives
// its slot back.
func TestLiveEventsPerClientCap(t *testing.T) {
	env := webtest.Start(t, nil, false, func(l *eventlog.Log, staff *accounts.Accounts) http.Handler {
		h, _ := serve(l, staff, Options{})
		return h
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	}
	open := func(c *http.Client) (*http.Response, context.CancelFunc) {
		t.Helper()
		sctx, stop := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(sctx, "GET", env.Srv.URL+"/events", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			// Read the first line: the stream is held on the server.
			if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); line != "retry: 5000\n" {
				t.Fatalf("first line %q", line)
			}
		}
		return resp, func() { stop(); resp.Body.Close() }
	}
	one := from("127.0.0.1")
	var stops []context.CancelFunc
	for i := 0; i < maxStreamsPerClient; i++ {
		resp, stop := open(one)
		defer stop()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
		stops = append(stops, stop)
	}
	resp, stop := open(one)
	stop()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d from one address: %d, want 429 with Retry-After", maxStreamsPerClient+1, resp.StatusCode)
	}
	resp, stop = open(from("127.0.0.2"))
	defer stop()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another address while the first is at its cap: %d", resp.StatusCode)
	}
	stops[0]()
	if !eventually(5*time.Second, func() bool {
		resp, stop := open(one)
		defer stop()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("a closed stream did not give its slot back")
	}
}

func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
