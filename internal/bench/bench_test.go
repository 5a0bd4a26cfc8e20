package bench

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0, 1 * time.Millisecond}, {50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond}, {100, 100 * time.Millisecond}, {150, 100 * time.Millisecond}} {
		if got := Percentile(d, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
	if got := Ms(1234567 * time.Nanosecond); got != "1.23 ms" {
		t.Errorf("Ms = %q", got)
	}
}

// TestProc reads this process's /proc entries: CPU time rises with work,
// the resident set is plausible, the parent's pid is in stat.
func TestProc(t *testing.T) {
	pid := os.Getpid()
	before, err := CPUTime(pid)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		x++
	}
	after, err := CPUTime(pid)
	if err != nil || after <= before {
		t.Fatalf("CPU time %v then %v (%v) after 100 ms of work (%d)", before, after, err, x)
	}
	rss, err := ProcStatus(pid, "VmRSS:")
	if err != nil || rss < 1<<20 || rss > 1<<34 {
		t.Fatalf("VmRSS %d bytes (%v)", rss, err)
	}
	if _, err := ProcStatus(pid, "NoSuchField:"); err == nil {
		t.Fatal("a missing field read as found")
	}
	f, err := ProcStat(pid)
	if err != nil || len(f) < 2 || f[1] != strconv.Itoa(os.Getppid()) {
		t.Fatalf("stat fields %q (%v): want the parent pid %d second", f, err, os.Getppid())
	}
}
