package office

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// The map: the points in scope drawn as inline SVG from their lat/lon,
// with no tiles and nothing fetched from the internet (central may have
// none in a storm). An equirectangular projection, its x scaled by the
// cosine of the middle latitude, fitted to the points with a margin: at a
// municipality's size the distortion is far below what the map is for.

const (
	mapW, mapH = 800, 460
	// Room at the sides for the names, above and below for the markers.
	mapPadX, mapPadY = 120, 36
	// minSpan is the least extent drawn, in degrees of latitude (about
	// 2 km), so one point, or points on one street, are not blown up.
	minSpan  = 0.02
	markerR  = 11.0
	kmPerDeg = 111.32
)

// mapView is the map of the points with a location.
type mapView struct {
	W, H    int
	Points  []mapPoint
	Missing []string // names of the points without a location
	// The scale bar: its length on the map and what it stands for.
	ScaleX1, ScaleX2, ScaleY string
	ScaleKm                  string
}

// mapPoint is one marker: a shape and a letter for the status (so no one
// needs the colour), the point's name beside it, and a link to its row.
type mapPoint struct {
	Anchor, Name, Title string
	Status              statusView
	Shape               string // the marker's SVG path
	X, Y                string // the letter's place
	LX, LY              string // the name's place
	End                 bool   // the name to the left: a marker near the right edge
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// shapePath is the marker for a status: a diamond when critical, a
// triangle for a warning, a square when unknown, else a circle (hollow
// and dashed when silent, by its class).
func shapePath(status string, x, y float64) string {
	r := markerR
	switch status {
	case "critical":
		d := r * 1.35
		return fmt.Sprintf("M%s %sL%s %sL%s %sL%s %sZ", num(x), num(y-d), num(x+d), num(y), num(x), num(y+d), num(x-d), num(y))
	case "warning":
		return fmt.Sprintf("M%s %sL%s %sL%s %sZ", num(x), num(y-r*1.35), num(x+r*1.25), num(y+r*0.9), num(x-r*1.25), num(y+r*0.9))
	case "unknown":
		return fmt.Sprintf("M%s %sh%sv%sh%sZ", num(x-r), num(y-r), num(2*r), num(2*r), num(-2*r))
	}
	return fmt.Sprintf("M%s %sa%s %s 0 1 0 %s 0a%s %s 0 1 0 %s 0Z", num(x-r), num(y), num(r), num(r), num(2*r), num(r), num(r), num(-2*r))
}

// niceKm are the lengths a scale bar may stand for.
var niceKm = []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500}

// mapOf draws the points with a location, the most serious on top.
func mapOf(points []pointRow) mapView {
	v := mapView{W: mapW, H: mapH}
	var located []pointRow
	for _, p := range points {
		if p.Location == nil || math.IsNaN(p.Location.Lat) || math.IsNaN(p.Location.Lon) {
			v.Missing = append(v.Missing, p.Name)
			continue
		}
		located = append(located, p)
	}
	if len(located) == 0 {
		return v
	}
	minLat, maxLat := math.Inf(1), math.Inf(-1)
	for _, p := range located {
		minLat, maxLat = min(minLat, p.Location.Lat), max(maxLat, p.Location.Lat)
	}
	k := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	minX, maxX := math.Inf(1), math.Inf(-1)
	for _, p := range located {
		x := p.Location.Lon * k
		minX, maxX = min(minX, x), max(maxX, x)
	}
	cx, cy := (minX+maxX)/2, (minLat+maxLat)/2
	scale := min((mapW-2*mapPadX)/max(maxX-minX, minSpan), (mapH-2*mapPadY)/max(maxLat-minLat, minSpan))
	// Drawn least serious first: the critical ones end up on top.
	slices.SortStableFunc(located, func(a, b pointRow) int { return cmp.Compare(b.Status.rank, a.Status.rank) })
	for _, p := range located {
		x := mapW/2 + (p.Location.Lon*k-cx)*scale
		y := mapH/2 - (p.Location.Lat-cy)*scale
		mp := mapPoint{Anchor: p.Anchor, Name: p.Name, Status: p.Status, Shape: shapePath(p.Status.Key, x, y),
			X: num(x), Y: num(y + 4.5), LY: num(y + 5), End: x > mapW*0.7,
			Title: p.Name + ": " + p.Status.Lab.Sv + " / " + p.Status.Lab.En}
		if mp.End {
			mp.LX = num(x - markerR - 6)
		} else {
			mp.LX = num(x + markerR + 6)
		}
		v.Points = append(v.Points, mp)
	}
	// A scale bar of a round length, at most 160 px long.
	kmPerPx := kmPerDeg / scale
	km := niceKm[0]
	for _, n := range niceKm {
		if n/kmPerPx <= 160 {
			km = n
		}
	}
	v.ScaleX1, v.ScaleX2, v.ScaleY = num(16), num(16+km/kmPerPx), num(mapH-14)
	v.ScaleKm = decimal(km) + " km"
	return v
}
