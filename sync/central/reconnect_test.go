package central_test

import (
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// TestReconnectAfterBrokerRestarts: central must come back quickly after
// every broker restart, the fifth as the first: the wait between attempts
// grows only while attempts fail.
func TestReconnectAfterBrokerRestarts(t *testing.T) {
	mq, _, recv := synctest.StartCentral(t, synctest.Context(t, 90*time.Second), t.TempDir(), nil)
	// listening reports whether central handles messages: it refuses a
	// probe on an up topic.
	listening := func(within time.Duration) bool {
		return synctest.Eventually(within, func() bool {
			before := recv.Counters.Refused.Load()
			pub := synctest.TryClient(mq.URL(), "probe")
			if pub == nil {
				return false
			}
			defer pub.Disconnect(50)
			pub.Publish(wire.Topic("2161", "probe", wire.KindUp), 1, false, []byte("probe")).WaitTimeout(time.Second)
			return synctest.Eventually(300*time.Millisecond, func() bool { return recv.Counters.Refused.Load() > before })
		})
	}
	if !listening(10 * time.Second) {
		t.Fatal("central never listening")
	}
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		mq.Restart()
		began := time.Now()
		if !listening(20 * time.Second) {
			t.Fatalf("restart %d: central not back within 20 s", i)
		}
		took := time.Since(began)
		worst = max(worst, took)
		if took > 3*time.Second {
			t.Errorf("broker restart %d: central back after %v, want under 3 s", i, took.Round(time.Millisecond))
		}
	}
	t.Logf("5 broker restarts, central's slowest return %v", worst.Round(time.Millisecond))
}
