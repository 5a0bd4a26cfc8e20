// Package ui is the node's HTTP face: the resident API (and, as they land,
// the resident portal, the staff board and the central dashboard). It turns
// requests into events on the node's log and renders the log's fold; it holds
// no state of its own beyond rate limiters.
package ui
