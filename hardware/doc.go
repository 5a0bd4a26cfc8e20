// Package hardware holds the sensors of a safety point behind small
// interfaces. Power sources live in subpackages: power (the reading every
// source returns), sim (a scenario simulator), nut (a client for Network UPS
// Tools). Drivers return readings and errors; they never log.
package hardware
