package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/node/accounts"
)

// Login throttling, documented in docs/API.md. It slows a guesser without
// locking the staff out (OWASP's "device cookies"):
//   - per client address, a token bucket: 10 attempts at once, then one
//     every 30 seconds;
//   - per account name and client address: after 5 failed attempts
//     within 15 minutes the name is locked for 15 minutes from that
//     address only; another address can still log in;
//   - per account name from every address together: after 50 failures
//     within 15 minutes the name is locked for 15 minutes for every
//     device that has not logged in as it before;
//   - a device that has logged in as the name before carries a signed
//     device cookie: it passes all three, until it fails 5 times itself.
const (
	loginBurst          = 10
	loginEvery          = 30 * time.Second
	lockoutFailures     = 5
	nameLockoutFailures = 50
	lockoutWindow       = 15 * time.Minute
	lockoutDuration     = 15 * time.Minute
	maxTrackedNames     = 10_000
	maxLoginBodySize    = 4 << 10
	deviceCookieAge     = 365 * 24 * time.Hour
)

// loginGuard throttles logins per client, per account name and client,
// per account name, and per device.
type loginGuard struct {
	clients *Limiter

	mu    sync.Mutex
	locks map[string]*failures // by lockKey
}

type failures struct {
	times       []time.Time // failures within lockoutWindow, fewer than the limit
	lockedUntil time.Time
}

// forget drops the failures older than lockoutWindow: the window slides,
// so failures within it count however long ago the first one was.
func (f *failures) forget(now time.Time) {
	kept := f.times[:0]
	for _, t := range f.times {
		if now.Sub(t) <= lockoutWindow {
			kept = append(kept, t)
		}
	}
	f.times = kept
}

// The keys failures are counted under, each with its limit.
func pairKey(name, client string) string   { return "p\x00" + name + "\x00" + client }
func nameKey(name string) string           { return "n\x00" + name }
func deviceKey(name, device string) string { return "d\x00" + name + "\x00" + device }

func newLoginGuard() *loginGuard {
	return &loginGuard{
		clients: NewLimiter(1/loginEvery.Seconds(), loginBurst, time.Hour),
		locks:   map[string]*failures{},
	}
}

// locked reports whether key is locked out at now, and for how long.
func (g *loginGuard) locked(key string, now time.Time) (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.locks[key]
	if f == nil || !now.Before(f.lockedUntil) {
		return false, 0
	}
	return true, f.lockedUntil.Sub(now)
}

// failed counts a failure under key, which locks it at limit failures
// within lockoutWindow.
func (g *loginGuard) failed(key string, limit int, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.locks) >= maxTrackedNames {
		for k, f := range g.locks { // forget what no longer matters
			if f.forget(now); len(f.times) == 0 && now.After(f.lockedUntil) {
				delete(g.locks, k)
			}
		}
	}
	f := g.locks[key]
	if f == nil {
		if len(g.locks) >= maxTrackedNames {
			return // a flood of made-up names: the per-client limit holds it
		}
		f = &failures{}
		g.locks[key] = f
	}
	f.forget(now)
	f.times = append(f.times, now)
	if len(f.times) >= limit {
		f.lockedUntil = now.Add(lockoutDuration)
		f.times = f.times[:0]
	}
}

func (g *loginGuard) succeeded(keys ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		delete(g.locks, k)
	}
}

// errThrottled carries how long a throttled client should wait.
type errThrottled struct{ wait time.Duration }

func (e errThrottled) Error() string {
	return fmt.Sprintf("too many login attempts; try again in %d minute(s)", int(math.Ceil(e.wait.Minutes())))
}

// authenticate runs one login attempt through the guards. It returns the
// new session's token, errThrottled, or accounts.ErrBadCredentials. A
// device that has logged in as name before (its device cookie) passes the
// client's and the name's limits: an attacker on the point's Wi-Fi cannot
// lock the staff's own tablets out.
func (s *Site) authenticate(r *http.Request, name, password string) (string, accounts.Session, error) {
	now := time.Now()
	client := ClientKey(r)
	device, trusted := s.deviceOf(r, name)
	if trusted {
		if locked, _ := s.logins.locked(deviceKey(name, device), now); locked {
			trusted = false // this device failed too often itself: no better than any other
		}
	}
	if !trusted {
		if ok, wait := s.logins.clients.Allow(client, now); !ok {
			return "", accounts.Session{}, errThrottled{wait}
		}
		for _, k := range []string{pairKey(name, client), nameKey(name)} {
			if locked, wait := s.logins.locked(k, now); locked {
				return "", accounts.Session{}, errThrottled{wait}
			}
		}
	}
	acc, err := s.accounts.Authenticate(r.Context(), name, password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		if trusted {
			s.logins.failed(deviceKey(name, device), lockoutFailures, now)
		} else {
			s.logins.failed(pairKey(name, client), lockoutFailures, now)
			s.logins.failed(nameKey(name), nameLockoutFailures, now)
		}
		s.logger.Info("Login failed") // no name: it may be a password typed in the wrong box
		return "", accounts.Session{}, err
	}
	if err != nil {
		return "", accounts.Session{}, err
	}
	s.logins.succeeded(pairKey(name, client), deviceKey(name, device))
	s.accounts.PurgeSessions(r.Context())
	token, sess, err := s.accounts.NewSession(r.Context(), acc)
	if err != nil {
		return "", accounts.Session{}, err
	}
	s.logger.Info("Login", "role", acc.Role)
	return token, sess, nil
}

func (s *Site) loginFailed(w http.ResponseWriter, err error) (int, string) {
	var th errThrottled
	switch {
	case errors.As(err, &th):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(th.wait.Seconds()))))
		return http.StatusTooManyRequests, th.Error()
	case errors.Is(err, accounts.ErrBadCredentials):
		return http.StatusUnauthorized, "wrong name or password"
	}
	s.logger.Error("Login error", "err", err)
	return http.StatusServiceUnavailable, "login is not possible right now; try again"
}

// Cookie names: on HTTPS the __Host- prefix makes the browser refuse the
// cookie unless it is Secure, host-only and for the whole site.
const (
	cookieTLS   = "__Host-safepoint"
	cookiePlain = "safepoint"
)

func (s *Site) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	name := cookiePlain
	if r.TLS != nil {
		name = cookieTLS
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func sessionToken(r *http.Request) string {
	name := cookiePlain
	if r.TLS != nil {
		name = cookieTLS
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// LoginResponse answers a successful POST /api/login.
type LoginResponse struct {
	CSRF string        `json:"csrf"`
	Role accounts.Role `json:"role"`
}

func (s *Site) loginAPI(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if !ReadJSONLimit(w, r, &req, maxLoginBodySize) {
		return
	}
	token, sess, err := s.authenticate(r, strings.TrimSpace(req.Name), req.Password)
	if err != nil {
		code, msg := s.loginFailed(w, err)
		WriteError(w, code, msg)
		return
	}
	s.setSessionCookie(w, r, token, int(accounts.SessionLifetime.Seconds()))
	s.setDeviceCookie(w, r, sess.Account.Name)
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, LoginResponse{CSRF: sess.CSRF, Role: sess.Account.Role})
}

type loginView struct {
	Next, Error string
}

func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) {
	s.pages.Render(w, http.StatusOK, "login.html", loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Site) loginForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBodySize)
	if err := r.ParseForm(); err != nil {
		s.pages.Render(w, http.StatusBadRequest, "login.html", loginView{Error: "Formuläret kunde inte läsas. / The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token, sess, err := s.authenticate(r, strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("password"))
	if err != nil {
		code, _ := s.loginFailed(w, err)
		msg := "Fel namn eller lösenord. / Wrong name or password."
		if code == http.StatusTooManyRequests {
			msg = "För många försök: vänta en stund. / Too many attempts: wait a while."
		} else if code != http.StatusUnauthorized {
			msg = "Inloggningen fungerar inte just nu. / Login is not possible right now."
		}
		s.pages.Render(w, code, "login.html", loginView{Next: next, Error: msg})
		return
	}
	s.setSessionCookie(w, r, token, int(accounts.SessionLifetime.Seconds()))
	s.setDeviceCookie(w, r, sess.Account.Name)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/board"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/board"
	}
	return next
}

func (s *Site) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.accounts.EndSession(r.Context(), sessionToken(r)); err != nil {
		s.logger.Error("Logout failed", "err", err)
	}
	s.setSessionCookie(w, r, "", -1)
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// wantsJSON tells an API client from a browser form.
func wantsJSON(r *http.Request) bool {
	return r.Header.Get("X-CSRF-Token") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// staffOnly guards a staff route: HTTPS (unless staff TLS is off), a live
// session, a valid CSRF token on changes, and the route's least role. The
// order matters: who you are (401) before what you may do (403).
func (s *Site) staffOnly(rt Route, next http.Handler) http.Handler {
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.accounts.Session(r.Context(), sessionToken(r))
		if err != nil {
			if !errors.Is(err, accounts.ErrNoSession) {
				s.logger.Error("Session lookup failed", "err", err)
			}
			if rt.Access == StaffPage && !rt.Mutating() {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			if rt.Access == StaffPage {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			WriteError(w, http.StatusUnauthorized, "log in first")
			return
		}
		if rt.Mutating() {
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				// A form: parse it here, bounded, for the token and for the
				// handler, which reads r.PostForm.
				r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
				if err := r.ParseForm(); err != nil {
					WriteError(w, http.StatusBadRequest, "could not read the form")
					return
				}
			}
			token := r.Header.Get("X-CSRF-Token")
			if token == "" {
				token = r.PostForm.Get("csrf")
			}
			if !accounts.SameToken(token, sess.CSRF) {
				WriteError(w, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		if !sess.Account.Role.AtLeast(rt.MinRole()) {
			WriteError(w, http.StatusForbidden, fmt.Sprintf("your role %s may not do this (needs %s)", sess.Account.Role, rt.MinRole()))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	})
	return s.requireTLS(guarded)
}
