package central_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/synctest"
)

func openLog(t *testing.T, dir, origin string) *eventlog.Log {
	return synctest.OpenLog(t, dir, origin, nil)
}

// simClock is wall time that a test can move forward: every log of the
// test (central's and the nodes') runs on it.
type simClock struct{ offset atomic.Int64 }

func (c *simClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *simClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// clock is a new HLC clock on c, for one log; on a nil c, nil: the
// system's.
func (c *simClock) clock() *node.Clock {
	if c == nil {
		return nil
	}
	return node.NewClock(c.now)
}

func openLogClock(t *testing.T, dir, origin string, c *simClock) *eventlog.Log {
	return synctest.OpenLog(t, dir, origin, c.clock())
}

// testNode is a node of a test: its log, and its link while it runs.
type testNode struct {
	id, municipality string
	log              *eventlog.Log
	link             *link.Link
	stop             func()   // stops the link
	personal         []string // the personal strings its check-ins carried
	checkins         []string // their ids
}

// threeNodes are byhuset-a and macken-b of 2161 and skolan-c of 0180,
// each with its log in dir/ID, on clock (nil: the system's).
func threeNodes(t *testing.T, dir string, clock *simClock) []*testNode {
	nodes := []*testNode{
		{id: "byhuset-a", municipality: "2161"},
		{id: "macken-b", municipality: "2161"},
		{id: "skolan-c", municipality: "0180"},
	}
	for _, n := range nodes {
		n.log = openLogClock(t, filepath.Join(dir, n.id), n.id, clock)
	}
	return nodes
}

// run runs n's link to broker, tuned by opts, until the test ends or
// n.stop is called.
func (n *testNode) run(t *testing.T, ctx context.Context, broker string, opts link.Opts) {
	opts.Broker, opts.Municipality, opts.Log = broker, n.municipality, n.log
	n.link, n.stop = synctest.RunLink(t, ctx, opts)
}
