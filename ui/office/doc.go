// Package office serves the municipality's crisis staff at central: the
// page at /central listing the nodes central hears from, the forms that
// send announcements and activations to them (no JavaScript), each
// directive's page following it to every node (queued, delivered, shown),
// and the same as JSON under /api (the nodes, announcements and their
// withdrawal, activation, contact lines, report status and comments,
// directives). Directives go through central's downlink (sync/central);
// the site (package web) guards every route.
package office
