package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/safepoint-se/safepoint/node/accounts"
)

// The staff accounts, for admins: list, add, disable. Accounts are never
// events: they stay on the box that made them.

func (s *Site) listAccounts(w http.ResponseWriter, r *http.Request) {
	accs, err := s.accounts.List(r.Context())
	if err != nil {
		s.logger.Error("Listing accounts failed", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "could not read the accounts")
		return
	}
	if accs == nil {
		accs = []accounts.Account{}
	}
	WriteJSON(w, http.StatusOK, accs)
}

// AccountRequest is the body of POST /api/staff/accounts. Municipalities,
// SCB codes, limit the account at central; none is every municipality.
type AccountRequest struct {
	Name           string        `json:"name"`
	Role           accounts.Role `json:"role"`
	Password       string        `json:"password"`
	Municipalities []string      `json:"municipalities,omitempty"`
}

func (s *Site) addAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if !ReadJSONLimit(w, r, &req, maxLoginBodySize) {
		return
	}
	scope, err := accounts.CleanMunicipalities(req.Municipalities)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// An admin limited to some municipalities makes accounts within them
	// only: else a new account would be the way out of the limit.
	if me := SessionFrom(r.Context()).Account; me.Scoped() && !within(me, scope) {
		WriteError(w, http.StatusForbidden, fmt.Sprintf("your account sees only municipalities %s: a new account must be limited to them too",
			strings.Join(me.Municipalities, ",")))
		return
	}
	err = s.accounts.AddScoped(r.Context(), strings.TrimSpace(req.Name), req.Role, req.Password, scope)
	switch {
	case err == nil:
		s.logger.Info("Account added", "role", req.Role, "municipalities", len(scope))
		WriteJSON(w, http.StatusCreated, map[string]string{"name": strings.TrimSpace(req.Name)})
	case errors.Is(err, accounts.ErrAccountExists):
		WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, accounts.ErrBadAccountName), errors.Is(err, accounts.ErrBadRole), errors.Is(err, accounts.ErrWeakPassword):
		WriteError(w, http.StatusBadRequest, err.Error())
	default:
		s.logger.Error("Adding an account failed", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "could not add the account; try again")
	}
}

// within reports whether a scope lies inside the account's: some
// municipalities, each one the account sees.
func within(acc accounts.Account, scope []string) bool {
	if len(scope) == 0 {
		return !acc.Scoped()
	}
	for _, m := range scope {
		if !acc.Sees(m) {
			return false
		}
	}
	return true
}

func (s *Site) disableAccount(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == SessionFrom(r.Context()).Account.Name {
		WriteError(w, http.StatusBadRequest, "you cannot disable your own account")
		return
	}
	err := s.accounts.SetDisabled(r.Context(), name, true)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, accounts.ErrNoAccount):
		WriteError(w, http.StatusNotFound, err.Error())
	default:
		s.logger.Error("Disabling an account failed", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "could not disable the account")
	}
}
