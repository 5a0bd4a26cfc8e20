// Package board serves a point's crisis staff: the board at /board (the
// needs queue, households, services, roster, journal, inventory,
// announcements and power, live over a websocket and usable without
// JavaScript), its one-page printout, and every action on it, as a plain
// form under /board/… (answered with a redirect back) and as JSON under
// /api/staff/…. Every action is an event on the node's log carrying its
// author. The site (package web) guards every route: HTTPS, a session, the
// CSRF token and the route's least role.
package board
