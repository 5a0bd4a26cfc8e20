package demo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// output interleaves the children's logs line by line, each prefixed with
// its process's name.
type output struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *output) line(name string, width int, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%-*s | %s\n", width, name, text)
}

// banner prints to w (standard output) without cutting into a log line.
func (o *output) banner(w io.Writer, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	io.WriteString(w, text)
}

// logWatch closes seen at the first log line holding text.
type logWatch struct {
	text string
	seen chan struct{}
}

// prefixWriter is one child's standard output and error.
type prefixWriter struct {
	out   *output
	name  string
	width int
	watch *logWatch // nil: none
	mu    sync.Mutex
	buf   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := string(p.buf[:i])
		p.out.line(p.name, p.width, line)
		if p.watch != nil && strings.Contains(line, p.watch.text) {
			close(p.watch.seen)
			p.watch = nil
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.out.line(p.name, p.width, string(p.buf))
		p.buf = nil
	}
}

// child is one running process of the demo.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's, once done is closed
}

func startChild(exe, name string, width int, out *output, watch *logWatch, args []string) (*child, error) {
	w := &prefixWriter{out: out, name: name, width: width, watch: watch}
	cmd := exec.Command(exe, args...)
	cmd.Env = childEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("demo: starting %s: %w", name, err)
	}
	out.line("demo", width, fmt.Sprintf("Started %s (pid %d)", name, cmd.Process.Pid))
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		w.flush()
		close(c.done)
	}()
	return c, nil
}

// childEnv is environ without SAFEPOINT_*: the children get their flags
// only, nothing from the shell.
func childEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "SAFEPOINT_") {
			env = append(env, kv)
		}
	}
	return env
}

// stopChildren stops the nodes, then central (the first): SIGTERM, and
// SIGKILL for any still there after 8 s (a process stops within 5).
func stopChildren(children []*child) {
	stop := func(cs []*child) {
		for _, c := range cs {
			c.cmd.Process.Signal(syscall.SIGTERM) // an error means it has gone
		}
		deadline := time.After(8 * time.Second)
		for _, c := range cs {
			select {
			case <-c.done:
			case <-deadline:
				c.cmd.Process.Kill()
				<-c.done
			}
		}
	}
	if len(children) > 1 {
		stop(children[1:])
	}
	if len(children) > 0 {
		stop(children[:1])
	}
}
