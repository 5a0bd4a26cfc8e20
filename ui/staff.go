package ui

import (
	"cmp"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
)

// StaffState is the staff's JSON snapshot at GET /api/staff/state: the
// whole fold (check-ins without personal data) and who is asking.
type StaffState struct {
	node.View
	Me          accounts.Account `json:"me"`
	ClockOK     bool             `json:"clock_ok"`
	Power       *powermon.Status `json:"power,omitempty"`
	Fingerprint string           `json:"fingerprint,omitempty"`
}

func (s *Server) staffSnapshot(r *http.Request) StaffState {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	return StaffState{View: v, Me: sessionFrom(r.Context()).Account,
		ClockOK: s.log.Clock().Plausible(), Fingerprint: s.opts.Fingerprint, Power: s.powerStatus()}
}

func (s *Server) staffState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.staffSnapshot(r))
}

type boardView struct {
	StaffState
	CSRF       string
	Active     []node.Announcement
	Severities []string
	Notice     string
	Error      string
	Printed    time.Time

	Now      time.Time   // the box's clock; zero when it is not trusted
	PowerNow *boardPower // the power in the board's words
	Chart    *powerChart // the battery's last 24 hours
	Filter   reportFilter
	Queue    []reportRow // the reports the filter shows, in queue order
	Open     []reportRow // every open report, in queue order (print)
	Help     []node.CheckIn
	Rest     []node.CheckIn       // households: needing help, and the rest
	Entries  []journalRow         // the journal, newest first
	Staff    []node.RosterEntry   // the roster, on duty first
	OnDuty   []node.RosterEntry   // those on duty (print)
	Stock    []node.InventoryItem // the inventory, low items first (print)
	People   []string             // roster people and roles, for assigning
	Link     linkView
	Labels   string // boardLabels as JSON, for board.js
}

// boardData is what the board and its printout show.
func (s *Server) boardData(r *http.Request) boardView {
	st := s.staffSnapshot(r)
	v := boardView{StaffState: st, Severities: node.Severities, Labels: boardLabelsJSON,
		PowerNow: powerView(st.Power), Filter: parseFilter(r.URL.Query())}
	wall := s.log.Clock().Wall()
	if st.ClockOK {
		v.Now = wall
	}
	v.Active = st.View.ActiveAnnouncements(v.Now)
	v.Link = linkOf(s.sections()["link"])
	if s.opts.PowerHistory != nil {
		v.Chart = chart(s.opts.PowerHistory(wall.Add(-24*time.Hour)), wall)
		if v.Chart != nil && !st.ClockOK {
			v.Chart.Ticks, v.Chart.Drawn = nil, "" // hours of a wrong clock mislead
		}
	}
	callDown := s.callDown(st.View.Reports, v.Now)
	v.Queue = queue(st.View.Reports, callDown, v.Filter)
	v.Open = queue(st.View.Reports, callDown, reportFilter{})
	v.Help, v.Rest = households(st.View.CheckIns)
	v.Entries = journalRows(st.View.Journal)
	v.Staff = slices.Clone(st.View.Roster)
	slices.SortStableFunc(v.Staff, func(a, b node.RosterEntry) int {
		if a.OnDuty != b.OnDuty {
			if a.OnDuty {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Person, b.Person))
	})
	for _, p := range v.Staff {
		v.People = append(v.People, p.Person)
		if p.OnDuty {
			v.OnDuty = append(v.OnDuty, p)
		}
	}
	v.Stock = slices.Clone(st.View.Inventory)
	slices.SortStableFunc(v.Stock, func(a, b node.InventoryItem) int {
		if a.IsLow != b.IsLow {
			if a.IsLow {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, role := range node.StaffRoles {
		if !slices.Contains(v.People, role) {
			v.People = append(v.People, role)
		}
	}
	return v
}

func (s *Server) board(w http.ResponseWriter, r *http.Request) {
	if s.opts.Downlink != nil {
		// Central has no point of its own: its staff page is /central
		// (where a login lands by default).
		http.Redirect(w, r, "/central", http.StatusSeeOther)
		return
	}
	notice := ""
	if r.URL.Query().Get("published") == "1" {
		notice = "Meddelandet är publicerat. / The announcement is published."
	}
	s.renderBoard(w, r, http.StatusOK, notice, "")
}

func (s *Server) renderBoard(w http.ResponseWriter, r *http.Request, code int, notice, errMsg string) {
	v := s.boardData(r)
	v.CSRF, v.Notice, v.Error = sessionFrom(r.Context()).CSRF, notice, errMsg
	s.render(w, code, "board.html", v)
}

// AnnouncementRequest is the body of POST /api/staff/announcements.
type AnnouncementRequest struct {
	Title      map[string]string `json:"title"`
	Body       map[string]string `json:"body"`
	Severity   string            `json:"severity"`
	ValidUntil *time.Time        `json:"valid_until"`
}

var langCode = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)

// announcement validates a request into an event payload.
func (s *Server) announcement(req AnnouncementRequest, by string) (node.Announcement, error) {
	var v validator
	p := node.Announcement{ID: node.NewID(), Title: map[string]string{}, Body: map[string]string{},
		Severity: v.oneOf("severity", req.Severity, "info", node.Severities), Source: "node:" + s.log.Origin(), By: by}
	if len(req.Title) > 20 || len(req.Body) > 20 {
		v.fail("title, body: at most 20 languages")
	}
	for lang, t := range req.Title {
		if !langCode.MatchString(lang) {
			v.fail("title: %q is not a language code", lang)
		}
		if t = v.text("title."+lang, t, false, 200); t != "" {
			p.Title[lang] = t
		}
	}
	for lang, b := range req.Body {
		if !langCode.MatchString(lang) {
			v.fail("body: %q is not a language code", lang)
		}
		if b = v.text("body."+lang, b, false, 4000); b != "" {
			p.Body[lang] = b
		}
	}
	if p.Title["sv"] == "" {
		v.fail("title.sv: required (Swedish first)")
	}
	if req.ValidUntil != nil {
		until := req.ValidUntil.UTC()
		if s.log.Clock().Plausible() && !until.After(s.log.Clock().Wall()) {
			v.fail("valid_until: already past")
		}
		p.ValidUntil = &until
	}
	return p, v.err
}

func (s *Server) announceAPI(w http.ResponseWriter, r *http.Request) {
	var req AnnouncementRequest
	if !readJSON(w, r, &req) {
		return
	}
	p, err := s.announcement(req, sessionFrom(r.Context()).Account.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeAnnouncementPublished, Payload: p}); err != nil {
		s.appendFailed(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": p.ID})
}

// stockholm is where the points are: a datetime-local field means
// Swedish time.
var stockholm = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.UTC
	}
	return loc
}()

func (s *Server) announceForm(w http.ResponseWriter, r *http.Request) {
	// staffOnly has parsed the form (bounded) for the CSRF token.
	f := r.PostForm
	req := AnnouncementRequest{
		Title:    map[string]string{"sv": f.Get("title_sv"), "en": f.Get("title_en")},
		Body:     map[string]string{"sv": f.Get("body_sv"), "en": f.Get("body_en")},
		Severity: f.Get("severity"),
	}
	if until := strings.TrimSpace(f.Get("valid_until")); until != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", until, stockholm)
		if err != nil {
			s.renderBoard(w, r, http.StatusBadRequest, "", "Ogiltig tid för ”gäller till”. / Invalid valid-until time.")
			return
		}
		req.ValidUntil = &t
	}
	p, err := s.announcement(req, sessionFrom(r.Context()).Account.Name)
	if err != nil {
		s.renderBoard(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeAnnouncementPublished, Payload: p}); err != nil {
		s.logger.Error("Append failed", "err", err)
		s.renderBoard(w, r, http.StatusServiceUnavailable, "", "Kunde inte spara. Försök igen. / Could not store it. Try again.")
		return
	}
	http.Redirect(w, r, "/board?published=1", http.StatusSeeOther)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	accs, err := s.accounts.List(r.Context())
	if err != nil {
		s.logger.Error("Listing accounts failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not read the accounts")
		return
	}
	if accs == nil {
		accs = []accounts.Account{}
	}
	writeJSON(w, http.StatusOK, accs)
}

// AccountRequest is the body of POST /api/staff/accounts.
type AccountRequest struct {
	Name     string        `json:"name"`
	Role     accounts.Role `json:"role"`
	Password string        `json:"password"`
}

func (s *Server) addAccount(w http.ResponseWriter, r *http.Request) {
	var req AccountRequest
	if !readJSONLimit(w, r, &req, maxLoginBodySize) {
		return
	}
	err := s.accounts.Add(r.Context(), strings.TrimSpace(req.Name), req.Role, req.Password)
	switch {
	case err == nil:
		s.logger.Info("Account added", "role", req.Role)
		writeJSON(w, http.StatusCreated, map[string]string{"name": strings.TrimSpace(req.Name)})
	case errors.Is(err, accounts.ErrAccountExists):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, accounts.ErrBadAccountName), errors.Is(err, accounts.ErrBadRole), errors.Is(err, accounts.ErrWeakPassword):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.logger.Error("Adding an account failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not add the account; try again")
	}
}

func (s *Server) disableAccount(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == sessionFrom(r.Context()).Account.Name {
		writeError(w, http.StatusBadRequest, "you cannot disable your own account")
		return
	}
	err := s.accounts.SetDisabled(r.Context(), name, true)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, accounts.ErrNoAccount):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		s.logger.Error("Disabling an account failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not disable the account")
	}
}

// InventoryRequest is the body of POST /api/staff/inventory: a new count of
// one item.
type InventoryRequest struct {
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	Low      float64 `json:"low"`
}

var itemName = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,39}$`)

func (s *Server) inventoryPayload(req InventoryRequest, by string) (node.InventoryChanged, error) {
	var v validator
	p := node.InventoryChanged{Item: strings.ToLower(strings.TrimSpace(req.Item)), Quantity: req.Quantity,
		Unit: v.text("unit", req.Unit, false, 16), Low: req.Low, By: by}
	if !itemName.MatchString(p.Item) {
		v.failField("item", "item: 1 to 40 letters, digits, spaces, dots or dashes")
	}
	if req.Quantity < 0 || req.Quantity > 1e9 || req.Low < 0 || req.Low > 1e9 {
		v.failField("quantity", "quantity and low: 0 or more")
	}
	return p, v.err
}

func (s *Server) inventoryAPI(w http.ResponseWriter, r *http.Request) {
	var req InventoryRequest
	if !readJSON(w, r, &req) {
		return
	}
	p, err := s.inventoryPayload(req, sessionFrom(r.Context()).Account.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeInventoryChanged, Payload: p}); err != nil {
		s.appendFailed(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"item": p.Item})
}

func (s *Server) inventoryForm(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	num := func(name string) float64 {
		x, err := strconv.ParseFloat(strings.Replace(strings.TrimSpace(f.Get(name)), ",", ".", 1), 64)
		if err != nil {
			return -1
		}
		return x
	}
	low := 0.0
	if strings.TrimSpace(f.Get("low")) != "" {
		low = num("low")
	}
	p, err := s.inventoryPayload(InventoryRequest{Item: f.Get("item"), Quantity: num("quantity"), Unit: f.Get("unit"), Low: low},
		sessionFrom(r.Context()).Account.Name)
	if err != nil {
		s.renderBoard(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeInventoryChanged, Payload: p}); err != nil {
		s.logger.Error("Append failed", "err", err)
		s.renderBoard(w, r, http.StatusServiceUnavailable, "", "Kunde inte spara. Försök igen. / Could not store it. Try again.")
		return
	}
	http.Redirect(w, r, "/board#inventory", http.StatusSeeOther)
}

// boardPrint is the one-page situation report for paper: the board's
// picture with print CSS.
func (s *Server) boardPrint(w http.ResponseWriter, r *http.Request) {
	v := s.boardData(r)
	v.Printed = v.Now
	s.render(w, http.StatusOK, "print.html", v)
}
