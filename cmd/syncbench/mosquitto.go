package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/safepoint-se/safepoint/internal/bench"
)

// broker is the running Mosquitto.
type broker struct {
	*bench.Peer
	url, version string
}

// mosquittoConf: anonymous, nothing kept on disk, and no broker-side limit
// that would drop or hold back QoS 1 messages: a thousand nodes with a
// window of batches each can queue thousands for central's one
// subscription (the default max_queued_messages, 1000, would drop them),
// and max_inflight_messages 0 lets Mosquitto send central all of them
// without waiting for PUBACKs 20 at a time.
const mosquittoConf = `# written by syncbench
listener {{port}} 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
max_queued_messages 1000000
max_inflight_messages 0
set_tcp_nodelay {{nodelay}}
log_dest stderr
log_type error
log_type warning
`

func startMosquitto(ctx context.Context, dir string, nodelay bool) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := bench.FreePort()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{port}}", strconv.Itoa(port), "{{nodelay}}", strconv.FormatBool(nodelay)).Replace(mosquittoConf)
	file := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := bench.StartPeer("mosquitto", "", mosquittoBin, "-c", file)
	if err != nil {
		return nil, err
	}
	b := &broker{Peer: p, url: "tcp://127.0.0.1:" + strconv.Itoa(port),
		version: bench.Version(mosquittoBin, "-h", "")} // "mosquitto version 2.0.11"
	if err := p.Ready(ctx, 10*time.Second, 20*time.Millisecond, syscall.SIGTERM, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *broker) pid() int { return b.Pid() }

func (b *broker) stop() { b.Stop(syscall.SIGTERM, 5*time.Second) }
