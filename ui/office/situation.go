package office

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The situation picture (lägesbild) as the pages show it: the alerts,
// the map, a row per point and the needs queue, each figure with its age.
// The page, its live fragment, a point's page and the printout all read
// it from here, so they never disagree.

// staleAfter: a figure older than this is marked old unless the point has
// been heard from since (online, or heard within it), which confirms it.
// A battery's figures drain, so on battery they are old after it anyway.
const staleAfter = 30 * time.Minute

// needsShown bounds the needs queue on the page; the CSV has them all.
const needsShown = 200

// ago is a figure's time as the pages show it: when, how long ago, and
// whether it is old.
type ago struct {
	Known  bool
	ISO    string // RFC 3339, for <time datetime>
	Clock  string // HH:MM Swedish time, with the date when not today
	Sv, En string // "för 12 min sedan", "12 min ago"; the time alone when central's clock is not trusted
	Old    bool
}

// spanWords is a duration in words: "12 min", "3 h 5 min", "2 dygn".
func spanWords(d time.Duration) (sv, en string) {
	m := int(d / time.Minute)
	switch {
	case m < 1:
		return "under 1 min", "under 1 min"
	case m < 60:
		s := strconv.Itoa(m) + " min"
		return s, s
	case m < 48*60:
		s := strconv.Itoa(m/60) + " h"
		if m%60 > 0 {
			s += " " + strconv.Itoa(m%60) + " min"
		}
		return s, s
	}
	days := strconv.Itoa(m / (24 * 60))
	return days + " dygn", days + " days"
}

// ageOf is t's age at now; confirmed says the point has been heard from
// since, so an old figure is still the point's current one.
func ageOf(t *time.Time, now time.Time, confirmed bool) ago {
	if t == nil || t.IsZero() || t.Before(node.EarliestPlausible) {
		return ago{}
	}
	a := ago{Known: true, ISO: t.UTC().Format(time.RFC3339), Clock: localTime(*t, now)}
	if now.IsZero() {
		a.Sv = a.Clock // central's clock is not trusted: no age to give
		return a
	}
	d := now.Sub(*t)
	if d < time.Minute {
		a.Sv, a.En = "nyss", "just now"
		return a
	}
	sv, en := spanWords(d)
	a.Sv, a.En = "för "+sv+" sedan", en+" ago"
	a.Old = d > staleAfter && !confirmed
	return a
}

func timePtr(t time.Time) *time.Time { return &t }

// statusView is a point's status in words, colour (Key, a class), a
// letter and a shape, so that no one needs the colour.
type statusView struct {
	Key   string
	Lab   web.Lab
	Mark  string // the letter on the map and beside the words
	Shape string // the map's marker, for the key: centred on 0,0
	rank  int    // most serious first
}

var statuses = map[string]statusView{
	picture.StatusCritical: {Key: picture.StatusCritical, Lab: web.Lab{Sv: "Kritiskt", En: "critical"}, Mark: "K", rank: 0},
	picture.StatusSilent:   {Key: picture.StatusSilent, Lab: web.Lab{Sv: "Tyst", En: "silent"}, Mark: "T", rank: 1},
	picture.StatusWarning:  {Key: picture.StatusWarning, Lab: web.Lab{Sv: "Varning", En: "warning"}, Mark: "V", rank: 2},
	picture.StatusUnknown:  {Key: picture.StatusUnknown, Lab: web.Lab{Sv: "Okänt", En: "unknown"}, Mark: "?", rank: 3},
	picture.StatusOK:       {Key: picture.StatusOK, Lab: web.Lab{Sv: "Normalt", En: "normal"}, Mark: "N", rank: 4},
}

// legend lists the statuses for the map's key, most serious first.
var legend = func() []statusView {
	out := make([]statusView, 0, len(statuses))
	for _, s := range statuses {
		s.Shape = shapePath(s.Key, 0, 0)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b statusView) int { return cmp.Compare(a.rank, b.rank) })
	return out
}()

func statusOf(key string) statusView {
	if s, ok := statuses[key]; ok {
		return s
	}
	return statusView{Key: key, Lab: web.Lab{Sv: key}, Mark: "?", rank: 3}
}

type activationView struct {
	Key  string
	Lab  web.Lab
	Note string
	At   ago
}

// powerView is a point's power: the source in words ("Nät", "Batteri",
// "Generator"), the battery, the time left and the generator's fuel.
type powerView struct {
	Known     bool
	Mode      string // mains, battery, generator, unknown: a class
	Lab       web.Lab
	Low       bool
	Critical  bool
	Percent   string // "62 %"
	Left      string // "1 h 40 min"
	Generator string // "5,5 h"
	Since     ago    // when this state began
	At        ago    // when the point knew these figures
}

var powerModes = map[string]web.Lab{
	"mains":     {Sv: "Nät", En: "mains"},
	"battery":   {Sv: "Batteri", En: "battery"},
	"generator": {Sv: "Generator", En: "generator"},
	"unknown":   {Sv: "Okänt", En: "unknown"},
}

// powerMode reads NUT-style tokens: a generator supplying wins, then the
// battery, then mains.
func powerMode(state string) string {
	tokens := strings.Fields(state)
	switch {
	case slices.Contains(tokens, "GEN"):
		return "generator"
	case slices.Contains(tokens, "OB"):
		return "battery"
	case slices.Contains(tokens, "OL"):
		return "mains"
	}
	return "unknown"
}

// decimal is x with a decimal comma and at most one decimal.
func decimal(x float64) string {
	s := strconv.FormatFloat(x, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return strings.Replace(s, ".", ",", 1)
}

type peopleView struct {
	Known                         bool
	Households, People, NeedsHelp int
	At                            ago
}

type urgencyCount struct {
	Key string
	Lab web.Lab
	N   int
}

type needsView struct {
	Open, Urgent int
	ByUrgency    []urgencyCount // most urgent first, only those with any
	At           ago
}

type stockView struct {
	Item, Quantity, Unit, Low string
	At                        ago
}

type staffView struct {
	Known  bool
	OnDuty int
	Roles  string
	At     ago
}

type serviceView struct {
	Name   web.Lab
	Status string
	Lab    web.Lab
	Note   string
	At     ago
}

// pointRow is one point on the page: its row in the table, its card on
// its own page.
type pointRow struct {
	ID, Name, Municipality string
	Anchor                 string // its row's id: "p-ID"
	Link                   string // its page; "" for a node that has not reported
	Reported               bool   // the picture has the point; false: only its link is known
	Status                 statusView
	Activation             *activationView
	Power                  powerView
	People                 peopleView
	Needs                  needsView
	Stock                  []stockView
	Staff                  staffView
	Services               []serviceView
	Online                 bool
	Heard                  ago
	Backlog                uint64
	Location               *node.Location
}

func pointLink(id string) string { return "/central/points/" + url.PathEscape(id) }

// pointRowOf is a point's row at now.
func pointRowOf(p picture.Point, now time.Time) pointRow {
	confirmed := p.Online || p.LastHeard != nil && !now.IsZero() && now.Sub(*p.LastHeard) <= staleAfter
	row := pointRow{ID: p.ID, Name: p.Name, Municipality: p.Municipality, Anchor: "p-" + p.ID, Link: pointLink(p.ID),
		Reported: true, Status: statusOf(p.Status), Online: p.Online, Backlog: p.Backlog,
		Heard: ageOf(p.LastHeard, now, p.Online), Location: p.Location}
	if a := p.Activation; a != nil {
		// The municipality's own decision: never old, however long ago.
		row.Activation = &activationView{Key: a.State, Lab: activationLab(a.State), Note: a.Note, At: ageOf(timePtr(a.At), now, true)}
	}
	pw := p.Power
	mode := powerMode(pw.State)
	// A battery drains between the point's reports: its figures are as
	// old as they are, heard from or not.
	powerConfirmed := confirmed && mode != "battery"
	row.Power = powerView{Known: pw.At != nil, Mode: mode, Lab: powerModes[mode], Low: pw.Low, Critical: p.Status == picture.StatusCritical,
		Since: ageOf(pw.Since, now, true), At: ageOf(pw.At, now, powerConfirmed)}
	if pw.BatteryPercent != nil {
		row.Power.Percent = strconv.Itoa(int(*pw.BatteryPercent+0.5)) + " %"
	}
	if pw.RuntimeMinutes != nil {
		row.Power.Left, _ = spanWords(time.Duration(*pw.RuntimeMinutes * float64(time.Minute)))
	}
	if pw.GeneratorHours != nil {
		row.Power.Generator = decimal(*pw.GeneratorHours) + " h"
	}
	row.People = peopleView{Known: p.People.At != nil, Households: p.People.Households, People: p.People.People,
		NeedsHelp: p.People.NeedsHelp, At: ageOf(p.People.At, now, confirmed)}
	row.Needs = needsView{Open: p.Needs.Open, Urgent: p.Needs.Urgent, At: ageOf(p.Needs.At, now, confirmed)}
	for _, u := range slices.Backward(node.Urgencies) {
		if n := p.Needs.ByUrgency[u]; n > 0 {
			row.Needs.ByUrgency = append(row.Needs.ByUrgency, urgencyCount{Key: u, Lab: web.Label("urg", u), N: n})
		}
	}
	for _, st := range p.StockLow {
		row.Stock = append(row.Stock, stockView{Item: st.Item, Quantity: decimal(st.Quantity), Unit: st.Unit, Low: decimal(st.Low),
			At: ageOf(timePtr(st.At), now, confirmed)})
	}
	row.Staff = staffView{Known: p.Staff.At != nil, OnDuty: p.Staff.OnDuty, Roles: strings.Join(p.Staff.Roles, ", "),
		At: ageOf(p.Staff.At, now, confirmed)}
	for _, sv := range p.Services {
		row.Services = append(row.Services, serviceView{Name: web.Label("svc", sv.Name), Status: sv.Status,
			Lab: web.Label("ss", sv.Status), Note: sv.Note, At: ageOf(sv.At, now, confirmed)})
	}
	return row
}

// nodeRowOf is a node central knows of whose point has told it nothing
// yet: its link is all there is.
func nodeRowOf(n central.Node, now time.Time) pointRow {
	return pointRow{ID: n.ID, Name: n.ID, Municipality: n.Municipality, Anchor: "p-" + n.ID, Status: statusOf(picture.StatusUnknown),
		Online: n.Online, Backlog: n.Backlog, Heard: ageOf(n.LastSeen, now, n.Online),
		Power: powerView{Mode: "unknown", Lab: powerModes["unknown"]}}
}

// alertView is one alert in the "action needed" strip.
type alertView struct {
	ID, Kind                    string
	Lab                         web.Lab // what is wrong, in words
	Detail                      string  // the need's text, the power's figures
	Point, PointName, PointLink string
	Anchor                      string
	Since                       ago
	ForSv, ForEn                string // how long it has lasted
	Action                      string // the acknowledging form's action
	Acked                       bool
	AckBy, AckNote              string
	AckAt                       ago
}

var alertKinds = map[string]web.Lab{
	picture.AlertSilent: {Sv: "Tyst: aktiverad men inte hörd av", En: "silent: activated, not heard from"},
	picture.AlertPower:  {Sv: "Ström: på batteri och snart slut", En: "power: on battery, running out"},
	picture.AlertNeed:   {Sv: "Brådskande behov öppet över 30 min", En: "urgent need open over 30 min"},
}

func alertViewOf(a picture.Alert, now time.Time) alertView {
	v := alertView{ID: a.ID, Kind: a.Kind, Lab: alertKinds[a.Kind], Point: a.Point, PointName: a.PointName,
		PointLink: pointLink(a.Point), Anchor: "p-" + a.Point, Since: ageOf(timePtr(a.Since), now, true),
		Action: "/central/alerts/" + url.PathEscape(a.ID) + "/ack"}
	if v.Lab.Sv == "" {
		v.Lab = web.Lab{Sv: a.Kind}
	}
	if !now.IsZero() && !a.Since.IsZero() {
		v.ForSv, v.ForEn = spanWords(now.Sub(a.Since))
	}
	switch {
	case a.Need != nil:
		n := a.Need
		v.Detail = web.Label("urg", n.Urgency).Sv + " · " + web.Label("cat", n.Category).Sv + ": " + web.Excerpt(n.Text, 100)
	case a.Power != nil:
		var parts []string
		if a.Power.Low {
			parts = append(parts, "batteriet lågt / battery low")
		}
		if a.Power.BatteryPercent != nil {
			parts = append(parts, strconv.Itoa(int(*a.Power.BatteryPercent+0.5))+" %")
		}
		if a.Power.RuntimeMinutes != nil {
			sv, _ := spanWords(time.Duration(*a.Power.RuntimeMinutes * float64(time.Minute)))
			parts = append(parts, "≈ "+sv+" kvar / left")
		}
		v.Detail = strings.Join(parts, " · ")
	}
	if ack := a.Acknowledged; ack != nil {
		v.Acked, v.AckBy, v.AckNote = true, ack.By, ack.Note
		v.AckAt = ageOf(timePtr(ack.At.Time()), now, true)
	}
	return v
}

// needRow is one need in the queue.
type needRow struct {
	ID, Point, PointName, PointLink, Municipality string
	Urgency                                       string
	UrgLab, CatLab, StatusLab                     web.Lab
	Status                                        string
	Text, Place, Assignee                         string
	Created, Updated                              ago
}

func needRowOf(n picture.Need, now time.Time) needRow {
	return needRow{ID: n.ID, Point: n.Point, PointName: n.PointName, PointLink: pointLink(n.Point), Municipality: n.Municipality,
		Urgency: n.Urgency, UrgLab: web.Label("urg", n.Urgency), CatLab: web.Label("cat", n.Category),
		Status: n.Status, StatusLab: web.Label("rs", n.Status), Text: n.Text, Place: n.Place, Assignee: n.Assignee,
		Created: ageOf(timePtr(n.Created), now, true), Updated: ageOf(timePtr(n.Updated), now, true)}
}

// situationView is the live part of /central, its printout's body, and
// what its fragment (/central/live) holds.
type situationView struct {
	CSRF    string
	CanAck  bool   // staff and above acknowledge alerts
	Scope   string // the account's municipalities, "" for all
	Now     string // HH:MM
	Made    string // the date and time it was made, in full
	MadeISO string
	Version uint64
	Back    string // where acknowledging an alert returns to
	Print   bool   // the printout: no forms, no links to files

	Alerts     []alertView
	OpenAlerts int // not acknowledged
	Map        mapView
	Points     []pointRow
	Online     int
	Needs      []needRow
	NeedsAll   int // open needs in scope; Needs holds the first needsShown
	NeedsMore  int // those not shown
	Legend     []statusView
}

// situation reads the picture for acc at now.
func (s *Office) situation(acc accounts.Account, csrf string, now time.Time) situationView {
	var scope picture.Scope
	if acc.Scoped() {
		scope = acc.Sees
	}
	pic := s.opts.Picture
	v := situationView{CSRF: csrf, CanAck: acc.Role.AtLeast(accounts.RoleStaff), Scope: scopeWords(acc),
		Now: localTime(now, now), Version: pic.Version(), Back: "/central", Legend: legend}
	if !now.IsZero() {
		v.Made = now.In(web.Stockholm).Format("2006-01-02 15:04")
		v.MadeISO = now.UTC().Format(time.RFC3339)
	}
	seen := map[string]bool{}
	for _, p := range pic.Points(scope) {
		v.Points = append(v.Points, pointRowOf(p, now))
		seen[p.ID] = true
	}
	// Nodes central knows of (registered, or heard on their topic) whose
	// point has reported nothing it may show: listed by their link.
	for _, n := range s.visibleNodes(acc) {
		if !seen[n.ID] {
			v.Points = append(v.Points, nodeRowOf(n, now))
		}
	}
	slices.SortFunc(v.Points, func(a, b pointRow) int {
		return cmp.Or(cmp.Compare(a.Status.rank, b.Status.rank), cmp.Compare(a.Municipality, b.Municipality),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for _, p := range v.Points {
		if p.Online {
			v.Online++
		}
	}
	v.Map = mapOf(v.Points)
	for _, a := range pic.Alerts(scope) {
		av := alertViewOf(a, now)
		if !av.Acked {
			v.OpenAlerts++
		}
		v.Alerts = append(v.Alerts, av)
	}
	needs := pic.Needs(picture.NeedQuery{Scope: scope})
	v.NeedsAll = len(needs)
	v.NeedsMore = max(0, len(needs)-needsShown)
	for _, n := range needs[:min(len(needs), needsShown)] {
		v.Needs = append(v.Needs, needRowOf(n, now))
	}
	return v
}

// entryView is one line of a point's timeline.
type entryView struct {
	At     ago
	Seq    uint64
	Type   web.Lab
	Detail string
}

var eventTypes = map[string]web.Lab{
	node.TypePointConfigured:       {Sv: "Punkten inställd", En: "point configured"},
	node.TypeServiceChanged:        {Sv: "Tjänst ändrad", En: "service changed"},
	node.TypePointActivation:       {Sv: "Aktivering", En: "activation"},
	node.TypeContactsChanged:       {Sv: "Kontaktuppgifter", En: "contacts"},
	node.TypeCheckInCreated:        {Sv: "Incheckning", En: "check-in"},
	node.TypeReportCreated:         {Sv: "Nytt behov", En: "new need"},
	node.TypeReportStatusChanged:   {Sv: "Behovets status", En: "need status"},
	node.TypeReportAssigned:        {Sv: "Behov tilldelat", En: "need assigned"},
	node.TypeReportCommented:       {Sv: "Kommentar", En: "comment"},
	node.TypePowerChanged:          {Sv: "Ström ändrad", En: "power changed"},
	node.TypePowerCritical:         {Sv: "Ström kritisk", En: "power critical"},
	node.TypePowerSource:           {Sv: "Strömkälla", En: "power source"},
	node.TypeInventoryChanged:      {Sv: "Förråd", En: "inventory"},
	node.TypeRosterChanged:         {Sv: "Bemanning", En: "roster"},
	node.TypeJournalEntry:          {Sv: "Stabsjournal", En: "journal"},
	node.TypeAnnouncementPublished: {Sv: "Meddelande", En: "announcement"},
	node.TypeAnnouncementWithdrawn: {Sv: "Meddelande återkallat", En: "announcement withdrawn"},
	node.TypeDirectiveShown:        {Sv: "Utskick visat", En: "directive shown"},
	node.TypePersonalPurged:        {Sv: "Personuppgifter rensade", En: "personal data purged"},
	node.TypeClockSet:              {Sv: "Klockan ställd", En: "clock set"},
}

// detailWords is a timeline entry's detail in one line: "state: OB LB ·
// battery_percent: 40".
func detailWords(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var v string
		switch x := d[k].(type) {
		case string:
			v = web.Excerpt(x, 120)
		case float64:
			v = decimal(x)
		case bool:
			v = map[bool]string{true: "ja", false: "nej"}[x]
		default:
			v = fmt.Sprint(x)
		}
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, " · ")
}

func entryViewOf(e picture.Entry, now time.Time) entryView {
	l, ok := eventTypes[e.Type]
	if !ok {
		l = web.Lab{Sv: e.Type}
	}
	return entryView{At: ageOf(timePtr(e.At), now, true), Seq: e.Seq, Type: l, Detail: detailWords(e.Detail)}
}
