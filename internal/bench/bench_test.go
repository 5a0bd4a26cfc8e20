package bench

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
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

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tt.xs); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("the median of nothing is a number")
	}
}

func TestThousands(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 31234.5: "31,235", 1234567: "1,234,567", -1234: "-1,234", -123: "-123"} {
		if got := Thousands(x); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", x, got, want)
		}
	}
}

// TestUsage: the flags with a usage text, with defaults unless zero.
func TestUsage(t *testing.T) {
	fs := flag.NewFlagSet("tool", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	fs.Int("rounds", 3, "`how many` rounds")
	fs.Duration("delay", 0, "a delay")
	fs.Bool("v", false, "verbose")
	fs.String("child", "", "")
	Usage(fs, "Usage: tool [flags]")
	fs.Usage()
	want := "Usage: tool [flags]\n  -delay duration\n\ta delay\n  -rounds how many\n\thow many rounds (default 3)\n  -v \n\tverbose\n"
	if out.String() != want {
		t.Errorf("usage:\n%q\nwant:\n%q", out.String(), want)
	}
}

// TestPointState: the state appends to a real log as a point's.
func TestPointState(t *testing.T) {
	ctx := context.Background()
	l, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), eventlog.FileName), eventlog.Options{Origin: "sp-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Append(ctx, l, PointState(l.Origin())); err != nil {
		t.Fatal(err)
	}
	v := l.State().View()
	open := 0
	for _, s := range v.Services {
		if s.Status != node.ServiceUnknown {
			open++
		}
	}
	if v.Point.Name != "Byhuset i Ås" || open != 6 || len(v.Announcements) != 2 {
		t.Errorf("point %q, %d services set, %d announcements", v.Point.Name, open, len(v.Announcements))
	}
}
