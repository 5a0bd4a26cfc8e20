package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// drainRound is one round: the node, then the raw references.
type drainRound struct {
	node time.Duration // from the link's start until it holds central's acknowledgement of the last event
	// nodeSide: from the link's start until a watching subscriber has the
	// link's last batch, the broker's PUBACK of it on its way to the node;
	// 0 when unknown (resends: the count no longer tells the last batch).
	nodeSide          time.Duration
	raw, rawWin       time.Duration // the link's batches, 1 and -inflight in flight
	rawEv, rawEvWin   time.Duration // every event alone, 1 and -event-inflight in flight
	centralCPU        time.Duration // central's process over the node's drain
	stored            int64         // events central stored in the drain (resends counted again)
	resends, sessions int64
}

// component is one step of the drain measured alone, in this process.
type component struct {
	what string
	took time.Duration
	n    int // how many times the step ran
}

func benchDrain(ctx context.Context, cfg config, mq *broker, src, dir string, res *results) error {
	topic := wire.Topic(municipality, nodeID, wire.KindUp)
	// With -delay, the node and the raw publishers reach the broker
	// through a proxy that delays each direction; central and the
	// subscribers sit beside the broker.
	pubURL := mq.url
	if cfg.delay > 0 {
		p, err := startProxy(strings.TrimPrefix(mq.url, "tcp://"), cfg.delay)
		if err != nil {
			return err
		}
		defer p.close()
		pubURL = "tcp://" + p.ln.Addr().String()
	}
	// The warm-up pass: a drain with a subscriber capturing the link's
	// messages, which the raw publisher then sends. Unmeasured.
	var captured [][]byte
	capt, err := startCapture(mq.url, topic)
	if err != nil {
		return err
	}
	w, err := drainNode(ctx, mq, pubURL, src, filepath.Join(dir, "warmup"), cfg.events, cfg.batch, cfg.linkInFlight, 0)
	captured = capt.stop()
	if err != nil {
		return err
	}
	// The same batches encoded again: the link's messages are these, byte
	// for byte, unless it had to resend.
	want, err := encodeBatches(ctx, src, cfg.batch)
	if err != nil {
		return err
	}
	same := len(want) == len(captured)
	for i := 0; same && i < len(want); i++ {
		same = bytes.Equal(want[i], captured[i])
	}
	if !same {
		fmt.Fprintf(os.Stderr, "syncbench: the warm-up drain sent %d messages (%d resends), not the %d batches: the raw publisher sends the batches\n",
			len(captured), w.resends, len(want))
	}
	msgs := want
	res.msgs = len(msgs)
	for _, m := range msgs {
		res.msgBytes += len(m)
	}
	fmt.Fprintf(os.Stderr, "syncbench: warm-up drain %v; the link sent %d messages, %d payload bytes (%.1f B/event)%s\n",
		ms(w.node), len(msgs), res.msgBytes, float64(res.msgBytes)/float64(cfg.events),
		map[bool]string{true: ", identical to wire.EncodeBatch of the log's batches", false: ""}[same])
	// The per-event reference: what a publisher without Safepoint would
	// send for the same reports, each event's JSON as the log holds it.
	evMsgs, err := eventMessages(ctx, src)
	if err != nil {
		return err
	}
	res.evMsgs = len(evMsgs)
	for _, m := range evMsgs {
		res.evBytes += len(m)
	}
	fmt.Fprintf(os.Stderr, "syncbench: the per-event reference sends %d messages, %d payload bytes (%.1f B/event)\n",
		len(evMsgs), res.evBytes, float64(res.evBytes)/float64(len(evMsgs)))

	if res.components, err = components(ctx, src, filepath.Join(dir, "components"), msgs, cfg.batch); err != nil {
		return err
	}

	for round := range cfg.rounds {
		r, err := drainNode(ctx, mq, pubURL, src, filepath.Join(dir, "round"+strconv.Itoa(round)), cfg.events, cfg.batch, cfg.linkInFlight, len(msgs))
		if err != nil {
			return err
		}
		if cfg.raw {
			for _, ref := range []struct {
				d      *time.Duration
				msgs   [][]byte
				window int
			}{{&r.raw, msgs, 1}, {&r.rawWin, msgs, cfg.inflight}, {&r.rawEv, evMsgs, 1}, {&r.rawEvWin, evMsgs, cfg.evInflight}} {
				if *ref.d, err = drainRaw(ctx, mq, pubURL, topic, ref.msgs, ref.window); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(os.Stderr, "syncbench: round %d  node %v (node side %v; %s events/s, central CPU %v, stored %d, resends %d)  raw batches %v, ×%d %v  raw events %v, ×%d %v\n",
			round+1, ms(r.node), ms(r.nodeSide), bench.Thousands(float64(cfg.events)/r.node.Seconds()), ms(r.centralCPU), r.stored, r.resends,
			ms(r.raw), cfg.inflight, ms(r.rawWin), ms(r.rawEv), cfg.evInflight, ms(r.rawEvWin))
		res.drain = append(res.drain, r)
	}
	return nil
}

// eventMessages is every event of the log as its own message: the event's
// JSON (node.Event, as the log holds it and a batch carries it),
// uncompressed.
func eventMessages(ctx context.Context, file string) ([][]byte, error) {
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	events, err := l.EventsAfter(ctx, 0, int(l.Head()))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(events))
	for i, e := range events {
		if out[i], err = json.Marshal(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// drainNode copies the node's log, starts a fresh central and runs the
// link until the node holds central's acknowledgement of all n events.
// With watch > 0, a plain subscriber in a process of its own (beside
// central, directly on the broker) waits for that many messages on the
// node's up topic: the time of the last is the node's side of the drain.
func drainNode(ctx context.Context, mq *broker, brokerURL, src, dir string, n, batch, inFlight, watch int) (drainRound, error) {
	var r drainRound
	file := filepath.Join(dir, "node", eventlog.FileName)
	if err := copyFile(src, file); err != nil {
		return r, err
	}
	c, err := startCentral(mq.url, filepath.Join(dir, "central"), "")
	if err != nil {
		return r, err
	}
	defer func() {
		c.stop()
		// No retained ack or birth may answer the next round's link.
		clearRetained(mq.url, wire.Topic(municipality, nodeID, wire.KindAck), wire.Topic(municipality, nodeID, wire.KindStatus))
	}()
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return r, err
	}
	defer l.Close()
	if l.Head() != uint64(n) {
		return r, fmt.Errorf("node log holds %d events, want %d", l.Head(), n)
	}
	var watcher *child
	if watch > 0 {
		if watcher, err = startSub(mq.url, wire.Topic(municipality, nodeID, wire.KindUp), watch); err != nil {
			return r, err
		}
		defer watcher.stop()
	}
	var h countingHandler
	// A short MinBackoff: a lost connection (none is expected) should show
	// as a resend or a second session, not as a second of waiting.
	lk, err := link.New(link.Opts{Broker: brokerURL, Municipality: municipality, Log: l, BatchSize: batch, InFlight: inFlight,
		MinBackoff: 50 * time.Millisecond, Logger: slog.New(&h)})
	if err != nil {
		return r, err
	}
	c0, _ := bench.CPUTime(c.pid())
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- lk.Run(lctx) }()
	for lk.Status().Acked < uint64(n) {
		if time.Since(start) > 5*time.Minute || ctx.Err() != nil {
			cancel()
			<-done
			return r, fmt.Errorf("the node has %d of %d events acknowledged after %v", lk.Status().Acked, n, time.Since(start))
		}
		time.Sleep(200 * time.Microsecond)
	}
	r.node = time.Since(start)
	c1, _ := bench.CPUTime(c.pid())
	cancel()
	<-done
	r.centralCPU = c1 - c0
	r.resends, r.sessions = h.resends.Load(), h.sessions.Load()
	st, err := c.stats()
	if err != nil {
		return r, err
	}
	r.stored = st.Accepted
	if watcher != nil {
		last, err := watcher.finished(10 * time.Second)
		if err != nil {
			return r, fmt.Errorf("watcher: %w", err)
		}
		if r.resends == 0 && r.sessions <= 1 {
			r.nodeSide = last.Sub(start)
		}
	}
	return r, nil
}

// drainRaw publishes msgs at QoS 1 to topic through pubURL, window at a
// time (1: each waits for its PUBACK before the next, as the link's
// publishes do), to a plain subscriber in a process of its own, and times
// from the publisher's connect until the subscriber has them all.
func drainRaw(ctx context.Context, mq *broker, pubURL, topic string, msgs [][]byte, window int) (time.Duration, error) {
	sub, err := startSub(mq.url, topic, len(msgs))
	if err != nil {
		return 0, err
	}
	defer sub.stop()
	start := time.Now()
	// The link's client options.
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(pubURL).SetClientID("raw-publisher").
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetWriteTimeout(10 * time.Second).SetOrderMatters(false))
	if err := wait(ctx, c.Connect()); err != nil {
		return 0, fmt.Errorf("raw publisher: %w", err)
	}
	defer c.Disconnect(250)
	var pending []mqtt.Token
	for _, m := range msgs {
		pending = append(pending, c.Publish(topic, 1, false, m))
		for len(pending) >= window {
			if err := wait(ctx, pending[0]); err != nil {
				return 0, fmt.Errorf("raw publish: %w", err)
			}
			pending = pending[1:]
		}
	}
	for _, t := range pending {
		if err := wait(ctx, t); err != nil {
			return 0, fmt.Errorf("raw publish: %w", err)
		}
	}
	if _, err := sub.finished(time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// encodeBatches encodes the log's events as the link does: batch at a
// time, with the log's head.
func encodeBatches(ctx context.Context, file string, batch int) ([][]byte, error) {
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var out [][]byte
	for after := uint64(0); ; {
		events, err := l.EventsAfter(ctx, after, batch)
		if err != nil || len(events) == 0 {
			return out, err
		}
		msg, err := wire.EncodeBatch(wire.Batch{Origin: l.Origin(), Municipality: municipality, Head: l.Head(), Events: events})
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
		after = events[len(events)-1].Seq
	}
}

// components times the drain's steps alone, in this process, without
// MQTT: where a drain's time can go.
func components(ctx context.Context, src, dir string, msgs [][]byte, batch int) ([]component, error) {
	file := filepath.Join(dir, "node", eventlog.FileName)
	if err := copyFile(src, file); err != nil {
		return nil, err
	}
	var out []component
	start := time.Now()
	if _, err := encodeBatches(ctx, file, batch); err != nil {
		return nil, err
	}
	// encodeBatches opens and folds the log too: take that off.
	open := time.Now()
	l, err := eventlog.Open(ctx, file, eventlog.Options{})
	if err != nil {
		return nil, err
	}
	openTook := time.Since(open)
	out = append(out, component{"node: read the log and encode (`EventsAfter`, `wire.EncodeBatch`)", max(open.Sub(start)-openTook, 0), len(msgs)})

	start = time.Now()
	for i := range msgs {
		if _, err := l.RecordPeerAck(ctx, "bench", uint64(i+1)); err != nil {
			l.Close()
			return nil, err
		}
	}
	out = append(out, component{"node: record the acknowledgement (`RecordPeerAck`, a transaction each, as the link does)", time.Since(start), len(msgs)})
	l.Close()

	start = time.Now()
	batches := make([]wire.Batch, len(msgs))
	for i, m := range msgs {
		if batches[i], err = wire.DecodeBatch(m); err != nil {
			return nil, err
		}
	}
	out = append(out, component{"central: decode (`wire.DecodeBatch`)", time.Since(start), len(msgs)})

	c, err := eventlog.Open(ctx, filepath.Join(dir, "central", eventlog.FileName), eventlog.Options{Origin: "central"})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	start = time.Now()
	for _, b := range batches {
		if _, _, err := c.Ingest(ctx, b.Events); err != nil {
			return nil, err
		}
	}
	out = append(out, component{"central: store (`Ingest`, a transaction per batch)", time.Since(start), len(msgs)})
	return out, nil
}

// countingHandler counts the link's resends and sessions, and passes its
// warnings and errors on to stderr.
type countingHandler struct {
	resends, sessions atomic.Int64
}

var stderrLog = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "Sync: resending"):
		h.resends.Add(1)
	case r.Message == "Sync link up":
		h.sessions.Add(1)
	}
	if r.Level >= slog.LevelWarn {
		return stderrLog.Handle(ctx, r)
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// capture subscribes to a topic and keeps every message's payload.
type capture struct {
	c    mqtt.Client
	mu   sync.Mutex
	msgs [][]byte
}

func startCapture(brokerURL, topic string) (*capture, error) {
	cp := &capture{}
	cp.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("syncbench-capture").
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(true))
	if err := wait(context.Background(), cp.c.Connect()); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if err := wait(context.Background(), cp.c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		cp.mu.Lock()
		cp.msgs = append(cp.msgs, slices.Clone(m.Payload()))
		cp.mu.Unlock()
	})); err != nil {
		cp.c.Disconnect(0)
		return nil, fmt.Errorf("capture: %w", err)
	}
	return cp, nil
}

func (cp *capture) stop() [][]byte {
	time.Sleep(100 * time.Millisecond) // the last messages, if any are still on their way
	cp.c.Disconnect(250)
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.msgs
}

// clearRetained deletes retained messages (an empty retained message).
func clearRetained(brokerURL string, topics ...string) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("syncbench-clear").SetCleanSession(true))
	if err := wait(context.Background(), c.Connect()); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench: clearing retained messages:", err)
		return
	}
	defer c.Disconnect(250)
	for _, t := range topics {
		if err := wait(context.Background(), c.Publish(t, 1, true, []byte{})); err != nil {
			fmt.Fprintln(os.Stderr, "syncbench: clearing retained messages:", err)
		}
	}
}
