// Package nut reads a UPS through Network UPS Tools: it is a client for the
// line-based protocol upsd speaks on TCP port 3493, written against NUT 2.8
// and tested with Debian's upsd and its dummy-ups driver.
//
// A source is named by a spec, nut://host[:port]/ups, where ups is the
// section name in the server's ups.conf:
//
//	addr, err := nut.Parse("nut://192.168.1.10/eaton")
//	c := nut.New(addr, &nut.Opts{User: "safepoint", Password: pw})
//	defer c.Close()
//	r, err := c.Read(ctx)
//
// Read connects on first use and again after any error, so a restarted
// upsd is picked up on the next poll; Close sends LOGOUT and ends the
// client. Each Read sends LIST VAR and maps
// the variables onto a power.Reading:
//
//	ups.status       OnMains (has OL), LowBattery (has LB), Charging (has CHRG)
//	input.voltage    OnMains = input.voltage > 100, only when ups.status is absent
//	battery.charge   Percent
//	battery.runtime  Runtime (seconds)
//	battery.voltage  Volts
//	battery.current  Amps, signed by ups.status (DISCHRG or OB positive, CHRG negative)
//
// NUT has no generator token, so Generator is always false. Numbers the
// UPS does not report are NaN and Runtime is negative (power.Unknown).
// NUT does not define the sign of battery.current, so the magnitude is
// kept and the sign follows the Reading convention from the status tokens.
//
// Without a user the client reads anonymously: upsd serves LIST VAR to
// anyone its LISTEN lines let in. With a user it sends USERNAME, PASSWORD
// and LOGIN, because upsd checks a password only at LOGIN; the user then
// needs "upsmon secondary" in upsd.users, and counts as one more
// secondary monitor (a primary upsmon waits up to its HOSTSYNC for it
// during a forced shutdown).
//
// Answers from upsd that mean "no usable data" come back as errors that
// errors.Is matches against ErrStale (ERR DATA-STALE, or a driver still at
// status WAIT), ErrNoDriver (ERR DRIVER-NOT-CONNECTED), ErrAccessDenied
// (ERR ACCESS-DENIED and the other login refusals) and ErrUnknownUPS (ERR
// UNKNOWN-UPS); errors.As with *Error gives the ERR word. Lines upsd
// would never send match ErrProtocol; network failures are wrapped as they
// are. Any error drops the connection, and the next call connects afresh.
// The client never logs.
//
// Every exchange is bounded: Opts.Timeout (default 5 s) limits each Read
// or Vars call, connecting included; lines are at most 4 KiB and a list at
// most 1000 variables.
package nut
