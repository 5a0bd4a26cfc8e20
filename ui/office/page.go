package office

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The central staff page: the municipality's crisis staff see the nodes,
// send announcements and activations as plain forms (no JavaScript), and
// follow each directive to every node. The forms build the same drafts as
// the JSON routes (office.go).

// centralDirectives is how many of the latest directives the page lists.
const centralDirectives = 20

type centralView struct {
	Me         accounts.Account
	CSRF       string
	Now        string // HH:MM Swedish time; "–" when central's clock is not trusted
	Notice     string
	NoticeLink string // the sent directive's page, with the notice
	Error      string

	Nodes      []centralNodeRow
	Online     int
	AnnTargets centralTargetSet // the target selects: all, municipalities, nodes
	ActTargets centralTargetSet
	Severities []centralChoice
	States     []centralChoice
	Sent       []centralSentRow
	SentError  string // the list could not be read

	CanSend     bool // staff and above: the announcement form
	CanActivate bool // admin: the activation form
	Ann         centralAnnForm
	Act         centralActForm

	Sit situationView // the picture: alerts, map, points, needs
}

type centralNodeRow struct {
	ID, Municipality string
	Online           bool
	LastSeen         string // HH:MM, with the date when not today
	LastSeenISO      string
	AckedSeq         uint64
	Backlog          uint64
}

// centralTarget is one option of a target select.
type centralTarget struct {
	Value    string
	Label    string
	Selected bool
}

// centralTargetSet is a target select's options, by group.
type centralTargetSet struct {
	All                   centralTarget
	Municipalities, Nodes []centralTarget
	Chosen                bool // one of them is selected
}

type centralChoice struct {
	Value   string
	Sv, En  string
	Checked bool
}

// centralAnnForm and centralActForm are the typed values, kept when a
// post is refused.
type centralAnnForm struct {
	Target, TitleSv, TitleEn, BodySv, BodyEn, Severity, ValidUntil string
}

type centralActForm struct {
	Target, State, Note string
}

type centralSentRow struct {
	ID, Link          string
	Kind              web.Lab
	Target            web.Lab
	Created, Date     string // HH:MM; the full time for the title
	CreatedISO        string
	By                string
	What              string
	Nodes, Delivered  int
	Shown             int
	AllShown, Pending bool
}

// centralDetailView is the page of one directive.
type centralDetailView struct {
	Me         accounts.Account
	CSRF       string
	Now        string
	Found      bool
	ID         string
	Kind       web.Lab
	Target     web.Lab
	Created    string
	CreatedISO string
	By         string
	Type       string
	What       string // the title, the state, …
	Body       string // an announcement's Swedish text
	TitleEn    string
	Severity   web.Lab
	ValidUntil string
	Rows       []centralDeliveryRow
	Delivered  int
	Shown      int
}

type centralDeliveryRow struct {
	Node, Municipality       string
	Seq                      uint64
	State                    web.Lab
	Class                    string // queued, delivered, shown
	Queued, Delivered, Shown string
}

var (
	centralKinds = map[string]web.Lab{
		central.KindAnnouncement: {Sv: "Meddelande", En: "announcement"},
		central.KindActivation:   {Sv: "Aktivering", En: "activation"},
		central.KindContacts:     {Sv: "Kontaktuppgifter", En: "contacts"},
		central.KindReportStatus: {Sv: "Ärende", En: "report"},
	}
	centralStates = map[string]web.Lab{
		"queued":    {Sv: "köad", En: "queued"},
		"delivered": {Sv: "levererad", En: "delivered"},
		"shown":     {Sv: "visad", En: "shown"},
	}
	centralActivations = []centralChoice{
		{Value: node.ActivationActivated, Sv: "aktiverad", En: "activated"},
		{Value: node.ActivationDeactivate, Sv: "inte aktiverad", En: "deactivated"},
		{Value: node.ActivationExercise, Sv: "övning", En: "exercise"},
	}
)

func activationLab(state string) web.Lab {
	for _, c := range centralActivations {
		if c.Value == state {
			return web.Lab{Sv: c.Sv, En: c.En}
		}
	}
	return web.Lab{Sv: state}
}

func kindLab(kind string) web.Lab {
	if l, ok := centralKinds[kind]; ok {
		return l
	}
	return web.Lab{Sv: kind}
}

func targetLab(t string) web.Lab {
	k, v, err := central.ParseTarget(t)
	switch {
	case err != nil:
		return web.Lab{Sv: t}
	case k == "all":
		return web.Lab{Sv: "Alla", En: "all"}
	case k == "municipality":
		return web.Lab{Sv: "Kommun " + v, En: "municipality"}
	}
	return web.Lab{Sv: v, En: "node"}
}

// localTime is HH:MM Swedish time, with the date in front when the day
// is not now's (or now is unknown): "2026-11-23 22:10".
func localTime(t, now time.Time) string {
	if t.IsZero() || t.Before(node.EarliestPlausible) {
		return "–"
	}
	lt := t.In(web.Stockholm)
	if !now.IsZero() {
		ln := now.In(web.Stockholm)
		if y, m, d := lt.Date(); y == ln.Year() && m == ln.Month() && d == ln.Day() {
			return lt.Format("15:04")
		}
	}
	return lt.Format("2006-01-02 15:04")
}

func localTimePtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "–"
	}
	return localTime(*t, now)
}

// centralNow is central's wall clock, zero when it is not trusted.
func (s *Office) centralNow() time.Time {
	if !s.opts.Clock.Plausible() {
		return time.Time{}
	}
	return s.opts.Clock.Wall()
}

// payloadWords is what a directive says, in a few words: an
// announcement's Swedish title, an activation's state and note, …
type payloadWords struct {
	What, TitleEn, Body, Severity string
	ValidUntil                    *time.Time
}

func directiveWords(kind, typ string, raw json.RawMessage) payloadWords {
	// Each kind is read as the catalogue's payload; what cannot be read
	// shows as nothing.
	var w payloadWords
	switch {
	case kind == central.KindAnnouncement:
		var p node.Announcement
		_ = json.Unmarshal(raw, &p)
		w = payloadWords{What: p.Title["sv"], TitleEn: p.Title["en"], Body: p.Body["sv"], Severity: p.Severity, ValidUntil: p.ValidUntil}
	case kind == central.KindActivation:
		var p node.PointActivation
		_ = json.Unmarshal(raw, &p)
		l := activationLab(p.State)
		w.What = l.Sv
		if l.En != "" {
			w.What += " / " + l.En
		}
		if p.Note != "" {
			w.What += " · " + p.Note
		}
	case kind == central.KindContacts:
		var p node.ContactsChanged
		_ = json.Unmarshal(raw, &p)
		w.What = fmt.Sprintf("%d kontaktuppgifter / contact lines", len(p.Contacts))
	case typ == node.TypeReportCommented:
		var p node.ReportCommented
		_ = json.Unmarshal(raw, &p)
		w.What = "ärende " + p.ID + ": " + web.Excerpt(p.Text, 80)
	default: // a report's status, a withdrawal: an id and perhaps a status
		var p node.ReportStatusChanged
		_ = json.Unmarshal(raw, &p)
		l := web.Label("rs", p.Status)
		w.What = "ärende " + p.ID + ": " + l.Sv
	}
	return w
}

// centralData is the page's picture; ann and act are the forms' values.
func (s *Office) centralData(r *http.Request, ann centralAnnForm, act centralActForm) centralView {
	sess := web.SessionFrom(r.Context())
	acc := sess.Account
	now := s.centralNow()
	v := centralView{Me: acc, CSRF: sess.CSRF, Now: localTime(now, now), Ann: ann, Act: act,
		CanSend: acc.Role.AtLeast(accounts.RoleStaff), CanActivate: acc.Role.AtLeast(accounts.RoleAdmin),
		Sit: s.situation(acc, sess.CSRF, now)}
	if v.Ann.Severity == "" {
		v.Ann.Severity = "info"
	}
	for _, sev := range node.Severities {
		l := web.Label("sev", sev)
		v.Severities = append(v.Severities, centralChoice{Value: sev, Sv: l.Sv, En: l.En, Checked: sev == v.Ann.Severity})
	}
	nodes := s.visibleNodes(acc)
	count := map[string]int{}
	for _, n := range nodes {
		row := centralNodeRow{ID: n.ID, Municipality: n.Municipality, Online: n.Online, LastSeen: localTimePtr(n.LastSeen, now),
			AckedSeq: n.AckedSeq, Backlog: n.Backlog}
		if n.LastSeen != nil {
			row.LastSeenISO = n.LastSeen.UTC().Format(time.RFC3339)
		} else {
			row.LastSeen = "aldrig"
		}
		if n.Online {
			v.Online++
		}
		v.Nodes = append(v.Nodes, row)
		if n.Municipality != "" {
			count[n.Municipality]++
		}
	}
	slices.SortFunc(v.Nodes, func(a, b centralNodeRow) int {
		return cmp.Or(cmp.Compare(a.Municipality, b.Municipality), cmp.Compare(a.ID, b.ID))
	})
	v.AnnTargets = centralTargets(v.Nodes, count, ann.Target, !acc.Scoped())
	v.ActTargets = centralTargets(v.Nodes, count, act.Target, !acc.Scoped())
	v.States = slices.Clone(centralActivations)
	for i := range v.States {
		v.States[i].Checked = v.States[i].Value == act.State
	}

	// A scoped account's list leaves out what went elsewhere: read more
	// to fill it.
	limit := centralDirectives
	if acc.Scoped() {
		limit *= 10
	}
	list, err := s.opts.Downlink.Directives(r.Context(), limit)
	if err != nil {
		s.logger.Error("Reading the directives failed", "err", err)
		v.SentError = "Listan kunde inte läsas. / The list could not be read."
	}
	for _, d := range list {
		if len(v.Sent) == centralDirectives {
			break
		}
		if !s.reaches(acc, d.Target) {
			continue
		}
		w := directiveWords(d.Kind, d.Type, d.Payload)
		v.Sent = append(v.Sent, centralSentRow{ID: d.ID, Link: "/central/directives/" + url.PathEscape(d.ID),
			Kind: kindLab(d.Kind), Target: targetLab(d.Target), Created: localTime(d.Created, now),
			Date: localTime(d.Created, time.Time{}), CreatedISO: d.Created.UTC().Format(time.RFC3339), By: d.By,
			What: w.What, Nodes: d.Nodes, Delivered: d.Delivered, Shown: d.Shown,
			AllShown: d.Nodes > 0 && d.Shown == d.Nodes, Pending: d.Delivered < d.Nodes})
	}
	return v
}

// centralTargets is a target select: all (unless the account is scoped),
// each municipality seen among the nodes, each node; the one the form had
// is selected.
func centralTargets(nodes []centralNodeRow, count map[string]int, selected string, all bool) centralTargetSet {
	selected = strings.TrimSpace(selected)
	opt := func(value, label string) centralTarget {
		return centralTarget{Value: value, Label: label, Selected: value == selected}
	}
	var set centralTargetSet
	if all {
		set.All = opt("all", fmt.Sprintf("Alla trygghetspunkter / all (%d)", len(nodes)))
	}
	ms := make([]string, 0, len(count))
	for m := range count {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	for _, m := range ms {
		set.Municipalities = append(set.Municipalities, opt("municipality:"+m, fmt.Sprintf("Kommun %s (%d)", m, count[m])))
	}
	for _, n := range nodes {
		l := n.ID
		if n.Municipality != "" {
			l += " (" + n.Municipality + ")"
		}
		set.Nodes = append(set.Nodes, opt("node:"+n.ID, l))
	}
	set.Chosen = set.All.Selected ||
		slices.ContainsFunc(set.Municipalities, func(t centralTarget) bool { return t.Selected }) ||
		slices.ContainsFunc(set.Nodes, func(t centralTarget) bool { return t.Selected })
	return set
}

// centralPage serves GET /central.
func (s *Office) centralPage(w http.ResponseWriter, r *http.Request) {
	notice, link := "", ""
	if r.URL.Query().Get("acked") != "" {
		notice = "Larmet är kvitterat. / The alert is acknowledged."
	}
	if id := r.URL.Query().Get("sent"); id != "" {
		if d, ok, err := s.opts.Downlink.Directive(r.Context(), id); err == nil && ok && s.reaches(account(r), d.Target) {
			link = "/central/directives/" + url.PathEscape(d.ID)
			if len(d.Nodes) == 0 {
				notice = "Sparat, men ingen trygghetspunkt hör till mottagaren än: den som hörs av senare får det. / Stored, but no safety point is in the target yet: one heard from later gets it."
			} else {
				notice = fmt.Sprintf("Skickat till %d trygghetspunkt(er). / Sent to %d safety point(s).", len(d.Nodes), len(d.Nodes))
			}
		}
	}
	s.renderCentral(w, r, http.StatusOK, notice, link, "", centralAnnForm{}, centralActForm{})
}

func (s *Office) renderCentral(w http.ResponseWriter, r *http.Request, code int, notice, link, errMsg string, ann centralAnnForm, act centralActForm) {
	v := s.centralData(r, ann, act)
	v.Notice, v.NoticeLink, v.Error = notice, link, errMsg
	s.pages.Render(w, code, "central.html", v)
}

// refusedWords puts a refused form's message in Swedish first.
func refusedWords(err error) string {
	msg := err.Error()
	sv := "kontrollera fälten"
	switch {
	case strings.HasPrefix(msg, "title.sv"):
		sv = "rubrik på svenska krävs"
	case strings.HasPrefix(msg, "title"), strings.HasPrefix(msg, "body"):
		sv = "rubrik eller text är för lång eller ogiltig"
	case strings.HasPrefix(msg, "valid_until"):
		sv = "”gäller till” har redan passerat"
	case strings.HasPrefix(msg, "severity"):
		sv = "välj allvar"
	case strings.HasPrefix(msg, "state"):
		sv = "välj läge"
	case strings.HasPrefix(msg, "note"):
		sv = "anteckningen är för lång eller ogiltig"
	}
	return "Inte skickat: " + sv + ". / Not sent: " + msg
}

// sendForm sends a draft built from a form: 303 to the page with the
// directive, or the page again with the error and the typed values.
func (s *Office) sendForm(w http.ResponseWriter, r *http.Request, d central.Draft, err error, ann centralAnnForm, act centralActForm) {
	if err != nil {
		s.renderCentral(w, r, http.StatusBadRequest, "", "", refusedWords(err), ann, act)
		return
	}
	if acc := account(r); !s.reaches(acc, d.Target) {
		s.renderCentral(w, r, http.StatusForbidden, "", "", "Inte skickat: mottagaren ligger utanför dina kommuner ("+scopeWords(acc)+"). / Not sent: "+outOfScopeMessage(acc)+".", ann, act)
		return
	}
	out, err := s.opts.Downlink.Send(r.Context(), d)
	switch {
	case errors.Is(err, central.ErrTarget):
		s.renderCentral(w, r, http.StatusBadRequest, "", "", "Inte skickat: välj mottagare. / Not sent: choose a target (all, a municipality or a node).", ann, act)
	case errors.Is(err, central.ErrUnknownNode):
		s.renderCentral(w, r, http.StatusNotFound, "", "", "Inte skickat: centralen har inte hört av den trygghetspunkten. / Not sent: central has not heard from that node.", ann, act)
	case err != nil:
		s.logger.Error("Storing a directive failed", "err", err)
		s.renderCentral(w, r, http.StatusServiceUnavailable, "", "", "Kunde inte spara. Försök igen. / Could not store the directive. Try again.", ann, act)
	default:
		http.Redirect(w, r, "/central?sent="+url.QueryEscape(out.ID), http.StatusSeeOther)
	}
}

// centralAnnounceForm serves POST /central/announcements.
func (s *Office) centralAnnounceForm(w http.ResponseWriter, r *http.Request) {
	// The site's guard has parsed the form (bounded) for the CSRF token.
	f := r.PostForm
	ann := centralAnnForm{Target: f.Get("target"), TitleSv: f.Get("title_sv"), TitleEn: f.Get("title_en"),
		BodySv: f.Get("body_sv"), BodyEn: f.Get("body_en"), Severity: f.Get("severity"), ValidUntil: f.Get("valid_until")}
	req := CentralAnnouncement{Target: strings.TrimSpace(ann.Target), AnnouncementRequest: api.AnnouncementRequest{
		Title:    map[string]string{"sv": ann.TitleSv, "en": ann.TitleEn},
		Body:     map[string]string{"sv": ann.BodySv, "en": ann.BodyEn},
		Severity: ann.Severity,
	}}
	if until := strings.TrimSpace(ann.ValidUntil); until != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", until, web.Stockholm)
		if err != nil {
			s.renderCentral(w, r, http.StatusBadRequest, "", "", "Inte skickat: ogiltig tid för ”gäller till”. / Not sent: invalid valid-until time.", ann, centralActForm{})
			return
		}
		req.ValidUntil = &t
	}
	d, err := s.centralAnnouncement(r, web.SessionFrom(r.Context()).Account.Name, req)
	s.sendForm(w, r, d, err, ann, centralActForm{})
}

// centralActivationForm serves POST /central/activation.
func (s *Office) centralActivationForm(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	act := centralActForm{Target: f.Get("target"), State: f.Get("state"), Note: f.Get("note")}
	d, err := s.centralActivation(r, web.SessionFrom(r.Context()).Account.Name,
		ActivationRequest{Target: strings.TrimSpace(act.Target), State: strings.TrimSpace(act.State), Note: act.Note})
	s.sendForm(w, r, d, err, centralAnnForm{}, act)
}

// centralDirectivePage serves GET /central/directives/{id}.
func (s *Office) centralDirectivePage(w http.ResponseWriter, r *http.Request) {
	sess := web.SessionFrom(r.Context())
	now := s.centralNow()
	v := centralDetailView{Me: sess.Account, CSRF: sess.CSRF, Now: localTime(now, now), ID: r.PathValue("id")}
	d, ok, err := s.opts.Downlink.Directive(r.Context(), v.ID)
	switch {
	case err != nil:
		s.logger.Error("Reading a directive failed", "err", err)
		http.Error(w, "Kunde inte läsa. / Could not read the directive.", http.StatusServiceUnavailable)
		return
	case !ok || !s.reaches(sess.Account, d.Target):
		s.pages.Render(w, http.StatusNotFound, "directive.html", v)
		return
	}
	words := directiveWords(d.Kind, d.Type, d.Payload)
	v.Found, v.Kind, v.Target, v.By, v.Type = true, kindLab(d.Kind), targetLab(d.Target), d.By, d.Type
	v.Created, v.CreatedISO = localTime(d.Created, time.Time{}), d.Created.UTC().Format(time.RFC3339)
	v.What, v.TitleEn, v.Body = words.What, words.TitleEn, words.Body
	if words.Severity != "" {
		v.Severity = web.Label("sev", words.Severity)
	}
	if words.ValidUntil != nil {
		v.ValidUntil = localTime(*words.ValidUntil, time.Time{})
	}
	for _, n := range d.Nodes {
		row := centralDeliveryRow{Node: n.Node, Municipality: n.Municipality, Seq: n.Seq, Class: n.State,
			Queued: localTime(n.Queued, now), Delivered: localTimePtr(n.Delivered, now), Shown: localTimePtr(n.Shown, now)}
		if l, ok := centralStates[n.State]; ok {
			row.State = l
		} else {
			row.State = web.Lab{Sv: n.State}
		}
		if n.Delivered != nil {
			v.Delivered++
		}
		if n.Shown != nil {
			v.Shown++
		}
		v.Rows = append(v.Rows, row)
	}
	s.pages.Render(w, http.StatusOK, "directive.html", v)
}
