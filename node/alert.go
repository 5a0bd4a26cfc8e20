package node

// Alerts: central's "action needed" strip. Central works out an alert from
// the points' state (a point silent while activated, a point on battery
// and short of time, an urgent need left open); a staff member at central
// acknowledges it, and the acknowledgement is central's own event, in its
// own log: journaled, never lost, and folded like any other.

// Event types of this area.
const (
	TypeAlertAcknowledged = "alert.acknowledged"
)

// AlertAcknowledged is the payload of alert.acknowledged. Alert is the
// alert's id, which names the situation it is about (the point, and the
// event that raised it), so the same trouble coming back later is a new
// alert.
type AlertAcknowledged struct {
	Alert string `json:"alert"`
	Point string `json:"point"`
	Note  string `json:"note,omitempty"`
	By    string `json:"by,omitempty"`
}

func (p AlertAcknowledged) valid() bool { return p.Alert != "" }

// AlertAck is an acknowledgement as the fold keeps it.
type AlertAck struct {
	Alert string `json:"alert"`
	Point string `json:"point"`
	Note  string `json:"note,omitempty"`
	By    string `json:"by,omitempty"`
	At    HLC    `json:"at"`
}

type ackReg struct {
	p  AlertAcknowledged
	at stamp
}

// Acknowledged returns the first acknowledgement of alert id.
func (s *State) Acknowledged(id string) (AlertAck, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.acks[id]
	if !ok {
		return AlertAck{}, false
	}
	return AlertAck{Alert: r.p.Alert, Point: r.p.Point, Note: r.p.Note, By: r.p.By, At: r.at.hlc}, true
}

// The first acknowledgement stands: a second one, from another desk at
// the same time, changes nothing.
func (s *State) foldAlertAcknowledged(e Event, at stamp, p AlertAcknowledged) {
	if cur, ok := s.acks[p.Alert]; !ok || at.less(cur.at) {
		s.acks[p.Alert] = ackReg{p, at}
	}
}
