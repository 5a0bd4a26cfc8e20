package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times: 100
// on every architecture Go runs on.
const clockTicks = 100

var errStat = errors.New("unreadable /proc/PID/stat")

// ProcStat reads /proc/PID/stat from its third field (the state) on: the
// second, the command name, is in parentheses and may hold spaces.
func ProcStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil, errStat
	}
	return strings.Fields(string(b[i+2:])), nil
}

// CPUTime is the CPU time, user and system, the processes pids have used so
// far, from /proc (Linux).
func CPUTime(pids ...int) (time.Duration, error) {
	var ticks int64
	for _, pid := range pids {
		f, err := ProcStat(pid)
		if err != nil {
			return 0, err
		}
		if len(f) < 13 {
			return 0, errStat
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
		stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
		if err1 != nil || err2 != nil {
			return 0, errStat
		}
		ticks += utime + stime
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ProcStatus reads a size field ("VmRSS:", "VmHWM:") of /proc/PID/status,
// in bytes.
func ProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// Children lists the processes whose parent is pid (nginx's workers).
func Children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := ProcStat(child); err == nil && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
