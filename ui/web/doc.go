// Package web is the base the audiences' packages stand on: the staff
// sessions (login, logout, the accounts) and the guard every staff route
// passes (HTTPS, a session, the CSRF token, the route's least role), the
// staff certificate, the residents' languages, the websocket hub the live
// board runs on, the staff pages' layout, words and rendering, the static
// files, the rate and body limits, the security headers, and the
// production HTTP server settings.
//
// A Site serves its own routes and those of the Parts it is given:
//
//	site := web.New(web.Options{Accounts: log.Accounts(), Logger: logger})
//	handler := site.Handler(portal.New(site, …), board.New(site, …))
//
// so `safepoint node` and `safepoint central` compose what they serve.
package web
