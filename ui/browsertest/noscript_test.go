package browsertest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/safepoint-se/safepoint/internal/proctest"
)

// TestNoScript uses the portal the way a phone with JavaScript off does:
// every page and form must work on plain HTML.
func TestNoScript(t *testing.T) {
	n := sharedNode(t)
	browser := newBrowser(t)
	sv := tabOptions{noScript: true, acceptLang: "sv"}

	t.Run("probe opens the portal", func(t *testing.T) {
		tb := newTab(t, browser, sv)
		resp := tb.open(t, n.base+"/generate_204", 200)
		if u := tb.location(t); u.Path != "/" {
			t.Errorf("the Android probe ends on %s, want the status page /", u)
		}
		if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(fmt.Sprint(ct), "text/html") {
			t.Errorf("status page Content-Type %v", ct)
		}
		if got, want := tb.text(t, "h1"), T("sv", "status.title"); got != want {
			t.Errorf("h1 %q, want %q", got, want)
		}
		if lang := tb.htmlLang(t); lang != "sv" {
			t.Errorf(`<html lang=%q> with Accept-Language sv, want "sv"`, lang)
		}
		// The tab really runs no script: with it, portal.js would have
		// opened the status page's live stream.
		if tb.requested("/events") {
			t.Error("the page opened /events: JavaScript ran in a tab where it is off")
		}
	})

	t.Run("check-in form", func(t *testing.T) {
		tb := newTab(t, browser, sv)
		name, contact := "Namn-"+fmt.Sprint(time.Now().UnixNano()), "070-"+fmt.Sprint(time.Now().UnixNano()%1e7)
		tb.open(t, n.base+"/checkin", 200)
		fillCheckIn(t, tb, name, contact)
		token := eval[string](t, tb, `document.querySelector("input[name=token]").value`)
		resp := tb.submit(t, "form.resident")
		if resp.Status != 200 {
			t.Fatalf("after the check-in: status %d at %s", resp.Status, resp.URL)
		}
		code := receiptOnPage(t, tb)
		mainText := tb.text(t, "main")
		household := ""
		if m := textPattern("sv", "receipt.household", "code", `([23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{6})`).FindStringSubmatch(mainText); m != nil {
			household = m[1]
		} else {
			t.Errorf("no household code on the receipt page:\n%s", mainText)
		}
		if !strings.Contains(mainText, T("sv", "receipt.thanks")) {
			t.Errorf("the receipt page does not say thank you:\n%s", mainText)
		}

		events := n.dump(t)
		var found *proctest.Event
		for i, e := range events {
			if strings.Contains(e.Raw, name) || strings.Contains(e.Raw, contact) {
				t.Errorf("the name or contact is in the log: %s", e.Raw)
			}
			if e.Type == "checkin.created" && e.Payload["receipt"] == code {
				if found != nil {
					t.Errorf("two check-ins with receipt %s", code)
				}
				found = &events[i]
			}
		}
		if found == nil {
			t.Fatalf("no checkin.created with receipt %s in the dump", code)
		}
		p := found.Payload
		if p["size"] != 3.0 || p["status"] != "needs_help" || p["need"] != "medical" || p["household"] != household {
			t.Errorf("checkin.created does not hold what was typed (size 3, needs_help, medical, %s): %s", household, found.Raw)
		}
		if p["personal"] != true {
			t.Errorf(`checkin.created lacks "personal":true though a name was given: %s`, found.Raw)
		}
		for _, k := range []string{"name", "contact", "details"} {
			if _, ok := p[k]; ok {
				t.Errorf("checkin.created has a %q field: %s", k, found.Raw)
			}
		}

		// Back, and the same form again: the node must recognize it.
		back(t, tb, "/checkin")
		if again := eval[string](t, tb, `document.querySelector("input[name=token]").value`); again != token {
			t.Fatalf("Back shows a new form (token %s, was %s): a resubmission cannot be recognized", again, token)
		}
		// Chromium restores what was typed; fill again should it not.
		if eval[string](t, tb, `(document.querySelector("input[name=status]:checked") || {}).value || ""`) == "" {
			t.Log("Back did not restore the form's values; filling them again")
			fillCheckIn(t, tb, name, contact)
		}
		resp = clickSubmitByPosition(t, tb, "form.resident button[type=submit]")
		if resp.Status != 200 {
			t.Fatalf("resubmitting: status %d at %s", resp.Status, resp.URL)
		}
		if again := receiptOnPage(t, tb); again != code {
			t.Errorf("resubmitting the same form gave receipt %s, the first gave %s", again, code)
		}
		after := n.dump(t)
		if len(after) != len(events) {
			t.Errorf("resubmitting the same form changed the log from %d to %d events:", len(events), len(after))
			for _, e := range after[min(len(events), len(after)):] {
				t.Logf("  %s", e.Raw)
			}
		}
	})

	t.Run("report form", func(t *testing.T) {
		tb := newTab(t, browser, sv)
		text := fmt.Sprintf("Träd över vägen vid bron, %d", time.Now().UnixNano())
		place := "Ramsjövägen 12"
		tb.open(t, n.base+"/report", 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.Click(chromedp.CSS(`input[name=category][value=road]`)),
			chromedp.SendKeys(chromedp.ID("text"), text),
			chromedp.SendKeys(chromedp.ID("place"), place),
			chromedp.Click(chromedp.CSS(`input[name=urgency][value=high]`)),
		); err != nil {
			t.Fatalf("filling the report form: %v", err)
		}
		resp := tb.submit(t, "form.resident")
		if resp.Status != 200 {
			t.Fatalf("after the report: status %d at %s", resp.Status, resp.URL)
		}
		code := receiptOnPage(t, tb)
		if got, want := tb.text(t, "main"), T("sv", "receipt.what.report"); !strings.Contains(got, want) {
			t.Errorf("the receipt page does not say %q:\n%s", want, got)
		}
		var found bool
		for _, e := range n.dump(t) {
			if e.Type != "report.created" || e.Payload["receipt"] != code {
				continue
			}
			found = true
			if e.Payload["text"] != text || e.Payload["place"] != place || e.Payload["category"] != "road" || e.Payload["urgency"] != "high" {
				t.Errorf("report.created does not hold what was typed (%q, %q, road, high): %s", text, place, e.Raw)
			}
		}
		if !found {
			t.Errorf("no report.created with receipt %s in the dump", code)
		}
	})

	t.Run("missing field", func(t *testing.T) {
		tb := newTab(t, browser, sv)
		place := "Skolan, ingång B"
		tb.open(t, n.base+"/report", 200)
		// Only spaces: the browser's "required" lets it through, the
		// node must not.
		if err := chromedp.Do(tb.ctx,
			chromedp.Click(chromedp.CSS(`input[name=category][value=water]`)),
			chromedp.SetValue(chromedp.ID("text"), "   "),
			chromedp.SendKeys(chromedp.ID("place"), place),
		); err != nil {
			t.Fatalf("filling the report form: %v", err)
		}
		before := len(n.dump(t))
		resp := tb.submit(t, "form.resident")
		if resp.Status != 400 {
			t.Fatalf("a report with only spaces: status %d, want 400", resp.Status)
		}
		if u := tb.location(t); u.Path != "/report" {
			t.Errorf("the refused form is at %s, want /report", u)
		}
		if got, want := tb.text(t, "p.error[role=alert]"), T("sv", "form.errors"); got != want {
			t.Errorf("error summary %q, want %q", got, want)
		}
		if got, want := tb.text(t, "p.err"), T("sv", "form.required"); got != want {
			t.Errorf("field error %q, want %q", got, want)
		}
		if err := chromedp.Do(tb.ctx, chromedp.WaitVisible(chromedp.CSS("p.err"))); err != nil {
			t.Errorf("the field error is not visible: %v", err)
		}
		kept := eval[[]string](t, tb, `[document.getElementById("place").value,
			(document.querySelector("input[name=category]:checked") || {}).value || "",
			document.getElementById("text").getAttribute("aria-invalid") || ""]`)
		if kept[0] != place || kept[1] != "water" {
			t.Errorf("the form lost what was typed: place %q, category %q", kept[0], kept[1])
		}
		if kept[2] != "true" {
			t.Errorf(`the text field is not marked aria-invalid="true"`)
		}
		if after := len(n.dump(t)); after != before {
			t.Errorf("a refused report changed the log from %d to %d events", before, after)
		}
	})

	t.Run("language switch", func(t *testing.T) {
		tb := newTab(t, browser, sv)
		tb.open(t, n.base+"/", 200)
		if lang := tb.htmlLang(t); lang != "sv" {
			t.Fatalf(`start: <html lang=%q>, want "sv"`, lang)
		}
		clickLink(t, tb, `.langs a[hreflang=en]`, "English")
		if lang := tb.htmlLang(t); lang != "en" {
			t.Errorf(`after "English": <html lang=%q>, want "en"`, lang)
		}
		nav := eval[[]string](t, tb, `Array.from(document.querySelectorAll("nav a"), a => a.innerText)`)
		var want []string
		for _, k := range []string{"status", "announcements", "guidance", "checkin", "report", "contact"} {
			want = append(want, T("en", "nav."+k))
		}
		if strings.Join(nav, "|") != strings.Join(want, "|") {
			t.Errorf("after English: the navigation says %q, want %q", nav, want)
		}
		// Remembered on the next page, without ?lang.
		tb.open(t, n.base+"/checkin", 200)
		if lang := tb.htmlLang(t); lang != "en" {
			t.Errorf(`next page: <html lang=%q>, want "en" (the choice is not remembered)`, lang)
		}
		if got, want := tb.text(t, "h1"), T("en", "checkin.title"); got != want {
			t.Errorf("next page: h1 %q, want %q", got, want)
		}
		tb.open(t, n.base+"/", 200)
		clickLink(t, tb, `.langs a[href="/?lang=sv-lattlast"]`, catalog.Lang("sv-lattlast").Name)
		if lang := tb.htmlLang(t); lang != "sv" {
			t.Errorf(`easy-read Swedish: <html lang=%q>, want "sv"`, lang)
		}
		if got, want := tb.text(t, "h1"), T("sv-lattlast", "status.title"); got != want || want == T("sv", "status.title") {
			t.Errorf("easy-read status title %q, want %q", got, want)
		}
		tb.open(t, n.base+"/guidance", 200)
		if got, want := tb.text(t, "h1"), T("sv-lattlast", "guide.title"); got != want {
			t.Errorf("easy-read not remembered on /guidance: h1 %q, want %q", got, want)
		}
	})

	t.Run("escaping", func(t *testing.T) {
		payload := xssScript + " " + xssAttr
		n.publish(t, map[string]string{"sv": "Rubrik " + payload, "en": "Title " + payload},
			map[string]string{"sv": "Text " + payload}, "warning")
		tb := newTab(t, browser, sv)
		// The check itself sees the payload when it is not escaped.
		tb.open(t, "data:text/html;charset=utf-8,"+url.PathEscape("<p>"+payload+"</p>"), 200)
		if found := tb.injected(t); len(found) != 2 {
			t.Fatalf("the payload put unescaped in a page gives %q, want a script and an img: the check is blind", found)
		}
		for _, p := range []string{"/", "/announcements"} {
			tb.open(t, n.base+p, 200)
			var title, body bool
			for _, a := range eval[[][]string](t, tb, `Array.from(document.querySelectorAll(".ann"),
				a => [a.querySelector("h2, h3").innerText, (a.querySelector(".body") || {}).innerText || ""])`) {
				title = title || a[0] == "Rubrik "+payload
				body = body || a[1] == "Text "+payload
			}
			if !title || !body {
				t.Errorf("%s: the announcement's title and body are not shown verbatim as text:\n%s", p, tb.text(t, "main"))
			}
			tb.noInjectedMarkup(t, p)
		}

		text := "Hjälp " + payload
		tb.open(t, n.base+"/report", 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.Click(chromedp.CSS(`input[name=category][value=other]`)),
			chromedp.SetValue(chromedp.ID("text"), text),
			chromedp.SetValue(chromedp.ID("place"), payload),
		); err != nil {
			t.Fatal(err)
		}
		if resp := tb.submit(t, "form.resident"); resp.Status != 200 {
			t.Fatalf("report with markup: status %d", resp.Status)
		}
		code := receiptOnPage(t, tb)
		tb.noInjectedMarkup(t, "receipt page")
		var stored bool
		for _, e := range n.dump(t) {
			if e.Type == "report.created" && e.Payload["receipt"] == code {
				stored = e.Payload["text"] == text && e.Payload["place"] == payload
			}
		}
		if !stored {
			t.Errorf("report %s is not stored verbatim", code)
		}

		// The refused form shows what was typed again: in a textarea and
		// in an attribute.
		tb.open(t, n.base+"/report", 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.SetValue(chromedp.ID("text"), text),
			chromedp.SetValue(chromedp.ID("place"), payload),
		); err != nil {
			t.Fatal(err)
		}
		// No category: refused (the browser's own check wants one, so
		// lift it as a script-free client could).
		if err := chromedp.Do(tb.ctx, chromedp.SetAttributeValue(chromedp.CSS("form.resident"), "novalidate", "")); err != nil {
			t.Fatal(err)
		}
		if resp := tb.submit(t, "form.resident"); resp.Status != 400 {
			t.Fatalf("report without a category: status %d, want 400", resp.Status)
		}
		kept := eval[[]string](t, tb, `[document.getElementById("text").value, document.getElementById("place").value]`)
		if kept[0] != text || kept[1] != payload {
			t.Errorf("the refused form does not show the typed text verbatim: %q", kept)
		}
		tb.noInjectedMarkup(t, "refused report form")
	})
}

// fillCheckIn fills the check-in form: three people, need help, medical.
func fillCheckIn(t *testing.T, tb *tab, name, contact string) {
	t.Helper()
	if err := chromedp.Do(tb.ctx,
		chromedp.SetValue(chromedp.ID("size"), "3"),
		chromedp.Click(chromedp.CSS(`input[name=status][value=needs_help]`)),
		chromedp.Click(chromedp.CSS(`input[name=need][value=medical]`)),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.SetValue(chromedp.ID("contact"), contact),
	); err != nil {
		t.Fatalf("filling the check-in form: %v", err)
	}
}

// receiptOnPage checks the tab is on a receipt page and returns the code it
// shows.
func receiptOnPage(t *testing.T, tb *tab) string {
	t.Helper()
	u := tb.location(t)
	m := receiptPath.FindStringSubmatch(u.Path)
	if m == nil {
		t.Fatalf("landed on %s, want /r/CODE; page:\n%s", u, tb.text(t, "body"))
	}
	shown := tb.text(t, ".code")
	if shown != m[1] || !receiptCode.MatchString(shown) {
		t.Fatalf("receipt page %s shows code %q", u.Path, shown)
	}
	return shown
}

// back goes one step back in the tab's history and waits until the page at
// path is shown. Chromium may restore it from its back/forward cache, where
// no load event fires and chromedp's view of the DOM is stale: only
// DevTools evaluation is used until the next navigation.
func back(t *testing.T, tb *tab, path string) {
	t.Helper()
	h, err := chromedp.Call(tb.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if h.CurrentIndex < 1 {
		t.Fatal("no history to go back in")
	}
	if _, err := chromedp.Call(tb.ctx, page.NavigateToHistoryEntry,
		page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`location.pathname + " " + document.readyState`))
		if err == nil && s == path+" complete" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Back did not show %s: %q %v", path, s, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// clickSubmitByPosition clicks an element found by evaluation, with the
// mouse, and waits for the page the click leads to.
func clickSubmitByPosition(t *testing.T, tb *tab, sel string) *network.Response {
	t.Helper()
	xy := eval[[]float64](t, tb, fmt.Sprintf(`(() => { const b = document.querySelector(%q);
		b.scrollIntoView({block: "center"}); const r = b.getBoundingClientRect();
		return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.MouseClickXY(xy[0], xy[1]))
	if err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	return resp
}

// clickLink clicks a link, checks its text and waits for the next page.
func clickLink(t *testing.T, tb *tab, sel, text string) {
	t.Helper()
	if got := tb.text(t, sel); got != text {
		t.Errorf("link %s says %q, want %q", sel, got, text)
	}
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	if resp.Status != 200 {
		t.Fatalf("clicking %s: status %d", sel, resp.Status)
	}
}
