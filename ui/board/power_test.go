package board

import (
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// TestBoardPowerLost: a source that does not answer shows as unknown on
// the board, with the driver's reason, escaped; a source that answers shows
// no reason.
func TestBoardPowerLost(t *testing.T) {
	st := powermon.Status{Source: "hat:x728", SourceOK: false,
		SourceProblem: "hat x728: no I2C bus /dev/i2c-1 on this machine: turn I2C on <now>"}
	e := newEnv(t, Options{Power: func() powermon.Status { return st }}, nil)
	e.AddAccount(t, "anna", accounts.RoleStaff, "anna-password-1")
	s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
	page := string(s.Get(t, "/board").Body)
	for _, want := range []string{`class="pw pw-unknown"`, "strömläget är okänt", "hat:x728",
		"no I2C bus /dev/i2c-1 on this machine: turn I2C on &lt;now&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the board lacks %q", want)
		}
	}
	if strings.Contains(page, `data-k="lost" hidden`) {
		t.Error("the lost source is hidden")
	}

	if p := powerView(&powermon.Status{State: "OL", SourceOK: true, SourceProblem: "stale"}); p.Problem != "" || p.Lost || p.Key != "OL" {
		t.Errorf("a source that answers: %+v", p)
	}
}
