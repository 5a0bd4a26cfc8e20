package web

import (
	"testing"
	"time"
)

func TestLimiterForgetsIdleClients(t *testing.T) {
	lim := NewLimiter(1, 1, time.Minute)
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		lim.Allow(string(rune('a'+i%26))+string(rune('a'+i/26)), now)
	}
	if ok, _ := lim.Allow("aa", now); ok {
		t.Error("second request within the burst allowed")
	}
	lim.Allow("late", now.Add(2*time.Minute))
	if n := len(lim.clients); n != 1 {
		t.Errorf("%d clients kept after the idle sweep, want 1", n)
	}
}
