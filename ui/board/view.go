package board

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/hardware/powermon"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/web"
)

// funcs are the board's template functions, beside the base's.
var funcs = template.FuncMap{
	// clock shows an HLC's wall time in Swedish time, HH:MM.
	"clock": func(h node.HLC) string {
		if h == 0 || h.Time().Before(node.EarliestPlausible) {
			return "–"
		}
		return h.Time().In(web.Stockholm).Format("15:04")
	},
	// minutes shows a runtime as "5 h 20 min" or "40 min".
	"minutes": func(m *float64) string {
		if m == nil {
			return ""
		}
		d := time.Duration(*m * float64(time.Minute)).Round(time.Minute)
		if d >= time.Hour {
			return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
		}
		return fmt.Sprintf("%d min", int(d.Minutes()))
	},
	"timeptr": func(t time.Time) *time.Time { return &t },
	// lastN is the last n journal entries.
	"lastN": func(j []node.Journal, n int) []node.Journal {
		if len(j) > n {
			return j[len(j)-n:]
		}
		return j
	},
	"datetime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(web.Stockholm).Format("2006-01-02 15:04")
	},
	// label is a value's words: {{template "lab" (label "rs" .Status)}}.
	"label": web.Label,
	// enum is one of the lists of values the board offers.
	"enum": func(name string) []string {
		return map[string][]string{"statuses": node.ReportStatuses, "urgencies": node.Urgencies,
			"checkin": node.CheckInStatuses, "needs": node.Needs, "roles": node.StaffRoles,
			// A service's switch, from open to closed.
			"services": {node.ServiceOpen, node.ServiceLimited, node.ServiceClosed}}[name]
	},
	"excerpt": web.Excerpt,
	// first is a list's first n items, more how many are left after them:
	// a printed page holds what fits and says how much did not.
	"first": func(n int, list any) any {
		if v := reflect.ValueOf(list); v.Kind() == reflect.Slice && v.Len() > n {
			return v.Slice(0, n).Interface()
		}
		return list
	},
	"more": func(n int, list any) int {
		if v := reflect.ValueOf(list); v.Kind() == reflect.Slice {
			return max(v.Len()-n, 0)
		}
		return 0
	},
	// blank is an empty item of a kind, for the rows board.js clones.
	"blank": func(kind string) any {
		return map[string]any{"report": reportRow{}, "checkin": node.CheckIn{}, "journal": journalRow{},
			"roster": node.RosterEntry{}, "item": node.InventoryItem{}, "ann": node.Announcement{}}[kind]
	},
	// backdated reports whether something was recorded well after it
	// happened: a paper record typed in later. (Every event carries when
	// it happened; it is the recording time unless someone said otherwise.)
	"backdated": func(occurred *time.Time, recorded node.HLC) bool {
		return occurred != nil && recorded != 0 && recorded.Time().Sub(*occurred).Abs() > time.Minute
	},
	// num shows a quantity without an exponent: 1000000, 12.5.
	"num": func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"hhmm": func(t time.Time) string {
		if t.Before(node.EarliestPlausible) {
			return "–"
		}
		return t.In(web.Stockholm).Format("15:04")
	},
}

// The board's view helpers: the report queue, the households, the
// journal, the power words and the 24-hour power chart. board.js renders
// the live updates with the same rules (and the same words, web's
// LabelsJSON); keep the two in step.

// reportFilter is the needs queue's filter: Status "" shows the open
// reports, "all" every one; Urgency "" every urgency.
type reportFilter struct{ Status, Urgency string }

func parseFilter(q url.Values) reportFilter {
	f := reportFilter{Status: q.Get("status"), Urgency: q.Get("urgency")}
	if f.Status != "all" && !slices.Contains(node.ReportStatuses, f.Status) {
		f.Status = ""
	}
	if !slices.Contains(node.Urgencies, f.Urgency) {
		f.Urgency = ""
	}
	return f
}

func (f reportFilter) shows(r node.Report) bool {
	switch {
	case f.Urgency != "" && r.Urgency != f.Urgency:
		return false
	case f.Status == "":
		return r.Status != node.ReportResolved
	case f.Status == "all":
		return true
	}
	return r.Status == f.Status
}

// reportRow is a report in the queue.
type reportRow struct {
	node.Report
	CallDown bool // open and untouched for the call-down time
}

// queue is the needs queue: the reports the filter shows, open before
// resolved, the most urgent first, then the longest waiting.
func queue(reports []node.Report, callDown []string, f reportFilter) []reportRow {
	var out []reportRow
	for _, r := range reports {
		if f.shows(r) {
			out = append(out, reportRow{Report: r, CallDown: slices.Contains(callDown, r.ID)})
		}
	}
	slices.SortStableFunc(out, func(a, b reportRow) int {
		ra, rb := a.Status == node.ReportResolved, b.Status == node.ReportResolved
		if ra != rb {
			if ra {
				return 1
			}
			return -1
		}
		if ua, ub := slices.Index(node.Urgencies, a.Urgency), slices.Index(node.Urgencies, b.Urgency); ua != ub {
			return ub - ua
		}
		return cmp.Compare(a.Recorded, b.Recorded)
	})
	return out
}

// households are the latest check-in of each household, newest first:
// those that need help, and the rest.
func households(checkins []node.CheckIn) (help, rest []node.CheckIn) {
	latest := map[string]int{}
	for i, c := range checkins { // in recorded order: the last one wins
		latest[c.Household] = i
	}
	for i := len(checkins) - 1; i >= 0; i-- {
		c := checkins[i]
		switch {
		case latest[c.Household] != i:
		case c.Status == node.CheckInNeedsHelp:
			help = append(help, c)
		default:
			rest = append(rest, c)
		}
	}
	return help, rest
}

// journalRow is a journal entry with the entry it corrects and the entries
// that correct it.
type journalRow struct {
	node.Journal
	Fixes   *node.Journal
	FixedBy []node.Journal
}

// journalRows is the journal newest first.
func journalRows(j []node.Journal) []journalRow {
	byID := map[string]node.Journal{}
	for _, e := range j {
		byID[e.ID] = e
	}
	out := make([]journalRow, 0, len(j))
	for i := len(j) - 1; i >= 0; i-- {
		row := journalRow{Journal: j[i]}
		if e, ok := byID[j[i].Corrects]; ok {
			row.Fixes = &e
		}
		for _, id := range j[i].CorrectedBy {
			if e, ok := byID[id]; ok {
				row.FixedBy = append(row.FixedBy, e)
			}
		}
		out = append(out, row)
	}
	return out
}

// boardPower is the power picture in the board's words.
type boardPower struct {
	Class    string // ok, warn, bad, unknown: colour, never alone
	Key      string // the state's label: "OB" for pw.OB
	Charging bool
	Lost     bool   // the source does not answer
	Problem  string // why, in the driver's words, while it does not
	Critical bool
	Percent  string // "62 %"
	Left     string // "≈ 5 h 20 min"
	Band     string // "4 h 50 min–5 h 40 min", when the estimate is that uncertain
	Fuel     string // generator hours: "≈ 3 h 10 min"
	Source   string
}

func powerView(st *powermon.Status) *boardPower {
	if st == nil {
		return nil
	}
	p := &boardPower{Class: "unknown", Key: "unknown", Lost: !st.SourceOK, Critical: st.Critical, Source: st.Source}
	if p.Lost {
		p.Problem = st.SourceProblem
	}
	state := powermon.ParseState(st.State)
	switch {
	case !st.SourceOK || st.State == "":
	case state.Supply == powermon.TokenOnline:
		p.Class, p.Key = "ok", "OL"
	case state.Supply == powermon.TokenGenerator:
		p.Class, p.Key = "warn", "GEN"
	case state.Low:
		p.Class, p.Key = "bad", "LB"
	default:
		p.Class, p.Key = "warn", "OB"
	}
	p.Charging = state.Charging
	if st.BatteryPercent != nil {
		p.Percent = fmt.Sprintf("%.0f %%", math.Round(*st.BatteryPercent)) // as board.js rounds
	}
	if st.Runtime != nil {
		p.Left = "≈ " + fmtMinutes(*st.Runtime)
		if st.RuntimeLow != nil && st.RuntimeHigh != nil && *st.RuntimeHigh-*st.RuntimeLow >= 10 {
			p.Band = fmtMinutes(*st.RuntimeLow) + "–" + fmtMinutes(*st.RuntimeHigh)
		}
	}
	if st.GeneratorHours != nil {
		p.Fuel = "≈ " + fmtMinutes(*st.GeneratorHours*60)
	}
	return p
}

// fmtMinutes shows minutes as "5 h 20 min" or "40 min".
func fmtMinutes(m float64) string {
	d := time.Duration(m * float64(time.Minute)).Round(time.Minute)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", int(d.Hours()))
	case d >= time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

// powerChart is the battery's last 24 hours as SVG shapes, in a viewBox of
// chartW × chartH: one polyline per unbroken run of samples, a band per
// stretch off mains, a tick per hour.
type powerChart struct {
	W, H, Left, Top, Right, Bottom float64
	Lines                          []string
	Bands                          []chartBand
	Ticks                          []chartTick
	PlotH, Y50, TickEnd            float64
	Now, Min                       string // "62 %", for the words beside it
	Drawn                          string // HH:MM
}

type chartBand struct {
	X, W  float64
	Class string // ob (battery), gen (generator)
}

type chartTick struct {
	X     float64
	Label string // "06", "12", "18", "00" every six hours; "" otherwise
}

// The chart's geometry, in CSS pixels at about the size a tablet's
// column or a printed half page shows it.
const (
	chartW, chartH       = 300.0, 112.0
	chartLeft, chartTop  = 34.0, 6.0
	chartRight, chartBot = 294.0, 92.0
)

// chart draws samples over the 24 hours up to now; nil without a sample
// in them.
func chart(samples []powermon.Sample, now time.Time) *powerChart {
	start := now.Add(-24 * time.Hour)
	c := &powerChart{W: chartW, H: chartH, Left: chartLeft, Top: chartTop, Right: chartRight, Bottom: chartBot,
		PlotH: chartBot - chartTop, Y50: (chartTop + chartBot) / 2, TickEnd: chartBot + 4, Drawn: now.In(web.Stockholm).Format("15:04")}
	x := func(t time.Time) float64 {
		f := min(max(t.Sub(start).Seconds()/(24*3600), 0), 1)
		return math.Round((chartLeft+f*(chartRight-chartLeft))*10) / 10
	}
	y := func(p float64) float64 {
		return math.Round((chartTop+(1-min(max(p, 0), 100)/100)*(chartBot-chartTop))*10) / 10
	}
	var (
		line          []string
		last, plotted time.Time
		band          *chartBand
		bandEnd       time.Time
		lo            = math.Inf(1)
		any           bool
	)
	flush := func() {
		if len(line) > 1 {
			c.Lines = append(c.Lines, strings.Join(line, " "))
		} else if len(line) == 1 { // a lone point: a short stroke
			c.Lines = append(c.Lines, line[0]+" "+line[0])
		}
		line = nil
	}
	closeBand := func() {
		if band != nil {
			band.W = max(x(bandEnd)-band.X, 0.5)
			c.Bands = append(c.Bands, *band)
			band = nil
		}
	}
	for i, s := range samples {
		if s.At.Before(start) || s.At.After(now.Add(time.Minute)) {
			continue
		}
		any = true
		gap := !last.IsZero() && s.At.Sub(last) > 3*time.Minute
		last = s.At
		class := ""
		switch powermon.ParseState(s.State).Supply {
		case powermon.TokenOnBattery:
			class = "ob"
		case powermon.TokenGenerator:
			class = "gen"
		}
		if band != nil && (gap || band.Class != class) {
			closeBand()
		}
		if band == nil && class != "" {
			band = &chartBand{X: x(s.At), Class: class}
		}
		bandEnd = s.At.Add(time.Minute)
		if gap || math.IsNaN(s.Percent) {
			flush()
		}
		if math.IsNaN(s.Percent) {
			continue
		}
		lo = min(lo, s.Percent)
		c.Now = fmt.Sprintf("%.0f %%", s.Percent)
		// One point every few minutes is all the width holds; the last
		// sample is always drawn.
		if len(line) == 0 || s.At.Sub(plotted) >= 4*time.Minute || i == len(samples)-1 {
			line = append(line, fmt.Sprintf("%g,%g", x(s.At), y(s.Percent)))
			plotted = s.At
		}
	}
	flush()
	closeBand()
	if !any {
		return nil
	}
	if !math.IsInf(lo, 1) {
		c.Min = fmt.Sprintf("%.0f %%", lo)
	}
	for t := start.Truncate(time.Hour).Add(time.Hour); !t.After(now); t = t.Add(time.Hour) {
		tick := chartTick{X: x(t)}
		if h := t.In(web.Stockholm).Hour(); h%6 == 0 {
			tick.Label = fmt.Sprintf("%02d", h)
		}
		c.Ticks = append(c.Ticks, tick)
	}
	return c
}

// linkView is the link to central as the board shows it (the hub's link
// section).
type linkView struct {
	Configured bool       `json:"configured"`
	Online     bool       `json:"online"`
	LastSync   *time.Time `json:"last_sync"`
	Backlog    *int       `json:"backlog"`
	Problem    string     `json:"problem"`
}

// linkOf reads the link section, whatever type carries it.
func linkOf(section any) linkView {
	var l linkView
	if b, err := json.Marshal(section); err == nil {
		json.Unmarshal(b, &l)
	}
	return l
}
