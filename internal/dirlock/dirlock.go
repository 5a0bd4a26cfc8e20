// Package dirlock keeps a data directory to one daemon: `safepoint node`
// and `safepoint central` hold an exclusive flock(2) on DIR/lock for as
// long as they run, with their pid in it, as Prometheus and etcd do with
// theirs. A second daemon on the same directory is refused at once, naming
// the holder. Short commands (dump, user) take no lock: they go through
// SQLite's own locking beside the daemon.
//
// The kernel drops the lock when the process dies, however it dies: a
// kill -9 leaves a stale file, never a stale lock.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the lock file inside the data directory.
const FileName = "lock"

// ErrHeld means another process holds the directory.
var ErrHeld = errors.New("data directory in use")

// Lock is a held lock; Release gives it back.
type Lock struct{ f *os.File }

// Acquire takes the lock on dir, which must exist. When another process
// holds it, the error wraps ErrHeld and names the directory and, when it
// wrote it, the holder's pid.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = "process " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("%w: %s is held by %s (another safepoint daemon); stop it first, or give this one its own --data", ErrHeld, dir, holder)
		}
		return nil, fmt.Errorf("data directory lock: %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("data directory lock: %s: %w", path, err)
		}
	} else {
		f.Close()
		return nil, fmt.Errorf("data directory lock: %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock back. The file stays: removing it would let a
// third process lock a new file while a second still waits on the old one.
func (l *Lock) Release() error { return l.f.Close() }
