package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/internal/bench"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// child is syncbench started again as central or as a subscriber: it says
// "ready" on standard output, answers lines on standard input, and ends
// when its standard input closes.
type child struct{ *bench.Child }

func startChild(args ...string) (*child, error) {
	c, line, err := bench.StartChild(30*time.Second, nil, args...)
	if err == nil && line != "ready" {
		c.Stop(20 * time.Second)
	}
	if err != nil || line != "ready" {
		return nil, fmt.Errorf("%s: not ready (%q, %v)", strings.Join(args[:2], " "), line, err)
	}
	return &child{c}, nil
}

func (c *child) pid() int { return c.Pid() }

func (c *child) stop() { c.Stop(20 * time.Second) }

// finished waits for a subscriber's "done COUNT BYTES UNIXNANO" and returns
// when it had the last message.
func (c *child) finished(d time.Duration) (time.Time, error) {
	line, err := c.Next(d)
	if err != nil {
		return time.Time{}, err
	}
	var count, size, at int64
	if _, err := fmt.Sscanf(line, "done %d %d %d", &count, &size, &at); err != nil {
		return time.Time{}, fmt.Errorf("subscriber said %q", line)
	}
	return time.Unix(0, at), nil
}

func startCentral(brokerURL, dir, profile string) (*child, error) {
	args := []string{"-child", "central", "-broker", brokerURL, "-dir", dir, "-central-maxbatch", strconv.Itoa(centralMaxBatch)}
	if profile != "" {
		args = append(args, "-child-profile", profile)
	}
	return startChild(args...)
}

func startSub(brokerURL, topic string, n int) (*child, error) {
	return startChild("-child", "sub", "-broker", brokerURL, "-topic", topic, "-n", strconv.Itoa(n))
}

// centralStats is what the central child reports.
type centralStats struct {
	Accepted, Refused int64
	Nodes             int
	Acked             uint64 // the sum of every node's watermark
}

func (c *child) stats() (centralStats, error) {
	var st centralStats
	line, err := c.Command("stats", 30*time.Second)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(line), &st)
}

// centralMaxBatch is -central-maxbatch, passed on to every central child.
var centralMaxBatch int

// probeID is the node the central child announces itself with.
const probeID = "syncbench-probe"

// childCentral is central as cmd/safepoint runs it (its log on disk, the
// receiver on the broker), without the HTTP side.
func childCentral(brokerURL, dir, profile string, maxBatch int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := eventlog.Open(ctx, filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "central"})
	if err != nil {
		return err
	}
	defer l.Close()
	directives, err := store.Open(ctx, l.File())
	if err != nil {
		return err
	}
	defer directives.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	recv, err := central.New(central.Opts{Broker: brokerURL, ClientID: "central", Log: l, Store: directives,
		Logger: logger, MaxBatch: maxBatch})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- recv.Run(ctx) }()
	if err := probe(ctx, brokerURL, recv); err != nil {
		return err
	}
	if profile != "" {
		stop, err := bench.StartCPUProfile(profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "stats" {
			continue
		}
		st := centralStats{Accepted: recv.Counters.Accepted.Load(), Refused: recv.Counters.Refused.Load()}
		for _, n := range recv.Nodes() {
			if n.ID != probeID {
				st.Nodes++
				st.Acked += n.AckedSeq
			}
		}
		b, _ := json.Marshal(st)
		fmt.Println(string(b))
	}
	cancel()
	<-done
	return nil
}

// probe announces a node until central lists it: then central is
// subscribed.
func probe(ctx context.Context, brokerURL string, recv *central.Receiver) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(probeID).SetCleanSession(true))
	if err := wait(ctx, c.Connect()); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Disconnect(100)
	msg := wire.EncodeJSON(wire.Status{V: wire.Version, State: "online", Birth: 1})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if err := wait(ctx, c.Publish(wire.Topic(municipality, probeID, wire.KindStatus), 1, false, msg)); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
		for _, n := range recv.Nodes() {
			if n.ID == probeID {
				return nil
			}
		}
	}
	return errors.New("central did not subscribe within 20 s")
}

// childSub counts messages on topic, as plain as a subscriber gets (with
// central's client options), and says "done COUNT BYTES UNIXNANO" at n:
// the wall clock when the nth arrived, which the parent process shares.
func childSub(brokerURL, topic string, n int) error {
	var count, size, last atomic.Int64
	all := make(chan struct{})
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("raw-subscriber").
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetOrderMatters(true))
	if err := wait(context.Background(), c.Connect()); err != nil {
		return err
	}
	defer c.Disconnect(100)
	if err := wait(context.Background(), c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		size.Add(int64(len(m.Payload())))
		if count.Add(1) == int64(n) {
			last.Store(time.Now().UnixNano())
			close(all)
		}
	})); err != nil {
		return err
	}
	fmt.Println("ready")
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-all:
		fmt.Printf("done %d %d %d\n", count.Load(), size.Load(), last.Load())
		<-eof
	case <-eof:
	}
	return nil
}

// wait waits for a paho token, bounded by ctx and a minute.
func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("timed out")
	}
}
