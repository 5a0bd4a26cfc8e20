package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
)

// loadResult is one route under load.
type loadResult struct {
	path                 string
	clients              int
	pace                 time.Duration // each client's least time from one request to the next; 0: back to back
	gzip                 bool          // asked for gzip, as a browser does
	window               time.Duration
	requests, errors     int
	bytes                int // of one answer
	p50, p90, p99, max   time.Duration
	centralCores, genCPU float64
	connections          int64
}

func (l loadResult) rate() float64 { return float64(l.requests) / l.window.Seconds() }

// load sends GET path from clients clients, each on its own keep-alive
// connection with the staff session's cookie, for warmup and then the
// measured window: every request that starts in the window counts. With
// pace 0 each client sends its next request as soon as the last is
// answered (saturation: the latency is then mostly queueing, clients ÷
// throughput); with pace P each starts one every P, as the live page
// does at most (it refetches on a change, throttled), or at once when
// the last took longer.
func load(ctx context.Context, c *central, path string, clients int, pace, warmup, window time.Duration, gzip bool) (loadResult, error) {
	res := loadResult{path: path, clients: clients, pace: pace, gzip: gzip}
	one := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	n, err := discard(one, c.base+path, c.cookie, gzip)
	if err != nil {
		return res, err
	}
	res.bytes = int(n) // as sent: compressed when gzip

	var (
		wg          sync.WaitGroup
		from, until atomic.Int64 // UnixNano; 0 until set
		stop        atomic.Bool
		errs        atomic.Int64
		conns       atomic.Int64
		mu          sync.Mutex
		all         []time.Duration
	)
	for range clients {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			tr.DialContext = countingDial(&conns)
			client := &http.Client{Transport: tr, Timeout: time.Minute}
			defer tr.CloseIdleConnections()
			lat := make([]time.Duration, 0, 4096)
			next := time.Now()
			if pace > 0 { // spread the clients' first requests over one pace
				next = next.Add(time.Duration(rand.Int64N(int64(pace))))
			}
			for !stop.Load() && ctx.Err() == nil {
				if pace > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(pace)
					if now := time.Now(); next.Before(now) {
						next = now
					}
				}
				t0 := time.Now()
				n, err := discard(client, c.base+path, c.cookie, gzip)
				d := time.Since(t0)
				in := from.Load() != 0 && t0.UnixNano() >= from.Load() && (until.Load() == 0 || t0.UnixNano() < until.Load())
				if !in {
					continue
				}
				if err != nil || n < int64(res.bytes/2) {
					errs.Add(1)
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	bench.Sleep(ctx, warmup)
	c0, _ := bench.CPUTime(c.pid())
	g0, _ := bench.CPUTime(os.Getpid())
	w0 := time.Now()
	from.Store(w0.UnixNano())
	bench.Sleep(ctx, window)
	w1 := time.Now()
	until.Store(w1.UnixNano())
	c1, _ := bench.CPUTime(c.pid())
	g1, _ := bench.CPUTime(os.Getpid())
	stop.Store(true)
	wg.Wait()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	slices.Sort(all)
	res.window = w1.Sub(w0)
	res.requests, res.errors = len(all), int(errs.Load())
	if len(all) == 0 {
		return res, fmt.Errorf("no request answered in the window (%d errors)", res.errors)
	}
	res.p50, res.p90, res.p99, res.max = bench.Percentile(all, 50), bench.Percentile(all, 90), bench.Percentile(all, 99), all[len(all)-1]
	res.centralCores = (c1 - c0).Seconds() / res.window.Seconds()
	res.genCPU = (g1 - g0).Seconds() / res.window.Seconds()
	res.connections = conns.Load()
	return res, nil
}

// discard sends an authenticated GET and reads the answer to its end
// without keeping it (the load generator shares the machine: it should
// cost little), returning its length as sent. With gzip it asks for the
// answer compressed, as a browser does, and does not inflate it.
func discard(client *http.Client, url, cookie string, gzip bool) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Cookie", cookie)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}

// countingDial is a dialer that counts the connections it opens.
func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d.DialContext(ctx, network, addr)
	}
}
