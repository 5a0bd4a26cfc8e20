package browsertest

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the phone-width screenshots to docs/screenshots")

// screenshotDir is docs/screenshots, from this package's directory.
const screenshotDir = "../../docs/screenshots"

// phoneWidth is a small Android phone's width in CSS pixels.
const phoneWidth = 360

// TestScreenshots renders the status page, the check-in form and a receipt
// at phone width on a node of its own (one announcement, nothing else), and
// checks what a small screen needs: nothing wider than the screen, body
// text of at least 16 px, buttons one can hit. With -update-screenshots it
// writes the PNGs to docs/screenshots.
func TestScreenshots(t *testing.T) {
	n := freshNode(t)
	n.publish(t,
		map[string]string{"sv": "Strömavbrott i hela Ramsjö", "en": "Power cut in all of Ramsjö"},
		map[string]string{
			"sv": "Elnätet räknar med ström igen i morgon kväll. Här finns värme, dricksvatten och laddning. Ta med mediciner och varma kläder.",
			"en": "The grid company expects power back tomorrow evening. Here you will find warmth, drinking water and charging. Bring medicines and warm clothes.",
		}, "warning")
	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{acceptLang: "sv"})
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(phoneWidth, 800, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}

	// A check-in through the form, for the receipt.
	tb.open(t, n.base+"/checkin?lang=sv", 200)
	if err := chromedp.Do(tb.ctx,
		chromedp.SetValue(chromedp.ID("size"), "2"),
		chromedp.Click(chromedp.CSS(`input[name=status][value=safe]`)),
	); err != nil {
		t.Fatal(err)
	}
	if resp := tb.submit(t, "form.resident"); resp.Status != 200 {
		t.Fatalf("check-in: status %d", resp.Status)
	}
	receipt := tb.location(t)
	receipt.RawQuery += "&lang=sv"

	shots := []struct{ file, url string }{
		{"status-sv-360.png", n.base + "/?lang=sv"},
		{"status-en-360.png", n.base + "/?lang=en"},
		{"checkin-sv-360.png", n.base + "/checkin?lang=sv"},
		{"receipt-sv-360.png", receipt.String()}, // with ?new=1: as after the check-in
	}
	for _, s := range shots {
		tb.open(t, s.url, 200)
		checkPhoneLayout(t, tb, s.file)
		buf, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", s.file, err)
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", s.file, err)
		}
		if w := img.Bounds().Dx(); w != phoneWidth {
			t.Errorf("%s: screenshot %d px wide, want %d", s.file, w, phoneWidth)
		}
		if blank(img) {
			t.Errorf("%s: the screenshot is blank", s.file)
		}
		if *updateScreenshots {
			if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(screenshotDir, s.file)
			if err := os.WriteFile(path, buf, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d×%d, %d bytes)", path, img.Bounds().Dx(), img.Bounds().Dy(), len(buf))
		}
	}
}

// checkPhoneLayout checks the page at phone width: no sideways scrolling,
// readable body text, big enough tap targets.
func checkPhoneLayout(t *testing.T, tb *tab, where string) {
	t.Helper()
	if w := eval[int](t, tb, `document.documentElement.scrollWidth`); w > phoneWidth {
		t.Errorf("%s: the page is %d px wide at a %d px screen: it scrolls sideways", where, w, phoneWidth)
	}
	if px := eval[float64](t, tb, `parseFloat(getComputedStyle(document.body).fontSize)`); px < 16 {
		t.Errorf("%s: body text %.1f px, want at least 16", where, px)
	}
	// Links in the navigation, buttons and choices: at least 44 px high
	// (WCAG 2.5.5), so a cold or shaking finger hits them.
	small := eval[[]string](t, tb, `Array.from(document.querySelectorAll("nav a, .langs a, .button, button, label.choice, input:not([type=hidden]), textarea"))
		.filter(e => e.getBoundingClientRect().height > 0 && e.getBoundingClientRect().height < 44 && e.type !== "radio")
		.map(e => e.tagName.toLowerCase() + " " + JSON.stringify(e.innerText || e.name || "") + " " + Math.round(e.getBoundingClientRect().height) + "px")`)
	for _, s := range small {
		t.Errorf("%s: tap target under 44 px high: %s", where, s)
	}
}

// blank reports whether an image is a single colour.
func blank(img image.Image) bool {
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	r0, g0, b0, _ := first.RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r != r0 || g != g0 || bb != b0 {
				return false
			}
		}
	}
	return true
}
