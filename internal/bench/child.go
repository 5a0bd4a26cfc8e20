package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Child is the benchmark tool started again as a helper process of its
// own (a node, central, a subscriber), so that what it costs is not the
// load generator's. It writes lines on its standard output, may answer
// lines written to its standard input, and ends when its standard input
// closes: when the parent is done, or gone.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

// StartChild starts this program again with args, and env added to its
// environment, and waits up to wait for its first line (where it listens,
// or that it is ready), which it returns. The child's standard error is
// this process's.
func StartChild(wait time.Duration, env []string, args ...string) (_ *Child, first string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(exe, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	c := &Child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() { cmd.Wait(); close(c.done) }()
	if first, err = c.Next(wait); err != nil {
		c.Stop(20 * time.Second)
		return nil, "", err
	}
	return c, first, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Next waits up to d for the child's next line.
func (c *Child) Next(d time.Duration) (string, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("child exited")
		}
		return l, nil
	case <-t.C:
		return "", errors.New("child did not answer in time")
	}
}

// Command sends the child one line and waits up to d for its answer.
func (c *Child) Command(line string, d time.Duration) (string, error) {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return "", err
	}
	return c.Next(d)
}

// Stop closes the child's standard input, which ends it, and waits; a
// child still there after d is killed.
func (c *Child) Stop(d time.Duration) {
	c.stdin.Close()
	waitOrKill(c.cmd.Process, c.done, d)
}

// Peer is a program the tool measures or measures against (nginx,
// Mosquitto), running with a configuration of the tool's.
type Peer struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	output  bytes.Buffer // read only once exited closes
	logFile string
}

// StartPeer starts bin with args. Its output, and logFile if not empty,
// go into the errors of Ready.
func StartPeer(name, logFile, bin string, args ...string) (*Peer, error) {
	p := &Peer{name: name, exited: make(chan struct{}), logFile: logFile}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.output, &p.output
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the peer's process id.
func (p *Peer) Pid() int { return p.cmd.Process.Pid }

// Ready calls ready every interval until it succeeds. When the peer exits
// first, or ctx ends or limit passes (then it stops the peer with sig), it
// returns an error with what the peer said.
func (p *Peer) Ready(ctx context.Context, limit, interval time.Duration, sig os.Signal, ready func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop(sig, 5*time.Second)
			return fmt.Errorf("%s does not answer: %v\n%s", p.name, err, p.log())
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited at start:\n%s", p.name, p.log())
		case <-time.After(interval):
		}
	}
}

// log is what the peer said, once it has exited.
func (p *Peer) log() string {
	s := p.output.String()
	if p.logFile != "" {
		b, _ := os.ReadFile(p.logFile)
		s += string(b)
	}
	return s
}

// Stop sends the peer sig, and kills it if it is still there after d.
func (p *Peer) Stop(sig os.Signal, d time.Duration) {
	p.cmd.Process.Signal(sig)
	waitOrKill(p.cmd.Process, p.exited, d)
}

// Version is the first line bin prints with arg ("-v", "-h"), without
// prefix: "nginx/1.22.1" for nginx -v and prefix "nginx version: ".
func Version(bin, arg, prefix string) string {
	out, _ := exec.Command(bin, arg).CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(strings.TrimSpace(first), prefix)
}

// waitOrKill waits until done closes, killing p after d.
func waitOrKill(p *os.Process, done <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.Kill()
		<-done
	}
}
