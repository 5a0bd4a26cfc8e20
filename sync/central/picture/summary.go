package picture

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// Point is one point at a glance. Every figure carries the time the node
// knew it (at), so a point gone silent shows old figures as old.
type Point struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Municipality string         `json:"municipality"`
	Location     *node.Location `json:"location"`
	// Status sums the point up in one word, for colour and text alike:
	// ok, warning (on battery, an urgent need, stock low), critical (on
	// battery and under 2 h or low battery), silent (activated, not
	// heard from), or unknown (never reported).
	Status     string      `json:"status"`
	Activation *Activation `json:"activation"`
	Power      Power       `json:"power"`
	Services   []Service   `json:"services"`
	People     People      `json:"people"`
	Needs      NeedCounts  `json:"needs"`
	StockLow   []Stock     `json:"stock_low"`
	Staff      Staff       `json:"staff"`
	// LastEvent is the latest event the point recorded, LastHeard the
	// later of that and any message from it.
	LastEvent *time.Time `json:"last_event"`
	LastHeard *time.Time `json:"last_heard"`
	Online    bool       `json:"online"`
	Backlog   uint64     `json:"backlog"`
}

// Statuses of a point.
const (
	StatusOK       = "ok"
	StatusWarning  = "warning"
	StatusCritical = "critical"
	StatusSilent   = "silent"
	StatusUnknown  = "unknown"
)

// Activation is the point's activation by the municipality.
type Activation struct {
	State string    `json:"state"`
	Note  string    `json:"note,omitempty"`
	At    time.Time `json:"at"`
}

// Power is the point's last reported power.
type Power struct {
	// State is NUT-style tokens (OL, OB, LB, GEN, CHRG), "unknown" until
	// the point reports.
	State          string     `json:"state"`
	OnBattery      bool       `json:"on_battery"`
	Low            bool       `json:"low"`
	BatteryPercent *float64   `json:"battery_percent"`
	RuntimeMinutes *float64   `json:"runtime_minutes"`
	GeneratorHours *float64   `json:"generator_hours"`
	Source         string     `json:"source,omitempty"`
	Since          *time.Time `json:"since"` // when this state began
	At             *time.Time `json:"at"`    // when the node knew these figures
}

// Service is one service's status.
type Service struct {
	Name   string     `json:"name"`
	Status string     `json:"status"`
	Note   string     `json:"note,omitempty"`
	At     *time.Time `json:"at"`
}

// People are the households checked in: counts only, never who.
type People struct {
	Households int        `json:"households"`
	People     int        `json:"people"`
	NeedsHelp  int        `json:"needs_help"`
	At         *time.Time `json:"at"`
}

// NeedCounts count the point's needs (reports) not resolved.
type NeedCounts struct {
	Open      int            `json:"open"`
	Urgent    int            `json:"urgent"` // high or life-threatening, open
	ByUrgency map[string]int `json:"by_urgency"`
	ByStatus  map[string]int `json:"by_status"`
	At        *time.Time     `json:"at"`
}

// Stock is an item at or below its low level.
type Stock struct {
	Item     string    `json:"item"`
	Quantity float64   `json:"quantity"`
	Unit     string    `json:"unit"`
	Low      float64   `json:"low"`
	At       time.Time `json:"at"`
}

// Staff counts the point's crisis staff on duty.
type Staff struct {
	OnDuty int        `json:"on_duty"`
	Roles  []string   `json:"roles"`
	At     *time.Time `json:"at"`
}

// Need is one point's need (a report), as the needs queue lists it.
type Need struct {
	Point        string     `json:"point"`
	PointName    string     `json:"point_name"`
	Municipality string     `json:"municipality"`
	ID           string     `json:"id"`
	Category     string     `json:"category"`
	Urgency      string     `json:"urgency"`
	Status       string     `json:"status"`
	Text         string     `json:"text"`
	Place        string     `json:"place,omitempty"`
	Assignee     string     `json:"assignee,omitempty"`
	Created      time.Time  `json:"created"`
	Occurred     *time.Time `json:"occurred_at,omitempty"`
	Updated      time.Time  `json:"updated"`
}

// Urgent reports whether a need's urgency is high or life-threatening.
func Urgent(urgency string) bool { return urgency == "high" || urgency == "life-threatening" }

// urgencyRank grows with urgency (node.Urgencies runs from low to
// life-threatening); an unknown urgency ranks below low. Needs sorts by it
// descending: most urgent first.
func urgencyRank(u string) int { return slices.Index(node.Urgencies, u) + 1 }

// Scope says which municipalities' points a reader may see; nil sees all.
type Scope func(municipality string) bool

func (s Scope) sees(m string) bool { return s == nil || s(m) }

type summaryCache struct {
	mu      sync.Mutex
	foldVer uint64
	base    Point // the fold's part
	needs   []Need
	linkVer uint64
	silent  bool
	json    []byte
	full    Point
}

func at(h node.HLC) *time.Time {
	if h == 0 {
		return nil
	}
	t := h.Time()
	return &t
}

func later(a *time.Time, h node.HLC) *time.Time {
	if t := at(h); t != nil && (a == nil || t.After(*a)) {
		return t
	}
	return a
}

// summarise reads a point's fold into its summary and needs.
func summarise(id string, v node.View) (Point, []Need) {
	p := Point{ID: id, Name: v.Point.Name, Municipality: v.Point.Municipality, Location: v.Point.Location,
		Services: []Service{}, StockLow: []Stock{}, Staff: Staff{Roles: []string{}},
		Needs: NeedCounts{ByUrgency: map[string]int{}, ByStatus: map[string]int{}}, Power: Power{State: StatusUnknown}}
	if p.Name == "" {
		p.Name = id
	}
	if a := v.Activation; a != nil {
		p.Activation = &Activation{State: a.State, Note: a.Note, At: a.Since.Time()}
	}
	if pw := v.Power; pw != nil {
		tokens := strings.Fields(pw.State)
		p.Power = Power{State: pw.State, OnBattery: slices.Contains(tokens, "OB"), Low: slices.Contains(tokens, "LB"),
			BatteryPercent: pw.Percent, RuntimeMinutes: pw.Runtime, GeneratorHours: pw.GeneratorHours,
			Source: pw.Source, Since: pw.Since, At: at(pw.At)}
		if p.Power.Since == nil {
			p.Power.Since = p.Power.At
		}
	}
	for _, s := range v.Services {
		if s.Status == node.ServiceUnknown {
			continue
		}
		sv := Service{Name: s.Name, Status: s.Status, Note: s.Note}
		if s.Since != nil {
			sv.At = at(*s.Since)
		}
		p.Services = append(p.Services, sv)
	}
	p.People = People{Households: v.Counts.Households, People: v.Counts.People, NeedsHelp: v.Counts.NeedsHelp}
	for _, c := range v.CheckIns {
		p.People.At = later(p.People.At, c.Recorded)
	}
	var needs []Need
	for _, r := range v.Reports {
		p.Needs.At = later(p.Needs.At, max(r.Updated, r.Recorded))
		needs = append(needs, Need{Point: id, PointName: p.Name, Municipality: p.Municipality, ID: r.ID,
			Category: r.Category, Urgency: r.Urgency, Status: r.Status, Text: r.Text, Place: r.Place,
			Assignee: r.Assignee, Created: r.Recorded.Time(), Occurred: r.OccurredAt, Updated: max(r.Updated, r.Recorded).Time()})
		if r.Status == node.ReportResolved {
			continue
		}
		p.Needs.Open++
		p.Needs.ByUrgency[r.Urgency]++
		p.Needs.ByStatus[r.Status]++
		if Urgent(r.Urgency) {
			p.Needs.Urgent++
		}
	}
	for _, it := range v.Inventory {
		if it.IsLow {
			p.StockLow = append(p.StockLow, Stock{Item: it.Item, Quantity: it.Quantity, Unit: it.Unit, Low: it.Low, At: it.Counted.Time()})
		}
	}
	for _, r := range v.Roster {
		p.Staff.At = later(p.Staff.At, r.Changed)
		if r.OnDuty {
			p.Staff.OnDuty++
			if r.Role != "" && !slices.Contains(p.Staff.Roles, r.Role) {
				p.Staff.Roles = append(p.Staff.Roles, r.Role)
			}
		}
	}
	slices.Sort(p.Staff.Roles)
	return p, needs
}

// critical: on battery and low, or under two hours left.
func (pw Power) critical() bool {
	return pw.OnBattery && (pw.Low || pw.RuntimeMinutes != nil && *pw.RuntimeMinutes < 120)
}

// activated: the point is meant to be running (an exercise too).
func (p Point) activated() bool {
	return p.Activation != nil && (p.Activation.State == node.ActivationActivated || p.Activation.State == node.ActivationExercise)
}

// status sums a point up, judged at now.
func (p Point) status(silent bool) string {
	switch {
	case silent:
		return StatusSilent
	case p.Power.critical():
		return StatusCritical
	case p.Power.OnBattery || p.Needs.Urgent > 0 || len(p.StockLow) > 0:
		return StatusWarning
	case p.LastEvent == nil:
		return StatusUnknown
	}
	return StatusOK
}

// lastOwn is the latest HLC among a point's own events in a view.
func lastOwn(v node.View) node.HLC {
	var h node.HLC
	bump := func(x node.HLC) { h = max(h, x) }
	if v.Power != nil {
		bump(v.Power.At)
	}
	for _, s := range v.Services {
		if s.Since != nil {
			bump(*s.Since)
		}
	}
	for _, c := range v.CheckIns {
		bump(c.Recorded)
	}
	for _, r := range v.Reports {
		bump(max(r.Recorded, r.Updated))
	}
	for _, it := range v.Inventory {
		bump(it.Counted)
	}
	for _, r := range v.Roster {
		bump(r.Changed)
	}
	for _, j := range v.Journal {
		bump(j.Recorded)
	}
	return h
}

// summary is point id's summary at now, from the cache when nothing has
// changed, with its JSON.
func (p *Picture) summary(id string, pt *point, now time.Time) (Point, []Need, []byte) {
	p.mu.RLock()
	foldVer, linkVer, heard, online, backlog := pt.foldVer, pt.linkVer, pt.heard, pt.online, pt.backlog
	p.mu.RUnlock()
	c := &pt.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.foldVer != foldVer {
		v := pt.st.View()
		c.base, c.needs = summarise(id, v)
		if h := lastOwn(v); h != 0 {
			c.base.LastEvent = at(h)
		}
		c.foldVer, c.json = foldVer, nil
	}
	full := c.base
	full.Online, full.Backlog = online, backlog
	full.LastHeard = full.LastEvent
	if !heard.IsZero() && (full.LastHeard == nil || heard.After(*full.LastHeard)) {
		h := heard
		full.LastHeard = &h
	}
	silent := full.activated() && (full.LastHeard == nil || now.Sub(*full.LastHeard) > p.opts.SilentAfter)
	if c.json == nil || c.linkVer != linkVer || c.silent != silent {
		full.Status = full.status(silent)
		b, _ := json.Marshal(full) // plain data: cannot fail
		c.json, c.full, c.linkVer, c.silent = b, full, linkVer, silent
	}
	return c.full, c.needs, c.json
}

// each calls fn for every point in scope, in id order.
func (p *Picture) each(scope Scope, now time.Time, fn func(Point, []Need, []byte)) {
	p.mu.RLock()
	ids := make([]string, 0, len(p.points))
	pts := make(map[string]*point, len(p.points))
	for id, pt := range p.points {
		ids = append(ids, id)
		pts[id] = pt
	}
	p.mu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		s, needs, b := p.summary(id, pts[id], now)
		if !scope.sees(s.Municipality) {
			continue
		}
		fn(s, needs, b)
	}
}

// Points lists every point in scope, by id.
func (p *Picture) Points(scope Scope) []Point {
	out := []Point{}
	p.each(scope, p.opts.Now(), func(s Point, _ []Need, _ []byte) { out = append(out, s) })
	return out
}

// PointsJSON is Points as a JSON array, assembled from each point's
// cached encoding.
func (p *Picture) PointsJSON(scope Scope) []byte {
	buf := []byte{'['}
	p.each(scope, p.opts.Now(), func(_ Point, _ []Need, b []byte) {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	})
	return append(buf, ']')
}

// Point is one point, if it exists and is in scope.
func (p *Picture) Point(id string, scope Scope) (Point, bool) {
	p.mu.RLock()
	pt := p.points[id]
	p.mu.RUnlock()
	if pt == nil {
		return Point{}, false
	}
	s, _, _ := p.summary(id, pt, p.opts.Now())
	if !scope.sees(s.Municipality) {
		return Point{}, false
	}
	return s, true
}

// NeedQuery selects needs: open ones by default.
type NeedQuery struct {
	All          bool   // resolved ones too
	Point        string // one point only
	Municipality string // one municipality only
	Scope        Scope
}

// Needs lists needs across points, most urgent first, then oldest.
func (p *Picture) Needs(q NeedQuery) []Need {
	out := []Need{}
	p.each(q.Scope, p.opts.Now(), func(s Point, needs []Need, _ []byte) {
		if q.Point != "" && s.ID != q.Point || q.Municipality != "" && s.Municipality != q.Municipality {
			return
		}
		for _, n := range needs {
			if q.All || n.Status != node.ReportResolved {
				out = append(out, n)
			}
		}
	})
	slices.SortFunc(out, func(a, b Need) int {
		return cmp.Or(cmp.Compare(urgencyRank(b.Urgency), urgencyRank(a.Urgency)),
			a.Created.Compare(b.Created), strings.Compare(a.Point, b.Point), strings.Compare(a.ID, b.ID))
	})
	return out
}
