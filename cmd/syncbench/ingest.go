package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// ingestResult is one load of part 3.
type ingestResult struct {
	c                      ingestCase
	nodes                  int
	window                 time.Duration
	stored, acked          int64 // events in the window: central's counter, the nodes' acknowledgements
	msgs                   int64 // up messages sent in the window
	centralCPU, brokerCPU  time.Duration
	genCPU                 time.Duration
	finishedEarly, stalled int // nodes with nothing left before the window ended; resends after 10 s without progress
	refused                int64
	connect                time.Duration
}

// loadNode is one simulated node: its own connection and events.
type loadNode struct {
	id, municipality string
	batches          [][]byte
	batch            int
	client           mqtt.Client
	acked            atomic.Uint64
	ackCh            chan struct{}
	resends          int
}

func benchIngest(ctx context.Context, cfg config, mq *broker, dir string, index int, c ingestCase) (ingestResult, error) {
	r := ingestResult{c: c, nodes: cfg.nodes, window: cfg.duration}
	// Every node's batches, encoded before the clock starts: the load
	// generator shares the machine with central and should cost it little.
	start := time.Now()
	nodes := make([]*loadNode, cfg.nodes)
	base := time.Now().Add(-12 * time.Hour).UTC()
	for i := range nodes {
		muni := []string{"2161", "0180"}[i%2]
		// Ids of their own in each load: the previous load's retained
		// acknowledgements must not answer this one's nodes.
		n := &loadNode{id: fmt.Sprintf("sp-%s-%d-%04d", muni, index+1, i), municipality: muni, batch: c.batch, ackCh: make(chan struct{}, 1)}
		g := &reportGen{rng: rand.New(rand.NewPCG(uint64(i), 11))}
		t := base.Add(time.Duration(i) * time.Second)
		events := make([]node.Event, 0, c.batch)
		for seq := 1; seq <= c.perNode; seq++ {
			t = t.Add(time.Duration(g.rng.Int64N(int64(10 * time.Second))))
			at := t.Truncate(time.Millisecond)
			p, _ := json.Marshal(g.next())
			events = append(events, node.Event{Origin: n.id, Seq: uint64(seq), HLC: node.MakeHLC(at.UnixMilli(), 0),
				Type: node.TypeReportCreated, OccurredAt: &at, Payload: p})
			if len(events) == c.batch {
				msg, err := wire.EncodeBatch(wire.Batch{Origin: n.id, Municipality: muni, Head: uint64(c.perNode), Events: events})
				if err != nil {
					return r, err
				}
				n.batches = append(n.batches, msg)
				events = events[:0]
			}
		}
		nodes[i] = n
	}
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %d nodes × %d events encoded in %v\n", c, cfg.nodes, c.perNode, time.Since(start).Round(time.Millisecond))

	var prof string
	if index == 0 {
		prof = cfg.cpuprofile
	}
	cen, err := startCentral(mq.url, filepath.Join(dir, "central"), prof)
	if err != nil {
		return r, err
	}
	defer cen.stop()

	// Connect every node, 32 at a time.
	start = time.Now()
	var totalAcked atomic.Int64
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := n.connect(mq.url, &totalAcked); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.client.Disconnect(0) })
		}
		wg.Wait()
	}()
	select {
	case err := <-errs:
		return r, err
	default:
	}
	r.connect = time.Since(start)
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %d connections up in %v\n", c, len(nodes), r.connect.Round(time.Millisecond))

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var msgs atomic.Int64
	for _, n := range nodes {
		wg.Go(func() { n.run(lctx, c.window, &msgs) })
	}
	bench.Sleep(ctx, cfg.warmup)
	pids := []int{cen.pid()}
	s0, err := cen.stats()
	if err != nil {
		cancel()
		wg.Wait()
		return r, err
	}
	a0, m0 := totalAcked.Load(), msgs.Load()
	c0, _ := bench.CPUTime(pids...)
	b0, _ := bench.CPUTime(mq.pid())
	g0, _ := bench.CPUTime(os.Getpid())
	w0 := time.Now()
	bench.Sleep(ctx, cfg.duration)
	s1, err := cen.stats()
	elapsed := time.Since(w0)
	a1, m1 := totalAcked.Load(), msgs.Load()
	c1, _ := bench.CPUTime(pids...)
	b1, _ := bench.CPUTime(mq.pid())
	g1, _ := bench.CPUTime(os.Getpid())
	for _, n := range nodes {
		if n.acked.Load() >= uint64(c.perNode) {
			r.finishedEarly++
		}
	}
	cancel()
	wg.Wait()
	if err != nil {
		return r, err
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	for _, n := range nodes {
		r.stalled += n.resends
	}
	// Per second of the window as it really was.
	scale := cfg.duration.Seconds() / elapsed.Seconds()
	r.stored = int64(float64(s1.Accepted-s0.Accepted) * scale)
	r.acked = int64(float64(a1-a0) * scale)
	r.msgs = int64(float64(m1-m0) * scale)
	r.centralCPU, r.brokerCPU, r.genCPU = c1-c0, b1-b0, g1-g0
	r.refused = s1.Refused
	fmt.Fprintf(os.Stderr, "syncbench: ingest %v: %s events/s stored, %s acked, %s messages/s; CPU central %.2f, mosquitto %.2f, load generator %.2f cores; %d nodes done early, %d resends, %d refused\n",
		c, bench.Thousands(float64(r.stored)/cfg.duration.Seconds()), bench.Thousands(float64(r.acked)/cfg.duration.Seconds()),
		bench.Thousands(float64(r.msgs)/cfg.duration.Seconds()), r.centralCPU.Seconds()/elapsed.Seconds(),
		r.brokerCPU.Seconds()/elapsed.Seconds(), r.genCPU.Seconds()/elapsed.Seconds(), r.finishedEarly, r.stalled, r.refused)
	return r, nil
}

// connect opens the node's connection and subscribes to its acks.
func (n *loadNode) connect(brokerURL string, total *atomic.Int64) error {
	n.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(n.id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(30 * time.Second).
		SetKeepAlive(60 * time.Second).SetWriteTimeout(30 * time.Second).SetOrderMatters(false))
	if err := wait(context.Background(), n.client.Connect()); err != nil {
		return fmt.Errorf("node %s: connect: %w", n.id, err)
	}
	return wait(context.Background(), n.client.Subscribe(wire.Topic(n.municipality, n.id, wire.KindAck), 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := wire.DecodeAck(m.Payload())
		if err != nil || a.Origin != n.id {
			return
		}
		for {
			prev := n.acked.Load()
			if a.Acked <= prev {
				return
			}
			if n.acked.CompareAndSwap(prev, a.Acked) {
				total.Add(int64(a.Acked - prev))
				break
			}
		}
		select {
		case n.ackCh <- struct{}{}:
		default:
		}
	}))
}

// run sends the node's batches, window batches beyond central's
// acknowledgement, each waiting for its PUBACK as the link does; without
// progress for 10 s it sends again from the acknowledgement.
func (n *loadNode) run(ctx context.Context, window int, msgs *atomic.Int64) {
	topic := wire.Topic(n.municipality, n.id, wire.KindUp)
	next := 0
	for ctx.Err() == nil {
		acked := int(n.acked.Load()) / n.batch
		if acked == len(n.batches) {
			return
		}
		next = max(next, acked)
		for next < len(n.batches) && next-acked < window {
			if wait(ctx, n.client.Publish(topic, 1, false, n.batches[next])) != nil {
				return
			}
			msgs.Add(1)
			next++
		}
		select {
		case <-ctx.Done():
			return
		case <-n.ackCh:
		case <-time.After(10 * time.Second):
			n.resends++
			next = acked
		}
	}
}
