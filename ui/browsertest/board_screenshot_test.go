package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// boardScenario is a simulated power source for the board's screenshot:
// mains gone, a 100 Ah lead-acid bank at 62 %, the point drawing 6 A.
const boardScenario = `name = "board-screenshot"
speed = 1
report_percent = true

[battery]
chemistry = "lead-acid-12v"
capacity_ah = 100
soc = 0.62

[[load]]
at = "0s"
amps = 6.0

[[outage]]
lost = "0s"
`

// seedPowerHistory writes a day of one-minute power samples, as a monitor
// would have: mains until 14 hours ago, battery, a generator from 9 to 5
// hours ago, battery again, with the box off for 20 minutes 3 hours ago.
func seedPowerHistory(data string, now time.Time) error {
	ctx := context.Background()
	h, err := powermon.OpenHistory(ctx, filepath.Join(data, eventlog.FileName))
	if err != nil {
		return err
	}
	defer h.Close()
	var samples []powermon.Sample
	lerp := func(h, h0, h1, p0, p1 float64) float64 { return p0 + (p1-p0)*(h0-h)/(h0-h1) }
	for m := 24 * 60; m >= 3; m-- {
		at := now.Add(-time.Duration(m) * time.Minute).Truncate(time.Minute)
		h := float64(m) / 60 // hours ago
		var state string
		var pct, amps float64
		switch {
		case h > 14:
			state, pct, amps = "OL", 100, -0.5
		case h > 9:
			state, pct, amps = "OB", lerp(h, 14, 9, 100, 58), 6
		case h > 5:
			state, pct, amps = "GEN CHRG", lerp(h, 9, 5, 58, 88), -8
		case h > 3.33:
			state, pct, amps = "OB", lerp(h, 5, 3.33, 88, 74), 6
		case h > 3:
			continue // the box was off
		default:
			state, pct, amps = "OB", lerp(h, 3, 0, 74, 62), 6
		}
		pct += math.Sin(float64(m)/7) * 0.3 // a little noise, as real readings
		volts := 11.6 + pct/100*1.2
		runtime := pct / 100 * 100 / 6 * 60 * 0.8 * 60 // seconds
		samples = append(samples, powermon.Sample{At: at, State: state, Volts: volts, Amps: amps, Percent: pct,
			Runtime: float64(int64(runtime)) / 60})
	}
	return h.Write(ctx, samples, now.Add(-7*24*time.Hour))
}

// seedBoard gives the node a realistic afternoon: reports in every status,
// one untouched past the call-down time, households that need help, stock
// running low, a roster, a journal with a correction, services set.
func seedBoard(t *testing.T, n *spNode) {
	t.Helper()
	// These two wait: the box's clock is then put 31 minutes forward, so
	// the one nobody touches is due for a call-down (30 minutes).
	n.residentReport(t, "welfare-check", "high",
		"Äldre man på Björkvägen 4 svarar inte i telefon. Bor ensam, har hemtjänst men ingen har kommit i dag.", "Björkvägen 4")
	water := n.residentReport(t, "supplies", "normal", "Tre hushåll på Ekbacken behöver dricksvatten, ingen av oss har bil.", "Ekbacken")
	n.staffPost(t, "/api/staff/clock", map[string]any{"now": time.Now().Add(31 * time.Minute)})

	n.staffPost(t, "/api/staff/reports/"+water.ID+"/status", map[string]any{"status": "acknowledged"})
	n.staffPost(t, "/api/staff/reports/"+water.ID+"/assign", map[string]any{"assignee": "Karin Ek"})
	n.staffPost(t, "/api/staff/reports/"+water.ID+"/comments", map[string]any{"text": "Vattendunkar packas, körs ut 15:30."})
	tree := n.residentReport(t, "road", "high", "Träd över vägen vid bron på Ramsjövägen, det går inte att komma förbi med bil.", "Ramsjövägen, bron")
	n.staffPost(t, "/api/staff/reports/"+tree.ID+"/status", map[string]any{"status": "in_progress"})
	n.staffPost(t, "/api/staff/reports/"+tree.ID+"/assign", map[string]any{"assignee": "teknik"})
	n.residentReport(t, "medical", "life-threatening", "Syrgaskoncentrator utan ström, reservbatteriet räcker ungefär två timmar.", "Lärkstigen 7")
	cold := n.residentReport(t, "heat", "low", "Kallt i gympasalen i natt, behöver fler filtar.", "Byhuset")
	n.staffPost(t, "/api/staff/reports/"+cold.ID+"/status", map[string]any{"status": "resolved"})
	n.residentReport(t, "other", "normal", "Hund utan halsband springer runt vid affären.", "ICA Ramsjö")

	for _, c := range []map[string]any{
		{"size": 2, "status": "safe", "need": "none"},
		{"size": 4, "status": "needs_help", "need": "heat", "name": "Familjen Hassan", "contact": "072-555 01 23"},
		{"size": 1, "status": "safe", "need": "supplies"},
		{"size": 2, "status": "needs_help", "need": "medical", "name": "Elsa Lind", "contact": "070-123 45 67", "details": "Insulin i kylskåp, behöver kylning"},
		{"size": 3, "status": "safe", "need": "none"},
		{"size": 1, "status": "needs_help", "need": "transport", "name": "Bertil Ström", "occurred_at": time.Now().Add(-2 * time.Hour)},
		{"size": 5, "status": "safe", "need": "power"},
		{"size": 2, "status": "safe", "need": "none"},
	} {
		n.staffPost(t, "/api/staff/checkins", c)
	}
	for _, i := range []map[string]any{
		{"item": "fuel", "quantity": 40, "unit": "l", "low": 15},
		{"item": "vatten", "quantity": 12, "unit": "dunkar", "low": 20},
		{"item": "filtar", "quantity": 35, "unit": "st", "low": 10},
		{"item": "mat", "quantity": 120, "unit": "portioner", "low": 50},
		{"item": "batterier aa", "quantity": 48, "unit": "st"},
	} {
		n.staffPost(t, "/api/staff/inventory", i)
	}
	for _, r := range []map[string]any{
		{"person": "Anna Berg", "role": "stabschef", "on_duty": true, "contact": "070-111 22 33"},
		{"person": "Karin Ek", "role": "logistik", "on_duty": true},
		{"person": "Omar Said", "role": "sjukvård", "on_duty": true},
		{"person": "Lars Nilsson", "role": "teknik", "on_duty": true},
		{"person": "Maja Holm", "role": "information", "on_duty": false},
	} {
		n.staffPost(t, "/api/staff/roster", r)
	}
	n.staffPost(t, "/api/staff/journal", map[string]any{"text": "Stab upprättad i Byhuset. Anna Berg stabschef.", "occurred_at": time.Now().Add(-6 * time.Hour)})
	n.staffPost(t, "/api/staff/journal", map[string]any{"text": "Elavbrott i hela Ramsjö sedan 02:10 enligt nätbolaget. Inget besked om när strömmen kommer tillbaka."})
	gen := n.staffPost(t, "/api/staff/journal", map[string]any{"text": "Generatorn startad 06:30, 40 liter diesel i tanken."})
	n.staffPost(t, "/api/staff/journal", map[string]any{"text": "Generatorn startades 06:45, inte 06:30.", "corrects": gen.ID})
	n.staffPost(t, "/api/staff/journal", map[string]any{"text": "Kommunen levererar 20 vattendunkar i eftermiddag."})
	for _, s := range []map[string]any{
		{"service": "warmth", "status": "open", "note": "Gympasalen"},
		{"service": "charging", "status": "open"},
		{"service": "water", "status": "limited", "note": "5 liter per hushåll"},
		{"service": "toilets", "status": "open"},
		{"service": "first_aid", "status": "limited", "note": "Sjuksköterska 08–20"},
		{"service": "food", "status": "closed", "note": "Soppa från 17"},
		{"service": "information", "status": "open"},
		{"service": "wifi", "status": "open"},
	} {
		n.staffPost(t, "/api/staff/services", s)
	}
	n.publish(t,
		map[string]string{"sv": "Strömavbrott i hela Ramsjö", "en": "Power cut in all of Ramsjö"},
		map[string]string{"sv": "Här finns värme, dricksvatten och laddning. Ta med mediciner och varma kläder."}, "warning")
}

// TestBoardScreenshots renders the board with a realistic afternoon on a
// tablet, landscape and portrait, and its printout, and checks what a
// tablet in a cold shop needs: nothing wider than the screen, the three
// columns side by side in landscape, body text of 16 px or more, targets
// of 44 px; and a printout of one A4 page. With -update-screenshots it
// writes docs/screenshots/board-*.png.
func TestBoardScreenshots(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join(dir, "scenario.toml")
	if err := os.WriteFile(scenario, []byte(boardScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := startNodeWith(dir, func(data string) error { return seedPowerHistory(data, time.Now()) },
		"--power", "sim:"+scenario, "--generator-burn", "2.5")
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(n.stop)
	seedBoard(t, n)

	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{ignoreCert: true, timeout: 2 * time.Minute})
	errs := scriptErrors(t, tb)
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	loginBoard(t, tb, n)
	ready := func() {
		t.Helper()
		waitFor(t, tb, "the live board", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
		waitFor(t, tb, "the power state", `!document.querySelector("#power .pw").classList.contains("pw-unknown")`, 10*time.Second)
		waitFor(t, tb, "the call-down mark", `!!document.querySelector("#queue > li.calldown")`, 10*time.Second)
	}
	ready()
	if *updateScreenshots {
		// On battery the monitor reads every 30 s: the fuel counted after
		// the start becomes generator hours at the next reading. Wait for
		// it, then change something so the hub publishes it (it does not
		// on its own while on battery: see hub.run).
		c := n.staffClient(t)
		for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(time.Second) {
			_, st := doJSON(t, c, "GET", "/api/staff/state", "", nil)
			if bytes.Contains(st, []byte(`"generator_hours"`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no generator hours after 40 s")
			}
		}
		n.staffPost(t, "/api/staff/services", map[string]any{"service": "wifi", "status": "open", "note": "Nätet heter Trygghetspunkt"})
		waitFor(t, tb, "the generator hours", `document.querySelector("#power [data-k=fuel]").textContent !== "–"`, 10*time.Second)
	}
	if got := tb.text(t, "#power [data-k=state]"); !strings.HasPrefix(got, "På batteri") {
		t.Errorf("the power panel says %q, want På batteri", got)
	}
	if got := tb.text(t, "#queue > li.calldown"); !strings.Contains(got, "Ring upp igen") || !strings.Contains(got, "Björkvägen") {
		t.Errorf("the call-down report: %q", got)
	}
	if n := eval[int](t, tb, `document.querySelectorAll("#power-chart polyline").length`); n != 2 {
		t.Errorf("the chart has %d lines, want 2 (the box was off for 20 minutes)", n)
	}

	checkTablet(t, tb, "landscape 1280×800", 1280, true)
	shot(t, tb, "board-1280x800.png", 1280, 800)
	boardAxe(t, tb, "the board")

	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(800, 1280)); err != nil {
		t.Fatal(err)
	}
	tb.open(t, n.staff+"/board", 200)
	ready()
	checkTablet(t, tb, "portrait 800×1280", 800, false)
	shot(t, tb, "board-800x1280.png", 800, 1280)

	// The printout: one A4 page.
	tb.open(t, n.staff+"/board/print", 200)
	pdf := printPDF(t, tb)
	if pages := pdfPages(t, pdf); pages != 1 {
		t.Errorf("the printout is %d pages, want 1", pages)
	}
	printed := tb.text(t, "main")
	for _, want := range []string{"På batteri", "Björkvägen", "RING UPP", "LÅGT", "Anna Berg", "rättar", "Certifikat SHA-256", "Dricksvatten"} {
		if !strings.Contains(printed, want) {
			t.Errorf("the printout lacks %q", want)
		}
	}
	if *updateScreenshots {
		writePrintPNG(t, tb, pdf, filepath.Join(screenshotDir, "board-print.png"))
	}

	// A long day still prints on one page: what does not fit is counted.
	long := strings.Repeat("Lång beskrivning av vad som har hänt och vad som behövs, med vägbeskrivning och namn. ", 4)
	services := []string{"warmth", "charging", "water", "toilets", "first_aid", "food", "information", "wifi", "emergency_call"}
	for i := range 16 {
		n.residentReport(t, "other", URGENCIES[i%4], fmt.Sprintf("%d. %s", i, long), strings.Repeat("Plats ", 20))
		n.staffPost(t, "/api/staff/journal", map[string]any{"text": fmt.Sprintf("%d. %s", i, long)})
		n.staffPost(t, "/api/staff/checkins", map[string]any{"size": 3, "status": "needs_help", "need": "medical"})
		n.staffPost(t, "/api/staff/roster", map[string]any{"person": fmt.Sprintf("Person %d med ett mycket långt namn som inte tar slut", i), "role": "värd och samordnare", "on_duty": true})
		if i < len(services) {
			n.staffPost(t, "/api/staff/services", map[string]any{"service": services[i], "status": "limited", "note": long[:190]})
		}
		n.staffPost(t, "/api/staff/inventory", map[string]any{"item": fmt.Sprintf("sak nummer %d med långt namn", i), "quantity": 3, "unit": "förpackningar", "low": 5})
	}
	tb.open(t, n.staff+"/board/print", 200)
	if pages := printPages(t, tb); pages != 1 {
		t.Errorf("a long day's printout is %d pages, want 1", pages)
	}
	if more := eval[int](t, tb, `document.querySelectorAll("main .more").length`); more < 4 {
		t.Errorf("a long day's printout says %d times what it left out, want at least 4 (reports, journal, roster, stock)", more)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("the board's script failed: %q", e)
	}
}

// URGENCIES are the report urgencies, least first.
var URGENCIES = []string{"low", "normal", "high", "life-threatening"}

// boardAxe runs axe-core on the page: no serious or critical violation.
// Without axe-core in node_modules it only logs.
func boardAxe(t *testing.T, tb *tab, where string) {
	t.Helper()
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Logf("%s: no axe-core (%v): accessibility not checked", where, err)
		return
	}
	if err := chromedp.Do(tb.ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
		t.Fatalf("%s: injecting axe-core: %v", where, err)
	}
	// The forms in closed <details> too.
	eval[bool](t, tb, `(document.querySelectorAll("details").forEach(d => { d.dataset.wasOpen = d.open; d.open = true }), true)`)
	defer eval[bool](t, tb, `(document.querySelectorAll("details").forEach(d => { d.open = d.dataset.wasOpen === "true" }), true)`)
	found, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]})
		.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", where, err)
	}
	for _, v := range found {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: %s violation %s (%s) at %s", where, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
		} else {
			t.Logf("%s: %s: %s (%s)", where, v.Impact, v.ID, v.Help)
		}
	}
}

// checkTablet checks the board's layout at a tablet's width.
func checkTablet(t *testing.T, tb *tab, where string, width int, columns bool) {
	t.Helper()
	if w := eval[int](t, tb, `document.documentElement.scrollWidth`); w > width {
		t.Errorf("%s: the page is %d px wide: it scrolls sideways", where, w)
	}
	if px := eval[float64](t, tb, `parseFloat(getComputedStyle(document.body).fontSize)`); px < 16 {
		t.Errorf("%s: body text %.1f px, want at least 16", where, px)
	}
	if columns {
		cols := eval[[]float64](t, tb, `Array.from(document.querySelectorAll("#board > .col"), c => [c.getBoundingClientRect().left, c.getBoundingClientRect().right]).flat()`)
		if len(cols) != 6 || !(cols[1] <= cols[2] && cols[3] <= cols[4] && cols[5] <= float64(width)) {
			t.Errorf("%s: the columns are not side by side: %v", where, cols)
		}
	}
	// Every control, also those in closed <details>: open them all.
	eval[bool](t, tb, `(document.querySelectorAll("details").forEach(d => { d.dataset.wasOpen = d.open; d.open = true }), true)`)
	defer eval[bool](t, tb, `(document.querySelectorAll("details").forEach(d => { d.open = d.dataset.wasOpen === "true" }), true)`)
	small := eval[[]string](t, tb, `Array.from(document.querySelectorAll("button, .button, summary, select, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), textarea"))
		.filter(e => { const r = e.getBoundingClientRect(); return r.height > 0 && r.height < 44 })
		.map(e => e.tagName.toLowerCase() + " " + JSON.stringify((e.innerText || e.name || "").slice(0, 30)) + " " + Math.round(e.getBoundingClientRect().height) + "px")`)
	for _, s := range small {
		t.Errorf("%s: tap target under 44 px high: %s", where, s)
	}
}

// shot takes the screen as it is and writes it with -update-screenshots.
func shot(t *testing.T, tb *tab, file string, w, h int) {
	t.Helper()
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: screenshot: %v", file, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", file, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s: %d×%d, want %d×%d", file, b.Dx(), b.Dy(), w, h)
	}
	if blank(img) {
		t.Errorf("%s: the screenshot is blank", file)
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join(screenshotDir, file), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", file)
	}
}

// printPDF prints the tab's page to an A4 PDF with its own CSS page size.
func printPDF(t *testing.T, tb *tab) []byte {
	t.Helper()
	yes := true
	res, err := chromedp.Call(tb.ctx, page.PrintToPDF, page.PrintToPDFParams{PaperWidth: 8.27, PaperHeight: 11.69,
		PreferCSSPageSize: &yes, PrintBackground: &yes})
	if err != nil {
		t.Fatalf("printing to PDF: %v", err)
	}
	return res.Data
}

var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)

// printPages is how many pages the tab's page prints on.
func printPages(t *testing.T, tb *tab) int {
	t.Helper()
	return pdfPages(t, printPDF(t, tb))
}

// pdfPages is how many pages a printout has.
func pdfPages(t *testing.T, pdf []byte) int {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Fatalf("the printout is not a PDF: %q", pdf[:min(len(pdf), 16)])
	}
	return len(pdfPage.FindAll(pdf, -1))
}

// writePrintPNG writes the printout's first page as a PNG: from the PDF
// with pdftoppm (poppler-utils) when there is one, else the page as the
// browser lays it out for print, at A4's size in CSS pixels.
func writePrintPNG(t *testing.T, tb *tab, pdf []byte, out string) {
	t.Helper()
	if tool, err := exec.LookPath("pdftoppm"); err == nil {
		in := filepath.Join(t.TempDir(), "print.pdf")
		if err := os.WriteFile(in, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(tool, "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", in, strings.TrimSuffix(out, ".png"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, b)
		}
		t.Logf("wrote %s with pdftoppm", out)
		return
	}
	t.Log("no pdftoppm: the print layout as the browser shows it")
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(794, 1123)); err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%s)", out, fmt.Sprint(len(buf), " bytes"))
}
