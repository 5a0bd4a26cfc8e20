package node

import "time"

// Power: only transitions are events (samples live in the power
// monitor's history, hardware/powermon).

// Event types of this area.
const (
	TypePowerChanged  = "power.changed"
	TypePowerCritical = "power.critical"
	TypePowerSource   = "power.source_changed" // lost or restored
)

// PowerChanged is the payload of power.changed: only transitions are events.
type PowerChanged struct {
	State    string   `json:"state"`
	Previous string   `json:"previous"`
	Percent  *float64 `json:"battery_percent,omitempty"`
	Runtime  *float64 `json:"runtime_minutes,omitempty"`
	Source   string   `json:"source"`
	// GeneratorHours is the fuel left in hours of running, when the node
	// knows its fuel and burn rate.
	GeneratorHours *float64 `json:"generator_hours,omitempty"`
	// Since is when State began: a power.changed within the same state
	// (the battery a step lower) carries the state's start.
	Since *time.Time `json:"since,omitempty"`
}

func (p PowerChanged) valid() bool { return true }

// PowerSource is the payload of power.source_changed: the monitor lost its
// power source (a wire came loose, upsd went away) or has it again.
type PowerSource struct {
	Source string `json:"source"`
	State  string `json:"state"` // "lost" or "restored"
	// Reason is why it was lost: the driver's error, which may name an
	// address (a NUT server's), never a credential.
	Reason string `json:"reason,omitempty"`
}

func (p PowerSource) valid() bool { return true }

// PowerEvent is the last power transition and when it was recorded.
type PowerEvent struct {
	PowerChanged
	At HLC `json:"at"`
}

func (s *State) foldPowerChanged(e Event, at stamp, p PowerChanged) {
	if s.powerAt.less(at) {
		s.power, s.powerAt = p, at
	}
}
