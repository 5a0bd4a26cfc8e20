// Package link is the node's side of sync: it sends the node's own events
// to central over MQTT whenever a link is up. The outbox is the SQLite log
// itself: every event with a seq above central's acknowledged watermark is
// due, and only central's end-to-end acknowledgement (after it has stored
// the events) moves the watermark. MQTT is transport, not storage: neither
// paho's stores nor the broker's queue are relied on, so a lost connection,
// a restarted broker or a killed node loses nothing and duplicates nothing
// that central keeps.
package link

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/mqttx"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// Peer is the name under which central's acknowledgement is kept.
const Peer = "central"

// conflictRow (in peer_acks) records central acknowledging more than the
// log holds: see ErrAheadOfLog.
const conflictRow = "conflict"

// Opts configure a Link. Zero fields mean defaults.
type Opts struct {
	Broker       string // tcp://host:1883 or ssl://host:8883
	User         string
	Password     string
	TLS          *tls.Config
	Municipality string // SCB kommunkod
	Log          *eventlog.Log
	// BatchSize events per message (200) and InFlight batches sent but not
	// yet acknowledged (4): the bound on what is in the air.
	BatchSize, InFlight int
	// AckTimeout: no acknowledgement progress this long while batches are
	// in flight resends from the watermark (15 s).
	AckTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered wait between connection
	// attempts (1 s, 60 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Status is the link's state for /api/status and the board.
type Status struct {
	Configured bool       `json:"configured"`
	Online     bool       `json:"online"`
	LastSync   *time.Time `json:"last_sync"` // when central last acknowledged
	Acked      uint64     `json:"acked"`
	Backlog    uint64     `json:"backlog"` // own events central does not hold yet
	// Problem, when set, is why the link does not send: staff must act.
	Problem string `json:"problem,omitempty"`
}

// ErrAheadOfLog: central acknowledges events of this node's id that its
// log does not have. The data directory was replaced (a restore, a new SD
// card) but the id kept: central would take the node's new events for
// ones it holds and drop them, so the link stops until the node gets a
// new id.
var ErrAheadOfLog = errors.New("central holds more events of this node id than its log: the data directory was replaced; give the node a new --id")

// Link sends the node's events to central.
type Link struct {
	opts Opts
	node string

	mu       sync.Mutex
	online   bool
	acked    uint64
	lastSync *time.Time
	problem  string

	// Refused counts messages from the broker that the link turned away
	// (malformed, oversized, wrong version or origin, foreign topics),
	// for metrics; each sender's reason is logged once.
	Refused wire.Refusals
}

// New builds a link; it does no I/O until Run.
func New(opts Opts) (*Link, error) {
	if opts.Log == nil || opts.Broker == "" {
		return nil, errors.New("link: a log and a broker are required")
	}
	if opts.Municipality == "" {
		return nil, errors.New("link: the node needs its municipality (--municipality) to sync")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 200
	}
	if opts.BatchSize > wire.MaxEvents {
		opts.BatchSize = wire.MaxEvents
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 4
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 15 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	acked, err := opts.Log.PeerAcked(context.Background(), Peer)
	if err != nil {
		return nil, err
	}
	l := &Link{opts: opts, node: opts.Log.Origin(), acked: acked}
	if c, err := opts.Log.PeerAcked(context.Background(), conflictRow); err != nil {
		return nil, err
	} else if c > 0 {
		l.problem = ErrAheadOfLog.Error()
	}
	return l, nil
}

// Status reports the link's state.
func (l *Link) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{Configured: true, Online: l.online, Acked: l.acked, Problem: l.problem}
	if l.lastSync != nil {
		t := *l.lastSync
		st.LastSync = &t
	}
	if head := l.opts.Log.Head(); head > l.acked {
		st.Backlog = head - l.acked
	}
	return st
}

// Run keeps a session with the broker up until ctx ends, reconnecting with
// jittered exponential backoff.
func (l *Link) Run(ctx context.Context) error {
	backoff := l.opts.MinBackoff
	for {
		l.mu.Lock()
		problem := l.problem
		l.mu.Unlock()
		if problem != "" {
			l.opts.Logger.Error("Sync stopped", "err", ErrAheadOfLog)
			<-ctx.Done() // staff see why on the board; the node runs on
			return nil
		}
		started := time.Now()
		err := l.session(ctx)
		l.mu.Lock()
		wasUp := l.online
		l.online = false
		l.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrAheadOfLog) {
			continue
		}
		if wasUp || time.Since(started) > time.Minute {
			// It got through (connected, subscribed, birth published): this
			// loss is a new one, so start again from short waits. Growing
			// the wait over sessions that worked left a flapping link
			// waiting up to MaxBackoff after each drop.
			backoff = l.opts.MinBackoff
		}
		l.opts.Logger.Info("Sync link down", "err", err, "retryIn", backoff.Round(time.Millisecond))
		if !mqttx.Backoff(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, l.opts.MaxBackoff)
	}
}

func (l *Link) setOnline(on bool) {
	l.mu.Lock()
	l.online = on
	l.mu.Unlock()
}

func (l *Link) topic(kind string) string { return wire.Topic(l.opts.Municipality, l.node, kind) }

// session runs one connection: birth, then sending and acknowledgements
// until the connection or ctx ends.
func (l *Link) session(ctx context.Context) error {
	birth, err := l.nextBirth(ctx)
	if err != nil {
		return err
	}
	lost, onLost := mqttx.Lost()
	acks := make(chan ackMsg, 16)
	death := wire.EncodeJSON(wire.Status{V: wire.Version, State: "offline", Birth: birth})
	opts := mqtt.NewClientOptions().
		AddBroker(l.opts.Broker).
		SetClientID(l.node).
		SetUsername(l.opts.User).
		SetPassword(l.opts.Password).
		SetTLSConfig(l.opts.TLS).
		SetCleanSession(true). // the log is the queue; the broker need not keep one
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(10*time.Second).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(l.topic(wire.KindStatus), death, 1, true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			// The link's topics have their own routes: anything else the
			// broker sends is not ours.
			l.Refused.Refuse(l.opts.Logger, "broker", "foreign topic", fmt.Errorf("%.80q", m.Topic()))
		}).
		SetConnectionLostHandler(onLost)
	client := mqtt.NewClient(opts)
	if err := mqttx.Wait(ctx, client.Connect()); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Disconnect(250)

	sctx, endSession := context.WithCancel(ctx)
	defer endSession()
	downs := make(chan wire.Batch, 4)
	onAck := func(_ mqtt.Client, m mqtt.Message) {
		a, err := wire.DecodeAck(m.Payload())
		if err == nil && a.Origin != l.node {
			err = fmt.Errorf("ack for %q", a.Origin)
		}
		if err != nil {
			l.Refused.Refuse(l.opts.Logger, wire.Central, "ack", err)
			return
		}
		select {
		case acks <- ackMsg{a, m.Retained()}:
		default: // a newer ack will come; never block paho's router
		}
	}
	onDown := func(_ mqtt.Client, m mqtt.Message) {
		b, err := l.checkDown(m)
		if err != nil {
			l.Refused.Refuse(l.opts.Logger, wire.Central, "down", err)
			return
		}
		select {
		case downs <- b:
		case <-sctx.Done():
		}
	}
	// Routes before subscribing: the retained ack may arrive with the
	// SUBACK.
	client.AddRoute(l.topic(wire.KindAck), onAck)
	client.AddRoute(l.topic(wire.KindDown), onDown)
	if err := mqttx.Subscribe(ctx, client, []string{l.topic(wire.KindAck), l.topic(wire.KindDown)}, nil, "the node's"); err != nil {
		return err
	}
	down, err := l.downMark(ctx)
	if err != nil {
		return err
	}
	go l.downLoop(sctx, client, downs)
	status := wire.Status{V: wire.Version, State: "online", Birth: birth, Head: l.opts.Log.Head(), Down: down}
	if err := mqttx.Wait(ctx, client.Publish(l.topic(wire.KindStatus), 1, true, wire.EncodeJSON(status))); err != nil {
		return fmt.Errorf("birth: %w", err)
	}
	l.setOnline(true)
	l.opts.Logger.Info("Sync link up", "birth", birth)
	defer func() {
		if ctx.Err() != nil && client.IsConnectionOpen() {
			// Stopping on purpose: the clean DISCONNECT that follows makes
			// the broker discard the Last Will, so say offline ourselves,
			// or central would show the node online for good.
			client.Publish(l.topic(wire.KindStatus), 1, true, death).WaitTimeout(2 * time.Second)
		}
	}()

	l.mu.Lock()
	sent := l.acked // resend whatever central has not acknowledged
	l.mu.Unlock()
	progress := time.Now()
	// gap: central acknowledged, live, a batch sent after the watermark
	// without moving it: it lacks an earlier one. resent: the window was
	// sent again and not acknowledged since, so acks still answering the
	// older copies prove nothing.
	var gap, resent bool
	gapWait := min(time.Second, l.opts.AckTimeout)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		acked := l.acked
		l.mu.Unlock()
		if sent < acked {
			sent = acked
		}
		if sent > acked {
			if since := time.Since(progress); since >= l.opts.AckTimeout || gap && since >= gapWait {
				// Central has not confirmed what it was sent, or said it
				// lacks some of it: send it again from the watermark. It
				// keeps each event once, whatever arrives twice.
				l.opts.Logger.Info("Sync: resending", "from", acked+1, "to", sent, "gap", gap)
				sent, progress, gap, resent = acked, time.Now(), false, true
			}
		}
		// Taken before reading the log: an append after the read closes it.
		changed := l.opts.Log.Changed()
		// Fill the window.
		for sent-acked < uint64(l.opts.BatchSize*l.opts.InFlight) {
			events, err := l.opts.Log.EventsAfter(ctx, sent, l.opts.BatchSize)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				break
			}
			msg, err := wire.EncodeBatch(wire.Batch{Origin: l.node, Municipality: l.opts.Municipality,
				Head: l.opts.Log.Head(), Events: events})
			if err != nil {
				return err
			}
			if err := mqttx.Wait(ctx, client.Publish(l.topic(wire.KindUp), 1, false, msg)); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			if acked == sent {
				progress = time.Now() // the first batch in flight starts the clock
			}
			sent = events[len(events)-1].Seq
		}
		next := l.opts.AckTimeout // idle: a wake-up now and then costs nothing
		if sent > acked {
			next = l.opts.AckTimeout - time.Since(progress)
			if gap {
				next = min(next, gapWait-time.Since(progress))
			}
			next = max(next, time.Millisecond)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			return fmt.Errorf("connection lost: %w", err)
		case m := <-acks:
			a := m.Ack
			if head := l.opts.Log.Head(); a.Acked > head {
				// Kept: once the log falls behind central's word, catching
				// up by appending would only make central drop the seqs
				// it thinks it has. The stop lasts for this data directory.
				if err := l.opts.Log.SetPeerAcked(ctx, conflictRow, a.Acked); err != nil {
					return err
				}
				l.opts.Logger.Error("Sync stopped", "err", ErrAheadOfLog, "acked", a.Acked, "head", head)
				l.mu.Lock()
				l.problem = ErrAheadOfLog.Error()
				l.mu.Unlock()
				return ErrAheadOfLog
			}
			if a.Acked > acked {
				if _, err := l.opts.Log.RecordPeerAck(ctx, Peer, a.Acked); err != nil {
					return err
				}
				now := time.Now().UTC()
				l.mu.Lock()
				l.acked, l.lastSync = a.Acked, &now
				l.mu.Unlock()
				progress, gap, resent = time.Now(), false, false
			}
			if a.Acked > sent {
				sent = a.Acked
			}
			if a.Acked == acked && sent > acked && !m.retained && !resent {
				// Central answered a later batch without moving: it is
				// missing an earlier one (sent before it subscribed, or
				// lost). Resend from the watermark, once the batches just
				// sent have had a moment to be answered, rather than wait
				// for the timeout. A retained ack is only central's last
				// word, delivered on subscribing: no sign of a gap.
				gap = true
			}
		case <-changed:
		case <-timer.C:
		}
	}
}

// ackMsg is an acknowledgement as it came: retained ones are delivered on
// subscribing and answer nothing the link has just sent.
type ackMsg struct {
	wire.Ack
	retained bool
}

// nextBirth counts this node's connections, durably, so that central can
// tell an old death from a new one.
func (l *Link) nextBirth(ctx context.Context) (uint64, error) {
	prev, err := l.opts.Log.PeerAcked(ctx, "birth")
	if err != nil {
		return 0, err
	}
	if err := l.opts.Log.SetPeerAcked(ctx, "birth", prev+1); err != nil {
		return 0, err
	}
	return prev + 1, nil
}

// String describes the link for logs: never the password.
func (l *Link) String() string {
	return "link " + l.node + " → " + l.opts.Broker + " (" + strconv.Itoa(l.opts.BatchSize) + "/batch)"
}
