// Package central is the municipality's side of sync: it receives every
// node's event batches, stores events and their (origin, seq) dedupe key in
// one transaction in central's own log, and then, only then, publishes the
// contiguous watermark back to the node, retained. Batches from many nodes
// that arrive together share one transaction.
package central

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/sync/mqttx"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// Opts configure a Receiver. Zero fields mean defaults.
type Opts struct {
	Broker   string
	User     string
	Password string
	TLS      *tls.Config
	ClientID string // "central" by default
	Log      *eventlog.Log
	Store    *store.Store // directives and downlink streams, in the log's database
	// Picture is central's situation picture: the log folds the nodes'
	// events into it (eventlog.Options.Folder), the receiver each node's
	// acknowledged downlink and its link. Nil keeps one of the receiver's
	// own.
	Picture *picture.Picture
	Logger  *slog.Logger
	// MaxBatch bounds how many incoming messages share one transaction (64).
	MaxBatch int
	// AckTimeout: a node that acknowledges nothing of its downlink this
	// long while messages are in flight is sent them again (15 s).
	AckTimeout time.Duration
}

// Node is what central knows of a node, for GET /api/nodes.
type Node struct {
	ID           string     `json:"id"`
	Municipality string     `json:"municipality"`
	Online       bool       `json:"online"`
	LastSeen     *time.Time `json:"last_seen"`
	AckedSeq     uint64     `json:"acked_seq"`
	Backlog      uint64     `json:"backlog"`
	birth        uint64
	head         uint64
}

// Counters of the events in stored batches (duplicates too) and of
// refused messages; the metrics read them.
type Counters struct {
	Accepted, Refused atomic.Int64
}

// Receiver receives node batches.
type Receiver struct {
	opts Opts
	in   chan inbound

	mu      sync.Mutex
	nodes   map[string]*Node
	streams map[string]*stream // each node's downlink
	online  bool
	client  mqtt.Client // the session's, for publishing acks and directives

	downKick chan struct{}
	refusals wire.Refusals // logs each node's reason once

	Counters Counters
}

type inbound struct {
	municipality, node string
	batch              wire.Batch
}

// New builds a receiver; it does no I/O until Run.
func New(opts Opts) (*Receiver, error) {
	if opts.Log == nil || opts.Store == nil || opts.Broker == "" {
		return nil, errors.New("central: a log, a store and a broker are required")
	}
	if opts.ClientID == "" {
		opts.ClientID = "central"
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 15 * time.Second
	}
	if opts.Picture == nil {
		opts.Picture = picture.New(picture.Options{Self: opts.Log.Origin()})
	}
	r := &Receiver{opts: opts, in: make(chan inbound, 1024), nodes: map[string]*Node{},
		streams: map[string]*stream{}, downKick: make(chan struct{}, 1)}
	marks, err := opts.Log.Watermarks(context.Background())
	if err != nil {
		return nil, err
	}
	for origin, held := range marks {
		r.nodes[origin] = &Node{ID: origin, AckedSeq: held}
	}
	if err := r.loadStreams(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// Nodes lists the nodes central has heard of, by id.
func (r *Receiver) Nodes() []Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Node, 0, len(r.nodes))
	for _, n := range r.nodes {
		c := *n
		if c.LastSeen != nil {
			t := *c.LastSeen
			c.LastSeen = &t
		}
		if c.head > c.AckedSeq {
			c.Backlog = c.head - c.AckedSeq
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Connected reports whether central has a session with the broker and is
// subscribed to the nodes' topics.
func (r *Receiver) Connected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.online
}

// Run connects, subscribes and stores until ctx ends, reconnecting with
// jittered backoff.
func (r *Receiver) Run(ctx context.Context) error {
	go r.ingestLoop(ctx)
	go r.downLoop(ctx)
	backoff := time.Second
	for {
		up, err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			backoff = time.Second // it got through: a new loss starts from short waits again
		}
		r.opts.Logger.Warn("Central link down", "err", err, "retryIn", backoff)
		if !mqttx.Backoff(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// session runs one connection; up says whether it got as far as
// subscribing.
func (r *Receiver) session(ctx context.Context) (bool, error) {
	lost, onLost := mqttx.Lost()
	opts := mqtt.NewClientOptions().
		AddBroker(r.opts.Broker).
		SetClientID(r.opts.ClientID).
		SetUsername(r.opts.User).
		SetPassword(r.opts.Password).
		SetTLSConfig(r.opts.TLS).
		SetCleanSession(true). // a lost batch is sent again by its node
		SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetConnectionLostHandler(onLost)
	c := mqtt.NewClient(opts)
	if err := mqttx.Wait(ctx, c.Connect()); err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer c.Disconnect(250)
	r.mu.Lock()
	r.client = c
	r.mu.Unlock()
	up := fmt.Sprintf("sp/v%d/+/+/%s", wire.Version, wire.KindUp)
	status := fmt.Sprintf("sp/v%d/+/+/%s", wire.Version, wire.KindStatus)
	downack := fmt.Sprintf("sp/v%d/+/+/%s", wire.Version, wire.KindDownAck)
	if err := mqttx.Subscribe(ctx, c, []string{up, status, downack}, r.handle, "central's"); err != nil {
		return false, err
	}
	r.mu.Lock()
	r.online = true
	r.mu.Unlock()
	r.opts.Logger.Info("Central link up", "broker", r.opts.Broker)
	defer func() {
		r.mu.Lock()
		r.online = false
		r.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case err := <-lost:
		return true, fmt.Errorf("connection lost: %w", err)
	}
}

// refuse counts a refused message and logs its reason once per sender.
func (r *Receiver) refuse(who, reason string, err error) {
	r.Counters.Refused.Add(1)
	r.refusals.Refuse(r.opts.Logger, who, reason, err)
}

// handle runs on paho's router: it checks a message and queues it; the
// ingest loop stores it. A full queue blocks here, which holds back the
// broker rather than dropping anything.
func (r *Receiver) handle(_ mqtt.Client, m mqtt.Message) {
	municipality, nodeID, kind, ok := wire.ParseTopic(m.Topic())
	if !ok {
		r.refuse("?", "topic", nil)
		return
	}
	switch kind {
	case wire.KindStatus:
		st, err := wire.DecodeStatus(m.Payload())
		if err != nil {
			r.refuse(nodeID, "status", err)
			return
		}
		r.noteStatus(municipality, nodeID, st)
	case wire.KindDownAck:
		r.handleDownAck(municipality, nodeID, m.Payload())
	case wire.KindUp:
		b, err := wire.DecodeBatch(m.Payload())
		if err != nil {
			r.refuse(nodeID, "batch", err)
			return
		}
		if b.Origin != nodeID || b.Municipality != municipality {
			r.refuse(nodeID, "wrong origin", fmt.Errorf("batch from %s/%s on %s/%s", b.Municipality, b.Origin, municipality, nodeID))
			return
		}
		if b.Origin == r.opts.Log.Origin() {
			// A node configured with central's own id: the log refuses
			// such events, so refuse them here, before they share a
			// transaction with other nodes' batches.
			r.refuse(nodeID, "central's own origin", fmt.Errorf("node id %s is central's", nodeID))
			return
		}
		r.register(municipality, nodeID)
		r.in <- inbound{municipality: municipality, node: nodeID, batch: b}
	}
}

// noteStatus records a birth or a death; a death older than the latest
// birth is an old Last Will arriving late and changes nothing.
func (r *Receiver) noteStatus(municipality, nodeID string, st wire.Status) {
	r.register(municipality, nodeID)
	r.mu.Lock()
	n := r.nodeLocked(nodeID, municipality)
	if st.Birth < n.birth {
		r.mu.Unlock()
		return
	}
	n.birth = st.Birth
	n.Online = st.State == "online"
	now := time.Now().UTC()
	n.LastSeen = &now
	if st.Head > n.head {
		n.head = st.Head
	}
	link := n.link()
	r.mu.Unlock()
	r.opts.Picture.Heard(nodeID, link)
	r.noteBirthDown(nodeID, st.State == "online", st.Down)
}

// link is what the picture keeps of a node's link.
func (n *Node) link() picture.Link {
	l := picture.Link{Municipality: n.Municipality, Online: n.Online}
	if n.LastSeen != nil {
		l.Heard = *n.LastSeen
	}
	if n.head > n.AckedSeq {
		l.Backlog = n.head - n.AckedSeq
	}
	return l
}

func (r *Receiver) nodeLocked(id, municipality string) *Node {
	n := r.nodes[id]
	if n == nil {
		n = &Node{ID: id}
		r.nodes[id] = n
	}
	if municipality != "" {
		n.Municipality = municipality
	}
	return n
}

// ingestLoop stores queued batches, many per transaction, and acks each
// node its watermark once the transaction is on disk.
func (r *Receiver) ingestLoop(ctx context.Context) {
	for {
		var first inbound
		select {
		case <-ctx.Done():
			return
		case first = <-r.in:
		}
		group := []inbound{first}
	drain:
		for len(group) < r.opts.MaxBatch {
			select {
			case in := <-r.in:
				group = append(group, in)
			default:
				break drain
			}
		}
		if err := r.store(ctx, group); err != nil && len(group) > 1 && ctx.Err() == nil {
			// One batch that cannot be stored must not hold back the
			// others that shared its transaction: store them one by one.
			for _, in := range group {
				r.store(ctx, []inbound{in})
			}
		}
	}
}

// store ingests a group of batches in one transaction and, once it is on
// disk, acknowledges each node its watermark. On error nothing is stored
// and nothing acknowledged: the nodes send again.
func (r *Receiver) store(ctx context.Context, group []inbound) error {
	var events []node.Event
	for _, in := range group {
		events = append(events, in.batch.Events...)
	}
	_, marks, err := r.opts.Log.Ingest(ctx, events)
	if err != nil {
		if ctx.Err() == nil {
			r.opts.Logger.Error("Storing node events failed", "err", err, "batches", len(group))
		}
		return err
	}
	r.Counters.Accepted.Add(int64(len(events)))
	r.markShown(ctx, events)
	now := time.Now().UTC()
	acked := map[string]string{} // node → municipality, once each
	r.mu.Lock()
	for _, in := range group {
		n := r.nodeLocked(in.node, in.municipality)
		n.LastSeen = &now
		n.AckedSeq = marks[in.node]
		if in.batch.Head > n.head {
			n.head = in.batch.Head
		}
		acked[in.node] = in.municipality
	}
	links := make(map[string]picture.Link, len(acked))
	for id := range acked {
		links[id] = r.nodes[id].link()
	}
	c := r.client
	r.mu.Unlock()
	for id, l := range links {
		r.opts.Picture.Heard(id, l)
	}
	for id, m := range acked {
		msg := wire.EncodeJSON(wire.Ack{V: wire.Version, Origin: id, Acked: marks[id]})
		// Retained: a node that reconnects learns its watermark at once.
		if c != nil {
			c.Publish(wire.Topic(m, id, wire.KindAck), 1, true, msg)
		}
	}
	return nil
}

// register makes a node heard from known to the downlink.
func (r *Receiver) register(municipality, nodeID string) {
	if err := r.Register(context.Background(), nodeID, municipality); err != nil {
		r.opts.Logger.Error("Registering a node failed", "node", nodeID, "err", err)
	}
}
