package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// refetchPath is what the live page (ui/web/static/central.js) fetches
// again when its websocket says the picture changed: /central's live
// parts, which it swaps in.
const refetchPath = "/central/live"

// liveResult is the page's update latency over the updates.
type liveResult struct {
	updates int
	// From the publish: the first websocket message after it; the message
	// whose refetch showed the update; that refetch's answer.
	first, told, shown []time.Duration
	msgBytes           int // the message that told
	refetchBytes       int
	missed             int
}

// wsMessage is one message the page's websocket received.
type wsMessage struct {
	at   time.Time
	data []byte
}

// live opens the page's websocket and sends updates events as point
// p-0001 over central's embedded broker, spacing apart, timing each to the
// page. seeded is how many events central holds of p-0001.
func live(ctx context.Context, c *central, seeded uint64, updates int, spacing time.Duration) (liveResult, error) {
	res := liveResult{updates: updates}
	hdr := http.Header{"Origin": {c.base}, "Cookie": {c.cookie}}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(c.base, "http")+wsPath, hdr)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%v (%s)", err, resp.Status)
		}
		return res, fmt.Errorf("websocket %s: %w", wsPath, err)
	}
	defer ws.Close()
	msgs := make(chan wsMessage, 64)
	go func() {
		defer close(msgs)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			msgs <- wsMessage{at: time.Now(), data: b}
		}
	}()

	// Point p-0001, as its node: its own broker account and client id,
	// its events above what central holds of it.
	id, m := pointID(0), municipalityOf(0).code
	seq := seeded
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + c.broker).SetClientID(id).
		SetUsername(id).SetPassword(brokerPassword).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).SetOrderMatters(true))
	if err := wait(ctx, cl.Connect()); err != nil {
		return res, fmt.Errorf("mqtt connect as %s: %w", id, err)
	}
	defer cl.Disconnect(100)
	topic := wire.Topic(m, id, wire.KindUp)
	publish := func(k int) error {
		seq++
		now := time.Now().UTC().Truncate(time.Millisecond)
		// An item counted below its low mark: the page lists it in the
		// point's row.
		p, _ := json.Marshal(node.InventoryChanged{Item: marker(k), Quantity: 0, Unit: "st", Low: 2, By: account})
		msg, err := wire.EncodeBatch(wire.Batch{Origin: id, Municipality: m, Head: seq, Events: []node.Event{{Origin: id, Seq: seq,
			HLC: node.MakeHLC(now.UnixMilli(), 0), Type: node.TypeInventoryChanged, OccurredAt: &now, Payload: p}}})
		if err != nil {
			return err
		}
		return wait(ctx, cl.Publish(topic, 1, false, msg))
	}

	client := &http.Client{Timeout: 30 * time.Second}
	// A first update, not measured: the node's connection and first
	// batch change the picture too.
	for k := -1; k < updates; k++ {
		drain(msgs, 500*time.Millisecond)
		want := []byte(marker(k))
		t0 := time.Now()
		if err := publish(k); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		var first, told, shown time.Duration
		var size, refetch int
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case msg, ok := <-msgs:
				if !ok {
					return res, errors.New("the websocket closed")
				}
				if !pictureDelta(msg.data) {
					continue
				}
				if first == 0 {
					first = msg.at.Sub(t0)
				}
				// The page fetches the picture again on every message.
				b, err := get(client, c.base, refetchPath, c.cookie)
				if err != nil {
					return res, err
				}
				if bytes.Contains(b, want) {
					told, shown, size, refetch = msg.at.Sub(t0), time.Since(t0), len(msg.data), len(b)
					break wait
				}
			case <-deadline:
				break wait
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
		if k < 0 {
			continue
		}
		if shown == 0 {
			res.missed++
			fmt.Fprintf(os.Stderr, "centralbench: update %d: not shown within 10 s\n", k)
		} else {
			res.first, res.told, res.shown = append(res.first, first), append(res.told, told), append(res.shown, shown)
			res.msgBytes, res.refetchBytes = size, refetch
		}
		bench.Sleep(ctx, time.Until(t0.Add(spacing)))
	}
	for _, d := range [][]time.Duration{res.first, res.told, res.shown} {
		slices.Sort(d)
	}
	return res, nil
}

// marker is what update k writes, for the page's refetch to show: an
// item's name.
func marker(k int) string { return fmt.Sprintf("centralbench-%03d", k) }

// pictureDelta reports whether a message tells the page to fetch its parts
// again, as central.js decides: a delta with the picture's section (not a
// heartbeat, nor the snapshot a connection starts with).
func pictureDelta(b []byte) bool {
	var m struct {
		Type     string                     `json:"type"`
		Sections map[string]json.RawMessage `json:"sections"`
	}
	return json.Unmarshal(b, &m) == nil && m.Type == "delta" && m.Sections["picture"] != nil
}

// drain drops messages until none has come for quiet.
func drain(msgs <-chan wsMessage, quiet time.Duration) {
	for {
		select {
		case _, ok := <-msgs:
			if !ok {
				return
			}
		case <-time.After(quiet):
			return
		}
	}
}

// wait waits for a paho token, bounded by ctx and 30 s.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("timed out")
	}
}
