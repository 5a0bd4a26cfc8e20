package node

// PowerChanged is the payload of power.changed: only transitions are events.
type PowerChanged struct {
	State    string   `json:"state"`
	Previous string   `json:"previous"`
	Percent  *float64 `json:"battery_percent,omitempty"`
	Runtime  *float64 `json:"runtime_minutes,omitempty"`
	Source   string   `json:"source"`
}

// Power event types.
const (
	TypePowerChanged  = "power.changed"
	TypePowerCritical = "power.critical"
	TypePowerSource   = "power.source_changed" // lost or restored
)
