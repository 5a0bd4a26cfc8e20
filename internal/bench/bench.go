// Package bench holds what the benchmark tools (cmd/portalbench,
// cmd/boardbench, cmd/syncbench) share: a free loopback port, latency
// percentiles and how they print them, CPU time and memory from /proc. It
// is for those tools only.
package bench

import (
	"math"
	"net"
	"strconv"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Percentile is the nearest-rank p-th percentile (0–100) of sorted
// durations; zero for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Ms formats a duration in milliseconds with two decimals: "12.34 ms".
func Ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms"
}
