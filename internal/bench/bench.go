// Package bench holds what the benchmark tools (cmd/portalbench,
// cmd/boardbench, cmd/syncbench, cmd/centralbench) share: a point's realistic state to seed
// a node's log with, the tool started again as a child process, the peer
// programs it measures against, a free loopback port, latency percentiles
// and how the tools print their figures, CPU time and memory from /proc.
// It is for those tools only.
package bench

import (
	"math"
	"net"
	"slices"
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

// Median of a few values (the mean of the middle two for an even count);
// NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Thousands formats x rounded, with commas: 31234.5 as "31,235".
func Thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	start := 0
	if s[0] == '-' {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
