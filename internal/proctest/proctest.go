// Package proctest runs the real safepoint binary in tests: it builds it
// once for a test package, starts it as a child process in an environment
// of the test's own, collects what it says, and reads its data back with
// `safepoint dump`. cmd/safepoint's process tests and ui/browsertest use it.
package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Main builds the safepoint binary into a temporary directory, sets *bin to
// its path and calls run (m.Run, with whatever the package sets up and
// tears down around it). It removes the binary afterwards and returns run's
// exit code, or 1 when the build fails: TestMain passes it to os.Exit.
func Main(bin *string, run func() int) int {
	dir, err := os.MkdirTemp("", "safepoint-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proctest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "safepoint")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/safepoint-se/safepoint/cmd/safepoint")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "proctest: go build: %v\n%s", err, out)
		return 1
	}
	return run()
}

// Env is the test's environment without any SAFEPOINT_* variable, nor
// systemd's NOTIFY_SOCKET and WATCHDOG_* (tests run under a service
// manager must not have their children notify it), plus extra: the binary
// sees only what a test gives it.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SAFEPOINT_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Output collects a child's output. os/exec's copying goroutine calls
// Write; Line, when set before the child starts, sees each complete line
// as it comes, under the lock.
type Output struct {
	Line func(line []byte)

	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.Line == nil {
		return len(p), nil
	}
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.Line(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	return len(p), nil
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Proc is one process of the binary.
type Proc struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *Output

	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Command prepares bin with args in the environment Env(env...), its
// output collected; set more of Cmd, or Stderr.Line, before Start.
func Command(bin string, env []string, args ...string) *Proc {
	p := &Proc{Cmd: exec.Command(bin, args...), Stdout: &Output{}, Stderr: &Output{}, done: make(chan struct{})}
	p.Cmd.Env = Env(env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Stdout, p.Stderr
	return p
}

// Start starts the process; Done closes once it has ended.
func (p *Proc) Start() error {
	if err := p.Cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return nil
}

// Done is closed once the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned; read it once Done is
// closed.
func (p *Proc) Err() error { return p.err }

// Kill kills the process unless it has ended, and waits up to d for it;
// it reports whether the process has ended.
func (p *Proc) Kill(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	p.Cmd.Process.Kill()
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// WaitHealthy polls GET base/healthz until it answers 200, or fails once
// ctx has ended.
func WaitHealthy(ctx context.Context, base string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("GET /healthz never answered 200: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Result is one finished run of the binary.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin with args to its end, within ctx, stdin on its standard
// input. A run that exits non-zero is a Result with its Code; the error is
// for one that could not start or did not end in time.
func Run(ctx context.Context, bin, stdin string, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
		res.Code = exit.ExitCode()
	default:
		return res, fmt.Errorf("%v: %w (%s)", args, err, res)
	}
	return res, nil
}
