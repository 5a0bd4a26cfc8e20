// Package hardware holds the sensors of a safety point behind small
// interfaces. Power sources live in subpackages: power (the reading every
// source returns, and the chemistries' resting-voltage curves), sim (a
// scenario simulator), nut (a client for Network UPS Tools), and the
// hardware a node reads itself through periph.io: hat (Waveshare and
// Geekworm UPS HATs), shunt (a battery through an INA219), max1704x (the
// X728's and X1200's fuel gauge), contacts (relay contacts on GPIO), bank
// (a shunt and contacts as one source) and machine (the host, its I2C buses
// and GPIO pins, opened by name). powermon polls a source and turns its
// readings into state and events. Drivers return readings and errors; they
// never log.
package hardware
