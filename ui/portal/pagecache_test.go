package portal

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/nodetest"
)

func TestPageCacheGenerations(t *testing.T) {
	var c pageCache
	key := pageKey{path: "/", lang: "sv"}
	stale := make(chan struct{})
	close(stale)
	c.put(stale, 5, key, []byte("stale"))
	if _, ok := c.get(5, key); ok {
		t.Error("a page rendered before the state changed was kept")
	}
	cur := make(chan struct{})
	c.put(cur, 5, key, []byte("now"))
	c.put(cur, 4, key, []byte("late")) // rendered in the minute before
	c.put(cur, 5, pageKey{path: "/", lang: "en"}, []byte("en"))
	if b, ok := c.get(5, key); !ok || string(b.b) != "now" || b.length != "3" {
		t.Errorf("get = %q %q %v, want the page of this minute", b.b, b.length, ok)
	}
	if _, ok := c.get(5, pageKey{path: "/", lang: "en"}); !ok {
		t.Error("a second language replaced the first")
	}
	if _, ok := c.get(6, key); ok {
		t.Error("hit after the minute turned")
	}
	close(cur)
	if _, ok := c.get(5, key); ok {
		t.Error("hit after the state changed")
	}
}

func TestCachedPageFollowsTheMinute(t *testing.T) {
	wall := nodetest.NewWall(time.Date(2026, 11, 24, 13, 59, 30, 0, time.UTC)) // 14:59 in Stockholm
	srv, _ := newTestServer(t, Options{}, node.NewClock(wall.Now))
	page := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Vary") != "Accept-Language, Cookie" {
			t.Fatalf("%s, Vary %q", resp.Status, resp.Header.Get("Vary"))
		}
		return string(b)
	}
	first := page()
	if !strings.Contains(first, "14:59") {
		t.Fatal("status page does not show 14:59")
	}
	if again := page(); again != first {
		t.Error("the same minute and state gave another page")
	}
	wall.Set(wall.Now().Add(time.Minute))
	if next := page(); !strings.Contains(next, "15:00") {
		t.Error("status page still shows the minute before")
	}
}
