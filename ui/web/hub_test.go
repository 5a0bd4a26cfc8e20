package web

import "testing"

// TestPingInsidePongWait: the production ping interval stays well inside
// the read deadline, so that a board's pongs keep it open. (The hub itself
// is tested live, under the board: package board.)
func TestPingInsidePongWait(t *testing.T) {
	if pingEvery*2 > pongWait {
		t.Errorf("pingEvery %v and pongWait %v: a lost pong drops the board", pingEvery, pongWait)
	}
}
