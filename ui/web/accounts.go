package web

import (
	"errors"
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

// AccountRequest is the body of POST /api/staff/accounts.
type AccountRequest struct {
	Name     string        `json:"name"`
	Role     accounts.Role `json:"role"`
	Password string        `json:"password"`
}

func (s *Site) addAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if !ReadJSONLimit(w, r, &req, maxLoginBodySize) {
		return
	}
	err := s.accounts.Add(r.Context(), strings.TrimSpace(req.Name), req.Role, req.Password)
	switch {
	case err == nil:
		s.logger.Info("Account added", "role", req.Role)
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
