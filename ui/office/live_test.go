package office

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// liveMsg is a message of /central/ws.
type liveMsg struct {
	web.Message
	version uint64
}

func dialLive(t *testing.T, e *picEnv, sess *webtest.Session, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if sess != nil {
		d.Jar = sess.C.Jar
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/central/ws", http.Header{"Origin": {origin}})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// readLive reads the next message within d; ok is false on a timeout.
func readLive(t *testing.T, c *websocket.Conn, d time.Duration) (liveMsg, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.ReadMessage()
	if err != nil {
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			return liveMsg{}, false
		}
		t.Fatalf("reading /central/ws: %v", err)
	}
	var m liveMsg
	if err := json.Unmarshal(b, &m.Message); err != nil {
		t.Fatalf("a message that is not JSON: %s", b)
	}
	for name, raw := range m.Sections {
		var pic struct{ Version uint64 }
		if name != "picture" || json.Unmarshal(raw, &pic) != nil {
			t.Fatalf("a section %s %s: want only the picture's version", name, raw)
		}
		m.version = pic.Version
	}
	return m, true
}

// TestLive: /central/ws says only that the picture changed (its version,
// never a point: each page may see another scope and fetches its own);
// a browser on another site is refused as the board's is; a burst of
// changes is sent as a few messages, throttled, the last one carrying
// the last version.
func TestLive(t *testing.T) {
	const throttle = 300 * time.Millisecond
	e := newPicEnv(t, Options{Throttle: throttle})
	e.fixture(t)
	vera := e.account(t, "vera", accounts.RoleViewer)

	if _, resp, err := dialLive(t, e, vera, "https://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign origin: %v %v, want 403", resp, err)
	}
	if _, resp, err := dialLive(t, e, nil, e.srv.URL); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %v %v, want 401", resp, err)
	}
	c, _, err := dialLive(t, e, vera, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	snap, ok := readLive(t, c, 5*time.Second)
	if !ok || snap.Type != "snapshot" || snap.version != e.pic.Version() {
		t.Fatalf("first: %+v (version %d), want a snapshot at %d", snap.Message, snap.version, e.pic.Version())
	}

	// One change: a message with the new version.
	e.feed(t, macken, ev{0, node.TypeServiceChanged, node.ServiceChanged{Service: "water", Status: "open"}})
	want := e.pic.Version()
	var m liveMsg
	for m.version < want {
		if m, ok = readLive(t, c, 5*time.Second); !ok {
			t.Fatalf("no message for the change to version %d", want)
		}
	}
	if m.Type != "delta" {
		t.Errorf("the change came as %s", m.Type)
	}
	if strings.Contains(string(m.Sections["picture"]), macken) {
		t.Error("the message names a point")
	}

	// A burst of 40 changes over a second: a few messages, not 40, and
	// nothing lost: the last says the last version.
	time.Sleep(throttle) // out of the last publish's throttle
	start := time.Now()
	for i := range 40 {
		e.feed(t, macken, ev{0, node.TypeInventoryChanged, node.InventoryChanged{Item: "vatten", Quantity: float64(i), Unit: "l"}})
		time.Sleep(25 * time.Millisecond)
	}
	burst := time.Since(start)
	final := e.pic.Version()
	deltas := 0
	for m.version < final {
		if m, ok = readLive(t, c, 5*time.Second); !ok {
			t.Fatalf("the last version %d never came (last %d)", final, m.version)
		}
		if m.Type == "delta" {
			deltas++
		}
	}
	// One a throttle, and one more for a poll (every 5 s) that may fall
	// in the burst.
	if most := int(burst/throttle) + 2; deltas > most {
		t.Errorf("%d messages for 40 changes in %v, want at most %d (one a %v)", deltas, burst.Round(time.Millisecond), most, throttle)
	}
	t.Logf("40 changes in %v: %d messages", burst.Round(time.Millisecond), deltas)
}
