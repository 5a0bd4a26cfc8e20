package office

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnswers: desks asking together wait for one encoding; a new picture
// version, a new half minute or another scope is encoded again.
func TestAnswers(t *testing.T) {
	var a answers
	var builds atomic.Int32
	build := func(body string) func() []byte {
		return func() []byte {
			builds.Add(1)
			time.Sleep(20 * time.Millisecond)
			return []byte(body)
		}
	}
	now := time.Date(2026, 12, 7, 6, 0, 1, 0, time.UTC)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := a.get("k", 1, now, build("v1")).body; string(b) != "v1" {
				t.Errorf("got %q", b)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("16 desks together: %d encodings, want 1", n)
	}
	steps := []struct {
		key     string
		version uint64
		at      time.Time
		want    string
		builds  int32
	}{
		{"k", 1, now.Add(20 * time.Second), "v1", 1}, // same half minute
		{"k", 2, now.Add(20 * time.Second), "v2", 2}, // the picture changed
		{"k", 2, now.Add(40 * time.Second), "v3", 3}, // the next half minute: silence may have begun
		{"other-scope", 2, now.Add(40 * time.Second), "v4", 4},
		{"k", 2, now.Add(41 * time.Second), "v3", 4},
	}
	for i, s := range steps {
		if b := a.get(s.key, s.version, s.at, build(s.want)).body; string(b) != s.want || builds.Load() != s.builds {
			t.Errorf("step %d: %q after %d encodings, want %q after %d", i, b, builds.Load(), s.want, s.builds)
		}
	}
}

// TestAnswerGzip: a client that takes gzip gets the same JSON compressed,
// one that does not (or refuses it with q=0) gets it plain.
func TestAnswerGzip(t *testing.T) {
	body := []byte(strings.Repeat(`{"id":"p-0001","status":"ok"},`, 500))
	e := (&answers{}).get("k", 1, time.Now(), func() []byte { return body })
	for _, c := range []struct {
		accept string
		gz     bool
	}{{"gzip, deflate, br", true}, {"br;q=1.0, gzip;q=0.8", true}, {"", false}, {"gzip;q=0", false}, {"deflate", false}} {
		req := httptest.NewRequest("GET", "/api/central/points", nil)
		req.Header.Set("Accept-Encoding", c.accept)
		rec := httptest.NewRecorder()
		e.write(rec, req)
		got := rec.Body.Bytes()
		if c.gz {
			if rec.Header().Get("Content-Encoding") != "gzip" || len(got) >= len(body)/4 {
				t.Fatalf("Accept-Encoding %q: %q, %d bytes of %d", c.accept, rec.Header().Get("Content-Encoding"), len(got), len(body))
			}
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if rec.Header().Get("Content-Encoding") != "" {
			t.Fatalf("Accept-Encoding %q: compressed", c.accept)
		}
		if !bytes.Equal(got, body) || rec.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: the body differs, or no Vary", c.accept)
		}
	}
}
