package office

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/web"
)

// The situation picture as JSON (docs/API.md, "Central"), GeoJSON for a
// GIS and CSV for a spreadsheet: each in the asking account's scope.

// pointsAPI serves GET /api/central/points: {"points": […]}, assembled
// from each point's cached encoding.
func (s *Office) pointsAPI(w http.ResponseWriter, r *http.Request) {
	pic := s.opts.Picture
	s.cache.get(answerKey("points", account(r).Municipalities, ""), pic.Version(), pic.Now(), func() []byte {
		b := append([]byte(`{"points":`), pic.PointsJSON(scopeOf(r))...)
		return append(b, "}\n"...)
	}).write(w, r)
}

// PointDetail is GET /api/central/points/{id}: the point and its latest
// events, newest first.
type PointDetail struct {
	picture.Point
	Timeline []picture.Entry `json:"timeline"`
}

// pointAPI serves GET /api/central/points/{id}; a point outside the
// account's scope is not found.
func (s *Office) pointAPI(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, ok := s.opts.Picture.Point(id, scopeOf(r))
	if !ok {
		web.WriteError(w, http.StatusNotFound, "no such point")
		return
	}
	tl, err := s.opts.Picture.Timeline(r.Context(), id, timelineLen)
	if err != nil {
		s.logger.Error("Reading a point's timeline failed", "err", err)
		web.WriteError(w, http.StatusServiceUnavailable, "could not read the point's timeline")
		return
	}
	web.WriteJSON(w, http.StatusOK, PointDetail{Point: p, Timeline: tl})
}

// needQuery reads ?status=open|all, ?point=ID and ?municipality=CODE.
func needQuery(r *http.Request) (picture.NeedQuery, error) {
	q := r.URL.Query()
	nq := picture.NeedQuery{Scope: scopeOf(r)}
	switch q.Get("status") {
	case "", "open":
	case "all":
		nq.All = true
	default:
		return nq, errors.New("status: open or all")
	}
	if p := q.Get("point"); p != "" {
		if !wire.ValidNode(p) {
			return nq, errors.New("point: not a point's id")
		}
		nq.Point = p
	}
	if m := q.Get("municipality"); m != "" {
		if !node.ValidMunicipality(m) {
			return nq, errors.New("municipality: a municipality code (SCB), four digits")
		}
		nq.Municipality = m
	}
	return nq, nil
}

// needsAPI serves GET /api/central/needs: {"needs": […]}, open ones by
// default, most urgent first, then oldest.
func (s *Office) needsAPI(w http.ResponseWriter, r *http.Request) {
	q, err := needQuery(r)
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.cache.get(answerKey("needs", account(r).Municipalities, r.URL.RawQuery), s.opts.Picture.Version(), s.opts.Picture.Now(), func() []byte {
		b, err := json.Marshal(map[string]any{"needs": s.opts.Picture.Needs(q)})
		if err != nil {
			panic(err) // plain data: cannot fail
		}
		return append(b, '\n')
	}).write(w, r)
}

// csvCell guards a cell against formula injection: a spreadsheet runs a
// cell that starts with = + - @ (or a tab or carriage return before one)
// as a formula, and a resident typed this text. A leading quote makes it
// text (OWASP's advice).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// needsCSVHeader names the CSV's columns, as the JSON names its fields.
var needsCSVHeader = []string{"point", "point_name", "municipality", "id", "category", "urgency", "status", "text", "place", "created", "updated"}

// needsCSV serves GET /api/central/needs.csv: the needs of GET
// /api/central/needs for a spreadsheet. UTF-8 with a byte order mark, so
// that Excel reads å, ä and ö; times in RFC 3339.
func (s *Office) needsCSV(w http.ResponseWriter, r *http.Request) {
	q, err := needQuery(r)
	if err != nil {
		web.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	needs := s.opts.Picture.Needs(q)
	name := "behov.csv"
	if now := s.centralNow(); !now.IsZero() {
		name = "behov-" + now.In(web.Stockholm).Format("2006-01-02-1504") + ".csv"
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("\uFEFF"))
	cw := csv.NewWriter(w)
	cw.Write(needsCSVHeader)
	for _, n := range needs {
		row := []string{n.Point, n.PointName, n.Municipality, n.ID, n.Category, n.Urgency, n.Status, n.Text, n.Place,
			n.Created.UTC().Format(time.RFC3339), n.Updated.UTC().Format(time.RFC3339)}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		cw.Write(row)
	}
	cw.Flush()
}

// GeoJSON (RFC 7946) of the points: a FeatureCollection, one Feature a
// point, its geometry a Point at [lon, lat], or null without a location.
type (
	featureCollection struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}
	feature struct {
		Type       string       `json:"type"`
		ID         string       `json:"id"`
		Geometry   *geometry    `json:"geometry"`
		Properties featureProps `json:"properties"`
	}
	geometry struct {
		Type        string     `json:"type"`
		Coordinates [2]float64 `json:"coordinates"` // longitude, latitude
	}
	featureProps struct {
		ID             string     `json:"id"`
		Name           string     `json:"name"`
		Municipality   string     `json:"municipality"`
		Status         string     `json:"status"`
		Activation     string     `json:"activation"`
		Power          string     `json:"power"`       // mains, battery, generator, unknown
		PowerState     string     `json:"power_state"` // the NUT-style tokens
		BatteryPercent *float64   `json:"battery_percent"`
		RuntimeMinutes *float64   `json:"runtime_minutes"`
		GeneratorHours *float64   `json:"generator_hours"`
		Households     int        `json:"households"`
		People         int        `json:"people"`
		NeedsHelp      int        `json:"needs_help"`
		OpenNeeds      int        `json:"open_needs"`
		UrgentNeeds    int        `json:"urgent_needs"`
		Online         bool       `json:"online"`
		LastHeard      *time.Time `json:"last_heard"`
	}
)

// pointsGeoJSON serves GET /api/central/points.geojson.
func (s *Office) pointsGeoJSON(w http.ResponseWriter, r *http.Request) {
	fc := featureCollection{Type: "FeatureCollection", Features: []feature{}}
	for _, p := range s.opts.Picture.Points(scopeOf(r)) {
		f := feature{Type: "Feature", ID: p.ID, Properties: featureProps{ID: p.ID, Name: p.Name, Municipality: p.Municipality,
			Status: p.Status, Power: powerMode(p.Power.State), PowerState: p.Power.State,
			BatteryPercent: p.Power.BatteryPercent, RuntimeMinutes: p.Power.RuntimeMinutes, GeneratorHours: p.Power.GeneratorHours,
			Households: p.People.Households, People: p.People.People, NeedsHelp: p.People.NeedsHelp,
			OpenNeeds: p.Needs.Open, UrgentNeeds: p.Needs.Urgent, Online: p.Online, LastHeard: p.LastHeard}}
		if p.Activation != nil {
			f.Properties.Activation = p.Activation.State
		}
		if l := p.Location; l != nil {
			f.Geometry = &geometry{Type: "Point", Coordinates: [2]float64{l.Lon, l.Lat}}
		}
		fc.Features = append(fc.Features, f)
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(fc)
}

// alertsAPI serves GET /api/central/alerts: {"alerts": […]}, those not
// acknowledged first.
func (s *Office) alertsAPI(w http.ResponseWriter, r *http.Request) {
	web.WriteJSON(w, http.StatusOK, map[string]any{"alerts": s.opts.Picture.Alerts(scopeOf(r))})
}

// AckRequest is the body of POST /api/central/alerts/{id}/ack; the body
// may also be empty.
type AckRequest struct {
	Note string `json:"note"`
}

// ackAPI serves POST /api/central/alerts/{id}/ack: 200 with the alert,
// acknowledged.
func (s *Office) ackAPI(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	if r.ContentLength != 0 && !web.ReadJSON(w, r, &req) {
		return
	}
	var v api.Validator
	note := v.Text("note", req.Note, false, 500)
	if v.Err != nil {
		web.WriteError(w, http.StatusBadRequest, v.Err.Error())
		return
	}
	a, err := s.acknowledge(r, account(r), r.PathValue("id"), note)
	switch {
	case errors.Is(err, errNoAlert):
		web.WriteError(w, http.StatusNotFound, err.Error())
	case err != nil:
		web.WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		web.WriteJSON(w, http.StatusOK, a)
	}
}

// liveSections are what the live pages' websocket says: the picture's
// version and the minute. Never the picture itself: each page may see
// another scope, so each fetches its own with its session.
func (s *Office) liveSections() map[string]any {
	now := s.centralNow()
	return map[string]any{"picture": map[string]any{"version": s.opts.Picture.Version(), "minute": now.Truncate(time.Minute)}}
}

func (s *Office) pictureChanged() <-chan struct{} { return s.opts.Picture.Changed() }
