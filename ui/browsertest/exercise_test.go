package browsertest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// phoneHeight is a small Android phone's first screen in CSS pixels.
const phoneHeight = 640

// ingestExercise gives a new data directory central's exercise activation,
// as the link stores it: an event of origin "central".
func ingestExercise(data string) error {
	ctx := context.Background()
	l, err := eventlog.Open(ctx, filepath.Join(data, eventlog.FileName), eventlog.Options{Origin: "ovning-a"})
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(node.PointActivation{State: node.ActivationExercise, By: "kommunen", Directive: "d-exercise"})
	if _, _, err := l.Ingest(ctx, []node.Event{{Origin: wire.Central, Seq: 1, HLC: l.Clock().Now(),
		Type: node.TypePointActivation, Payload: payload}}); err != nil {
		l.Close()
		return err
	}
	return l.Close()
}

// bannerBox is what the page says of the activation banner.
type bannerBox struct {
	Text, Display, Visibility, Role string
	Opacity                         float64
	Top, Bottom, Left, Right        float64
	Hit                             bool // the element at its centre is the banner: nothing covers it
	ViewW, ViewH                    float64
}

// TestPortalExercise: a point that central has put in exercise shows it
// to residents in Swedish and English on a small phone: the banner is
// visible in the first screen on every page, the title starts with
// ÖVNING / EXERCISE, and axe finds nothing serious or critical on the
// status page with the banner (its colours included). With
// -update-screenshots it writes docs/screenshots/portal-exercise.png.
func TestPortalExercise(t *testing.T) {
	needPeer(t, "axe-core", axePath)
	n, err := startNodeWith(t.TempDir(), ingestExercise)
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(n.stop)
	n.publish(t,
		map[string]string{"sv": "Övning: strömavbrott i Ramsjö", "en": "Exercise: power cut in Ramsjö"},
		map[string]string{"sv": "Det här är en övning. Här finns värme, dricksvatten och laddning.",
			"en": "This is an exercise. Here you will find warmth, drinking water and charging."}, "warning")
	receipt := n.apiCheckIn(t)

	browser := newBrowser(t)
	tb := newTab(t, browser, tabOptions{})
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"sv", "en"} {
		want, short := T(lang, "activation.exercise"), T(lang, "activation.exercise.short")
		for _, p := range residentPages(receipt) {
			where := p + "?lang=" + lang
			tb.open(t, n.base+where, 200)
			if got := eval[string](t, tb, `document.title`); !strings.HasPrefix(got, short+" · ") {
				t.Errorf("%s: title %q, want it to start with %q", where, got, short+" · ")
			}
			b := eval[bannerBox](t, tb, `(() => {
				const e = document.querySelector("p.activation.activation-exercise");
				if (!e) return {text: ""};
				const s = getComputedStyle(e), r = e.getBoundingClientRect();
				const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
				return {text: e.innerText, display: s.display, visibility: s.visibility, role: e.getAttribute("role") || "",
					opacity: parseFloat(s.opacity), top: r.top, bottom: r.bottom, left: r.left, right: r.right,
					hit: !!at && e.contains(at), vieww: innerWidth, viewh: innerHeight};
			})()`)
			if b.Text != want {
				t.Errorf("%s: the exercise banner says %q, want %q", where, b.Text, want)
				continue
			}
			if b.Display == "none" || b.Visibility != "visible" || b.Opacity < 1 || !b.Hit || b.Bottom <= b.Top {
				t.Errorf("%s: the banner is not visible: %+v", where, b)
			}
			if b.Top < 0 || b.Left < 0 || b.Bottom > b.ViewH || b.Right > b.ViewW {
				t.Errorf("%s: the banner is not within the first %.0f×%.0f screen: %+v", where, b.ViewW, b.ViewH, b)
			}
			if b.ViewW != phoneWidth || b.ViewH != phoneHeight {
				t.Errorf("%s: viewport %.0f×%.0f, want %d×%d", where, b.ViewW, b.ViewH, phoneWidth, phoneHeight)
			}
			if p == "/" {
				checkPhoneLayout(t, tb, where)
				runAxe(t, tb, where+" with the exercise banner", nil)
				bannerContrast(t, tb, where)
				t.Logf("%s: the banner at %.0f–%.0f px of %.0f", where, b.Top, b.Bottom, b.ViewH)
			}
		}
	}
	tb.open(t, n.base+"/?lang=sv", 200)
	shot(t, tb, "portal-exercise.png", phoneWidth, phoneHeight)

	// The staff board says it too (staff.css's banner), on a tablet.
	staff := newTab(t, browser, tabOptions{ignoreCert: true})
	if err := chromedp.Do(staff.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	loginBoard(t, staff, n)
	waitFor(t, staff, "the live board", `document.getElementById("live").dataset.state === "live"`, 10*time.Second)
	if got := staff.text(t, "p.activation.activation-exercise"); !strings.HasPrefix(got, "ÖVNING") {
		t.Errorf("the board's banner says %q, want ÖVNING …", got)
	}
	boardAxe(t, staff, "the board with the exercise banner")
	bannerContrast(t, staff, "the board")
	if t.Failed() {
		t.Logf("the status page:\n%s", tb.text(t, "body"))
	}
}

// bannerContrast has axe (injected already) check the banner's colour
// contrast on its own, and wants it passed: not a violation, and not left
// "incomplete" (unknown background), which the full run would not report.
func bannerContrast(t *testing.T, tb *tab, where string) {
	t.Helper()
	r := eval[map[string]int](t, tb, `axe.run("p.activation", {runOnly: ["color-contrast"]})
		.then(r => ({passes: r.passes.reduce((n, v) => n + v.nodes.length, 0),
			violations: r.violations.reduce((n, v) => n + v.nodes.length, 0),
			incomplete: r.incomplete.reduce((n, v) => n + v.nodes.length, 0)}))`, chromedp.EvalAwaitPromise)
	if r["passes"] == 0 || r["violations"] > 0 || r["incomplete"] > 0 {
		t.Errorf("%s: the banner's colour contrast: %v, want passed only", where, r)
	}
	ratio := eval[string](t, tb, `axe.run("p.activation", {runOnly: ["color-contrast"]}).then(r =>
		r.passes.flatMap(v => v.nodes).map(n => n.target.join(" ") + " " + ((n.any[0] || {}).data || {}).contrastRatio).join(", "))`, chromedp.EvalAwaitPromise)
	t.Logf("%s: the banner's contrast: %s", where, ratio)
}
