package main

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/synctest"
)

// components reads a daemon's JSON log lines and returns which components
// they came from; a line without one fails the test.
func components(t *testing.T, log string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("a log line that is not JSON: %q", sc.Text())
			continue
		}
		c, _ := rec["component"].(string)
		if c == "" {
			t.Errorf("a log line without a component: %s", sc.Text())
			continue
		}
		seen[c]++
	}
	return seen
}

// TestLogComponents: every line a node and a central log names the
// component it comes from, so an operator can filter them: node, ui,
// power and link at a node; central, ui and broker at central.
func TestLogComponents(t *testing.T) {
	mq := synctest.StartMosquitto(t)
	nodeProc := startNode(t, nil, nodeArgs(t.TempDir(), "--power", "sim", "--mqtt", mq.URL())...)
	c := start(t, nil, "central", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--staff-tls", "off",
		"--embedded-broker", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug")
	c.waitServing(t, "central", 15*time.Second)
	c.waitHealthy(t)
	// A status request logs at debug (ui); the link has connected by the
	// time the node says it is online.
	if !synctest.Eventually(15*time.Second, func() bool {
		st, err := nodeSync(nodeProc.base)
		return err == nil && st.Online
	}) {
		t.Fatalf("the node's link never came online; stderr:\n%s", nodeProc.Stderr)
	}
	nodeProc.getStatus(t)
	nodeProc.terminate()
	c.terminate()

	for _, d := range []struct {
		name       string
		log        string
		want, only []string
	}{
		{"node", nodeProc.Stderr.String(), []string{"node", "ui", "power", "link"}, []string{"node", "ui", "power", "link"}},
		{"central", c.Stderr.String(), []string{"central", "ui", "broker"}, []string{"central", "ui", "broker"}},
	} {
		seen := components(t, d.log)
		for _, w := range d.want {
			if seen[w] == 0 {
				t.Errorf("%s: no line from component %q (%v)", d.name, w, seen)
			}
		}
		for c := range seen {
			if !slices.Contains(d.only, c) {
				t.Errorf("%s: a component %q that is none of %v", d.name, c, d.only)
			}
		}
		t.Logf("%s: lines per component %v", d.name, seen)
	}
}
