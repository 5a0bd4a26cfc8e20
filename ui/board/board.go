package board

import (
	"cmp"
	"embed"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// Options configure a Board. Zero fields mean defaults.
type Options struct {
	Log    *eventlog.Log // required
	Logger *slog.Logger  // slog.Default() when nil
	// Power reads the power monitor; nil when the node watches no source.
	Power func() powermon.Status
	// PowerHistory returns the monitor's samples since a time.
	PowerHistory func(since time.Time) []powermon.Sample
	// Sync reads the link to central; nil when none is configured.
	Sync func() api.SyncStatus
	// CallDown flags open reports untouched this long; 30 min by default.
	CallDown time.Duration
	// Heartbeat is how often open boards get a heartbeat and a ping; 20 s
	// by default.
	Heartbeat time.Duration
}

// Board serves the point's staff: the live board, its printout and the
// actions on it, as forms and as JSON.
type Board struct {
	opts   Options
	site   *web.Site
	log    *eventlog.Log
	logger *slog.Logger
	pages  *web.Pages
	hub    *web.Hub
}

//go:embed templates
var templateFS embed.FS

// New builds the board around the node's log, on site.
func New(site *web.Site, opts Options) *Board {
	s := &Board{opts: opts, site: site, log: opts.Log, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.pages = web.ParsePages(s.logger, funcs, templateFS, "templates/*.html")
	s.hub = site.NewHub(web.HubOptions{Sections: s.sections, Changed: s.log.Changed, Slow: s.lowPower,
		Logger: s.logger, Every: opts.Heartbeat})
	return s
}

// Routes are the board's pages and forms under /board and its JSON under
// /api/staff: all for staff.
func (s *Board) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Path: "/board", Access: web.StaffPage, Handler: s.board},
		{Method: "POST", Path: "/board/announcements", Access: web.StaffPage, Handler: s.announceForm},
		{Method: "GET", Path: "/board/ws", Access: web.StaffAPI, Handler: s.hub.ServeHTTP},
		{Method: "GET", Path: "/board/print", Access: web.StaffPage, Handler: s.boardPrint},
		{Method: "POST", Path: "/board/reports/{id}/status", Access: web.StaffPage, Handler: formAction(s, "reports", reportActionForm, s.setReportStatus)},
		{Method: "POST", Path: "/board/reports/{id}/assign", Access: web.StaffPage, Handler: formAction(s, "reports", reportActionForm, s.assignReport)},
		{Method: "POST", Path: "/board/reports/{id}/comments", Access: web.StaffPage, Handler: formAction(s, "reports", reportActionForm, s.commentReport)},
		{Method: "POST", Path: "/board/checkins", Access: web.StaffPage, Handler: formAction(s, "checkins", staffCheckInForm, s.staffCheckIn)},
		{Method: "POST", Path: "/board/services", Access: web.StaffPage, Handler: formAction(s, "services", serviceForm, s.setService)},
		{Method: "POST", Path: "/board/roster", Access: web.StaffPage, Handler: formAction(s, "roster", rosterForm, s.setRoster)},
		{Method: "POST", Path: "/board/journal", Access: web.StaffPage, Handler: formAction(s, "journal", journalForm, s.addJournal)},
		{Method: "POST", Path: "/board/clock", Access: web.StaffPage, Handler: formAction(s, "clock", clockForm, s.setClock)},
		{Method: "POST", Path: "/board/inventory", Access: web.StaffPage, Handler: s.inventoryForm},
		{Method: "GET", Path: "/api/staff/state", Access: web.StaffAPI, Handler: s.staffState},
		{Method: "GET", Path: "/api/staff/power/history", Access: web.StaffAPI, Handler: s.powerHistory},
		{Method: "POST", Path: "/api/staff/reports/{id}/status", Access: web.StaffAPI, Handler: jsonAction(s, s.setReportStatus)},
		{Method: "POST", Path: "/api/staff/reports/{id}/assign", Access: web.StaffAPI, Handler: jsonAction(s, s.assignReport)},
		{Method: "POST", Path: "/api/staff/reports/{id}/comments", Access: web.StaffAPI, Handler: jsonAction(s, s.commentReport)},
		{Method: "POST", Path: "/api/staff/checkins", Access: web.StaffAPI, Handler: jsonAction(s, s.staffCheckIn)},
		{Method: "GET", Path: "/api/staff/checkins/{id}/personal", Access: web.StaffAPI, Role: accounts.RoleStaff, Handler: s.checkinPersonal},
		{Method: "POST", Path: "/api/staff/services", Access: web.StaffAPI, Handler: jsonAction(s, s.setService)},
		{Method: "POST", Path: "/api/staff/roster", Access: web.StaffAPI, Handler: jsonAction(s, s.setRoster)},
		{Method: "GET", Path: "/api/staff/roster/contacts", Access: web.StaffAPI, Role: accounts.RoleStaff, Handler: s.rosterContacts},
		{Method: "POST", Path: "/api/staff/journal", Access: web.StaffAPI, Handler: jsonAction(s, s.addJournal)},
		{Method: "POST", Path: "/api/staff/clock", Access: web.StaffAPI, Handler: jsonAction(s, s.setClock)},
		{Method: "POST", Path: "/api/staff/announcements", Access: web.StaffAPI, Handler: s.announceAPI},
		{Method: "POST", Path: "/api/staff/inventory", Access: web.StaffAPI, Handler: s.inventoryAPI},
	}
}

// StaffState is the staff's JSON snapshot at GET /api/staff/state: the
// whole fold (check-ins without personal data) and who is asking.
type StaffState struct {
	node.View
	Me          accounts.Account `json:"me"`
	ClockOK     bool             `json:"clock_ok"`
	Power       *powermon.Status `json:"power,omitempty"`
	Fingerprint string           `json:"fingerprint,omitempty"`
}

func (s *Board) staffSnapshot(r *http.Request) StaffState {
	v := s.log.State().View()
	if v.Point.ID == "" {
		v.Point.ID = s.log.Origin()
	}
	return StaffState{View: v, Me: web.SessionFrom(r.Context()).Account,
		ClockOK: s.log.Clock().Plausible(), Fingerprint: s.site.Fingerprint(), Power: s.powerStatus()}
}

func (s *Board) staffState(w http.ResponseWriter, r *http.Request) {
	web.WriteJSON(w, http.StatusOK, s.staffSnapshot(r))
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
	Labels   string // web.LabelsJSON, for board.js
}

// boardData is what the board and its printout show.
func (s *Board) boardData(r *http.Request) boardView {
	st := s.staffSnapshot(r)
	v := boardView{StaffState: st, Severities: node.Severities, Labels: web.LabelsJSON,
		PowerNow: powerView(st.Power), Filter: parseFilter(r.URL.Query())}
	wall := s.log.Clock().Wall()
	if st.ClockOK {
		v.Now = wall
	}
	v.Active = st.View.ActiveAnnouncements(v.Now)
	v.Link = linkOf(s.syncStatus())
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

func (s *Board) board(w http.ResponseWriter, r *http.Request) {
	notice := ""
	if r.URL.Query().Get("published") == "1" {
		notice = "Meddelandet är publicerat. / The announcement is published."
	}
	s.renderBoard(w, r, http.StatusOK, notice, "")
}

func (s *Board) renderBoard(w http.ResponseWriter, r *http.Request, code int, notice, errMsg string) {
	v := s.boardData(r)
	v.CSRF, v.Notice, v.Error = web.SessionFrom(r.Context()).CSRF, notice, errMsg
	s.pages.Render(w, code, "board.html", v)
}

// announcement validates a request from the point's own staff.
func (s *Board) announcement(req api.AnnouncementRequest, by string) (node.Announcement, error) {
	return api.Announcement(req, by, "node:"+s.log.Origin(), s.log.Clock())
}

func (s *Board) announceAPI(w http.ResponseWriter, r *http.Request) {
	var req api.AnnouncementRequest
	if !web.ReadJSON(w, r, &req) {
		return
	}
	p, err := s.announcement(req, web.SessionFrom(r.Context()).Account.Name)
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeAnnouncementPublished, Payload: p}); err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, map[string]string{"id": p.ID})
}

func (s *Board) announceForm(w http.ResponseWriter, r *http.Request) {
	// The site's guard has parsed the form (bounded) for the CSRF token.
	f := r.PostForm
	req := api.AnnouncementRequest{
		Title:    map[string]string{"sv": f.Get("title_sv"), "en": f.Get("title_en")},
		Body:     map[string]string{"sv": f.Get("body_sv"), "en": f.Get("body_en")},
		Severity: f.Get("severity"),
	}
	if until := strings.TrimSpace(f.Get("valid_until")); until != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", until, web.Stockholm)
		if err != nil {
			s.renderBoard(w, r, http.StatusBadRequest, "", "Ogiltig tid för ”gäller till”. / Invalid valid-until time.")
			return
		}
		req.ValidUntil = &t
	}
	p, err := s.announcement(req, web.SessionFrom(r.Context()).Account.Name)
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

// InventoryRequest is the body of POST /api/staff/inventory: a new count of
// one item.
type InventoryRequest struct {
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	Low      float64 `json:"low"`
}

// validItem reports whether an inventory item's name is 1 to 40 letters,
// digits, spaces, dots or dashes, in any script, starting with a letter or
// a digit. Checked by hand: the regular expression it replaces,
// ^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,39}$, kept a MiB of compiled Unicode
// ranges in every process as long as it ran.
func validItem(name string) bool {
	n := 0
	for _, r := range name { // invalid UTF-8 reads as U+FFFD: no letter
		alnum := unicode.IsLetter(r) || unicode.IsNumber(r)
		if !alnum && (n == 0 || (r != ' ' && r != '.' && r != '_' && r != '-')) {
			return false
		}
		n++
	}
	return n >= 1 && n <= 40
}

func (s *Board) inventoryPayload(req InventoryRequest, by string) (node.InventoryChanged, error) {
	var v api.Validator
	p := node.InventoryChanged{Item: strings.ToLower(strings.TrimSpace(req.Item)), Quantity: req.Quantity,
		Unit: v.Text("unit", req.Unit, false, 16), Low: req.Low, By: by}
	if !validItem(p.Item) {
		v.FailField("item", "item: 1 to 40 letters, digits, spaces, dots or dashes")
	}
	if req.Quantity < 0 || req.Quantity > 1e9 || req.Low < 0 || req.Low > 1e9 {
		v.FailField("quantity", "quantity and low: 0 or more")
	}
	return p, v.Err
}

func (s *Board) inventoryAPI(w http.ResponseWriter, r *http.Request) {
	var req InventoryRequest
	if !web.ReadJSON(w, r, &req) {
		return
	}
	p, err := s.inventoryPayload(req, web.SessionFrom(r.Context()).Account.Name)
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.log.Append(r.Context(), node.Draft{Type: node.TypeInventoryChanged, Payload: p}); err != nil {
		web.AppendFailed(w, s.logger, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, map[string]string{"item": p.Item})
}

func (s *Board) inventoryForm(w http.ResponseWriter, r *http.Request) {
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
		web.SessionFrom(r.Context()).Account.Name)
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
func (s *Board) boardPrint(w http.ResponseWriter, r *http.Request) {
	v := s.boardData(r)
	v.Printed = v.Now
	s.pages.Render(w, http.StatusOK, "print.html", v)
}
