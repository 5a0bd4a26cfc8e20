// Package systemdtest is a fake of systemd's notify socket for tests: a
// unix datagram socket that collects what a daemon sends to it, whether the
// daemon runs in the test's process (NOTIFY_SOCKET set with t.Setenv) or
// as a child process (NOTIFY_SOCKET in its environment).
package systemdtest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one datagram and when it came.
type Message struct {
	At    time.Time
	State string // "READY=1\nSTATUS=…": one assignment a line
}

// Has reports whether the message makes the assignment kv ("READY=1"), or,
// for a key alone ("STATUS"), assigns that key anything.
func (m Message) Has(kv string) bool {
	for _, line := range strings.Split(m.State, "\n") {
		if line == kv || (!strings.Contains(kv, "=") && strings.HasPrefix(line, kv+"=")) {
			return true
		}
	}
	return false
}

// Value is what the message assigns to key, and whether it does.
func (m Message) Value(key string) (string, bool) {
	for _, line := range strings.Split(m.State, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// Socket is the fake systemd's end.
type Socket struct {
	Path string // what NOTIFY_SOCKET must say

	conn *net.UnixConn
	mu   sync.Mutex
	msgs []Message
	more chan struct{} // closed and replaced on every message
}

// Listen opens a socket in a new short directory (a unix socket's path has
// at most 107 bytes) and collects every message until the test ends.
func Listen(t testing.TB) *Socket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Socket{Path: filepath.Join(dir, "notify"), more: make(chan struct{})}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, Message{At: time.Now(), State: string(buf[:n])})
			close(s.more)
			s.more = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { s.conn.Close(); <-done })
	return s
}

// Messages is every message so far, oldest first.
func (s *Socket) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Since is every message from the n-th on (n = len of an earlier
// Messages).
func (s *Socket) Since(n int) []Message {
	all := s.Messages()
	if n > len(all) {
		return nil
	}
	return all[n:]
}

// Wait waits up to d for a message from the n-th on that match says yes
// to, and returns it with its index.
func (s *Socket) Wait(n int, d time.Duration, match func(Message) bool) (Message, int, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for i := n; i < len(s.msgs); i++ {
			if match(s.msgs[i]) {
				m := s.msgs[i]
				s.mu.Unlock()
				return m, i, true
			}
		}
		n = max(n, len(s.msgs))
		more := s.more
		s.mu.Unlock()
		select {
		case <-more:
		case <-deadline.C:
			return Message{}, n, false
		}
	}
}

// Count is how many messages from the n-th on make the assignment kv.
func (s *Socket) Count(n int, kv string) int {
	c := 0
	for _, m := range s.Since(n) {
		if m.Has(kv) {
			c++
		}
	}
	return c
}
