// Package portal serves the residents, over plain HTTP on the point's
// Wi-Fi: the status, announcements, guidance and contact pages in their
// language (cached while nothing changes), the check-in and report forms
// and their receipts, a live-update stream for pages that refresh
// themselves, the phones' captive-portal checks, and the public JSON API
// (GET /api/status, POST /api/reports and /api/checkins). Pages work
// without JavaScript and stay small. It turns submissions into events on
// the node's log and renders the log's fold; it holds no state of its own
// beyond rate limiters and the page cache.
package portal
