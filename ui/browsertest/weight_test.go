package browsertest

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// maxPageWeight bounds what a resident page costs over a weak Wi-Fi: the
// HTML and everything it loads.
const maxPageWeight = 50 * 1024

// subresource finds what a page loads: stylesheets and scripts.
var subresource = regexp.MustCompile(`<(?:link[^>]+href|script[^>]+src)="([^"]+)"`)

// TestPageWeight: every resident page, in Swedish and English, with the
// stylesheet and script it loads, stays under 50 kB.
func TestPageWeight(t *testing.T) {
	n := sharedNode(t)
	receipt := n.apiCheckIn(t)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(target string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "identity") // count the bytes unpacked
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", target, resp.StatusCode, err)
		}
		return b
	}
	assets := map[string]int{} // path → bytes, fetched once
	for _, lang := range []string{"sv", "en"} {
		for _, p := range residentPages(receipt) {
			html := get(n.base + p + "?lang=" + lang)
			total := len(html)
			var loads []string
			for _, m := range subresource.FindAllSubmatch(html, -1) {
				src := string(m[1])
				if _, ok := assets[src]; !ok {
					assets[src] = len(get(n.base + src))
				}
				total += assets[src]
				loads = append(loads, src)
			}
			if len(loads) == 0 {
				t.Errorf("%s?lang=%s loads no stylesheet or script: the pattern no longer finds them", p, lang)
			}
			t.Logf("%-16s %s: %5d B HTML + %v = %5d B", p, lang, len(html), loads, total)
			if total > maxPageWeight {
				t.Errorf("%s?lang=%s weighs %d B with what it loads, more than %d", p, lang, total, maxPageWeight)
			}
		}
	}
	t.Logf("assets: %v", assets)
}
