package browsertest

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeViolation is what the test keeps of one axe-core violation.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// residentPages are the portal's pages; receipt is a receipt code.
func residentPages(receipt string) []string {
	return []string{"/", "/announcements", "/guidance", "/checkin", "/report", "/contact", "/r/" + receipt}
}

// TestAccessibility runs axe-core on every resident page in Swedish and
// English, and on a refused form: no serious or critical violation.
func TestAccessibility(t *testing.T) {
	needPeer(t, "axe-core", axePath)
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	n := sharedNode(t)
	n.publish(t, map[string]string{"sv": "Vattnet är avstängt", "en": "The water is off"},
		map[string]string{"sv": "Hämta dricksvatten här.", "en": "Get drinking water here."}, "warning")
	receipt := n.apiCheckIn(t)
	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{})

	check := func(t *testing.T, where string) {
		t.Helper()
		if err := chromedp.Do(tb.ctx, chromedp.Evaluate[chromedp.Void](string(axe))); err != nil {
			t.Fatalf("%s: injecting axe-core: %v", where, err)
		}
		found, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]})
			.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
				nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe.run: %v", where, err)
		}
		var minor []string
		for _, v := range found {
			switch v.Impact {
			case "serious", "critical":
				t.Errorf("%s: %s violation %s (%s) at %s", where, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
			default:
				minor = append(minor, v.ID+" ("+v.Impact+")")
			}
		}
		if len(minor) > 0 {
			t.Logf("%s: minor or moderate: %s", where, strings.Join(minor, ", "))
		}
	}

	for _, lang := range []string{"sv", "en"} {
		for _, p := range residentPages(receipt) {
			tb.open(t, n.base+p+"?lang="+lang, 200)
			if got := tb.htmlLang(t); got != lang {
				t.Errorf("%s?lang=%s: <html lang=%q>", p, lang, got)
			}
			check(t, p+"?lang="+lang)
		}
		// A refused form, with its error messages and aria-invalid.
		tb.open(t, n.base+"/report?lang="+lang, 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.Click(chromedp.CSS(`input[name=category][value=road]`)),
			chromedp.SetValue(chromedp.ID("text"), "   "),
		); err != nil {
			t.Fatal(err)
		}
		if resp := tb.submit(t, "form.resident"); resp.Status != 400 {
			t.Fatalf("report of spaces: status %d, want 400", resp.Status)
		}
		check(t, "refused /report ("+lang+")")
	}
}
