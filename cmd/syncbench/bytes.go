package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/sync/wire"
)

// byteCount is one drain through the counting proxy.
type byteCount struct {
	batch, events int
	up, down      *mqttCounter // client→broker, broker→client
	conns         int32
	took          time.Duration
	resends       int64
}

func (b byteCount) perEvent(n int64) float64 { return float64(n) / float64(b.events) }

func countBytes(ctx context.Context, mq *broker, src, dir string, n, batch, inFlight int) (byteCount, error) {
	p, err := startProxy(strings.TrimPrefix(mq.url, "tcp://"), 0)
	if err != nil {
		return byteCount{}, err
	}
	r, err := drainNode(ctx, mq, "tcp://"+p.ln.Addr().String(), src, dir, n, batch, inFlight, 0)
	p.close() // after the link's DISCONNECT: every byte is counted
	if err != nil {
		return byteCount{}, err
	}
	return byteCount{batch: batch, events: n, up: p.up, down: p.down, conns: p.conns.Load(), took: r.node, resends: r.resends}, nil
}

// proxy forwards TCP connections to target and counts what passes, by
// MQTT packet; or, with a delay, holds back what passes each way by that
// long and counts nothing.
type proxy struct {
	ln       net.Listener
	target   string
	up, down *mqttCounter
	delay    time.Duration
	conns    atomic.Int32
	wg       sync.WaitGroup
}

func startProxy(target string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, up: &mqttCounter{}, down: &mqttCounter{}, delay: delay}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				var both sync.WaitGroup
				if p.delay > 0 {
					both.Go(func() { delayPipe(s, c, p.delay) })
					both.Go(func() { delayPipe(c, s, p.delay) })
				} else {
					both.Go(func() { pipe(s, c, p.up) })
					both.Go(func() { pipe(c, s, p.down) })
				}
				both.Wait()
				c.Close()
				s.Close()
			}()
		}
	}()
	return p, nil
}

// pipe copies src to dst, counting, and passes the end of the stream on.
func pipe(dst, src net.Conn, cnt *mqttCounter) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			cnt.feed(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// delayPipe copies src to dst, each read written delay after it arrived
// (a link's latency, not its bandwidth), and passes the end of the stream
// on.
func delayPipe(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	line := make(chan chunk, 4096)
	go func() {
		defer close(line)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				line <- chunk{time.Now(), slices.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		time.Sleep(time.Until(c.at.Add(delay)))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	for range line { // let the reader finish
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// close stops accepting and waits for the connections to end.
func (p *proxy) close() {
	p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "syncbench: a proxied connection is still open; its counts may be short")
	}
}

// mqttCounter splits one direction of an MQTT 3.1.1 stream into packets
// and counts them: bytes and packets per type, PUBLISH packets by topic
// kind (up, status, ack) with their payload bytes apart.
type mqttCounter struct {
	mu      sync.Mutex
	pending []byte
	total   int64
	byType  [16]packets
	pubUp   packets // PUBLISH to an up topic: the batches
	pubAck  packets // central's acknowledgements
	pubOth  packets // births, status
}

// packets counts packets of one kind.
type packets struct {
	count, bytes, payload int64
}

func (c *mqttCounter) feed(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	c.pending = append(c.pending, p...)
	for {
		size, hdr, ok := packetSize(c.pending)
		if !ok || len(c.pending) < size {
			break
		}
		pkt := c.pending[:size]
		typ := pkt[0] >> 4
		c.byType[typ].count++
		c.byType[typ].bytes += int64(size)
		if typ == 3 && size >= hdr+2 { // PUBLISH
			vh := pkt[hdr:]
			tl := int(vh[0])<<8 | int(vh[1])
			framing := hdr + 2 + tl
			if (pkt[0]>>1)&3 > 0 {
				framing += 2 // packet identifier
			}
			kind := &c.pubOth
			if framing <= size {
				_, _, k, _ := wire.ParseTopic(string(vh[2 : 2+tl]))
				switch k {
				case wire.KindUp:
					kind = &c.pubUp
				case wire.KindAck:
					kind = &c.pubAck
				}
				kind.payload += int64(size - framing)
			}
			kind.count++
			kind.bytes += int64(size)
		}
		c.pending = c.pending[size:]
	}
	if len(c.pending) == 0 {
		c.pending = nil // let a large buffer go
	}
}

// packetSize reads an MQTT fixed header: the whole packet's size and the
// fixed header's; ok is false while the header is incomplete.
func packetSize(b []byte) (size, hdr int, ok bool) {
	mult, rl := 1, 0
	for i := 1; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		rl += int(b[i]&127) * mult
		if b[i]&128 == 0 {
			return 1 + i + rl, 1 + i, true
		}
		mult *= 128
	}
	return 0, 0, false // malformed: more than 4 length bytes; count no further
}
