package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestNoInjectedScriptRuns has JavaScript on, as on most phones, and shows
// residents' and staff's pages holding markup from outside: no dialog may
// open and no injected script may run. The CSP blocks inline script as a
// second line behind the escaping.
func TestNoInjectedScriptRuns(t *testing.T) {
	n := sharedNode(t)
	payload := xssScript + " " + xssAttr
	n.publish(t, map[string]string{"sv": "Rubrik " + payload, "en": "Title " + payload},
		map[string]string{"sv": "Text " + payload, "en": "Text " + payload}, "danger")
	reportText := fmt.Sprintf("Hjälp %s %d", payload, time.Now().UnixNano())
	receipt := n.apiReport(t, reportText, payload)
	browser := newBrowser(t)

	// noScriptRan checks the page's global and the dialogs so far.
	noScriptRan := func(t *testing.T, tb *tab, where string) {
		t.Helper()
		if v := eval[string](t, tb, `typeof window.__xss === "undefined" ? "undefined" : String(window.__xss)`); v != "undefined" {
			t.Errorf("%s: window.__xss = %s: an injected script ran", where, v)
		}
		if d := tb.dialogList(); len(d) > 0 {
			t.Errorf("%s: dialogs opened: %q", where, d)
		}
	}

	t.Run("resident pages", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{acceptLang: "sv"})
		for _, p := range []string{"/", "/announcements", "/announcements?lang=en", "/r/" + receipt} {
			resp := tb.open(t, n.base+p, 200)
			checkCSP(t, p, resp)
			if !strings.Contains(tb.text(t, "main"), payload) && p != "/r/"+receipt {
				t.Errorf("%s: the announcement's text is not shown", p)
			}
			noScriptRan(t, tb, p)
		}
		// The page's own script did run: the status page's live block
		// opened its stream. Without that, "no script ran" proves nothing.
		if !tb.requested("/events") {
			t.Error("the status page never opened /events: portal.js did not run, so JavaScript seems off")
		}

		// A refused form puts the typed text back in a textarea and an
		// attribute.
		tb.open(t, n.base+"/report", 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.SetValue(chromedp.ID("text"), "   "),
			chromedp.SetValue(chromedp.ID("place"), payload),
			chromedp.Click(chromedp.CSS(`input[name=category][value=other]`)),
		); err != nil {
			t.Fatal(err)
		}
		if resp := tb.submit(t, "form.resident"); resp.Status != 400 {
			t.Fatalf("report of spaces: status %d, want 400", resp.Status)
		}
		if got := eval[string](t, tb, `document.getElementById("place").value`); got != payload {
			t.Errorf("refused form: place %q, want the payload verbatim", got)
		}
		noScriptRan(t, tb, "refused report form")

		// The CSP blocks inline script and inline handlers: add both to the
		// page (DevTools evaluation itself is not subject to the CSP) and
		// wait for the violations.
		violations := eval[[]string](t, tb, `new Promise(resolve => {
			const seen = [];
			document.addEventListener("securitypolicyviolation", e => {
				seen.push(e.effectiveDirective);
				if (seen.length === 2) resolve(seen);
			});
			const s = document.createElement("script");
			s.textContent = "window.__inline = 1";
			document.head.appendChild(s);
			const img = document.createElement("img");
			img.setAttribute("onerror", "window.__inline = 2");
			img.src = "data:,x";
			document.body.appendChild(img);
			setTimeout(() => resolve(seen), 3000);
		})`, chromedp.EvalAwaitPromise)
		if v := eval[bool](t, tb, `typeof window.__inline === "undefined"`); !v {
			t.Error("an inline script added to the page ran: the CSP does not block it")
		}
		joined := strings.Join(violations, " ")
		if !strings.Contains(joined, "script-src-elem") || !strings.Contains(joined, "script-src-attr") {
			t.Errorf("CSP violations %q, want script-src-elem and script-src-attr", violations)
		}

		// And the dialog watch works: a dialog opened from DevTools is seen.
		if err := chromedp.Do(tb.ctx, chromedp.Evaluate[chromedp.Void](`setTimeout(() => alert("probe"), 0)`)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if d := tb.dialogList(); len(d) == 1 && d[0] == "alert: probe" {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the dialog watch saw %q, want only the probe alert", d)
			}
		}
	})

	t.Run("staff board", func(t *testing.T) {
		tb := newTab(t, browser, tabOptions{ignoreCert: true})
		tb.open(t, n.staff+"/login", 200)
		if err := chromedp.Do(tb.ctx,
			chromedp.SendKeys(chromedp.ID("name"), adminName),
			chromedp.SendKeys(chromedp.ID("password"), adminPass),
		); err != nil {
			t.Fatal(err)
		}
		resp := tb.submit(t, "form")
		if u := tb.location(t); resp.Status != 200 || u.Path != "/board" {
			t.Fatalf("after logging in: status %d at %s, want the board", resp.Status, u)
		}
		checkCSP(t, "/board", resp)
		board := tb.text(t, "main")
		if !strings.Contains(board, reportText) {
			t.Errorf("the board does not show the report's text verbatim:\n%s", board)
		}
		if !strings.Contains(board, "Rubrik "+payload) {
			t.Errorf("the board does not show the announcement's title verbatim:\n%s", board)
		}
		if n := eval[int](t, tb, `document.querySelectorAll("script:not([src^='/static/']), img, [onerror], [onload], [onclick]").length`); n != 0 {
			t.Errorf("the board holds %d inline script, img or handler element(s)", n)
		}
		noScriptRan(t, tb, "/board")
	})
}

// checkCSP checks a page's Content-Security-Policy allows no inline script.
func checkCSP(t *testing.T, where string, resp *network.Response) {
	t.Helper()
	var csp string
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Content-Security-Policy") {
			csp = fmt.Sprint(v)
		}
	}
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("%s: Content-Security-Policy %q lacks default-src 'self'", where, csp)
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", " *"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: Content-Security-Policy %q has %s", where, csp, bad)
		}
	}
}
