package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

// genVersion names what the generator makes: change it whenever its
// output changes, so that a cached seed of the old output is not reused.
const genVersion = 1

// crisis is how long the seeded history runs: three days of a long power
// cut, ending at the seed's time.
const crisis = 72 * time.Hour

// municipality is one of the seeded municipalities (Gävleborg, SCB codes)
// with its centre, around which its points lie, and its share of them.
type municipality struct {
	code     string
	name     string
	lat, lon float64
	weight   int
}

var municipalities = []municipality{
	{"2180", "Gävle", 60.675, 17.141, 30},
	{"2181", "Sandviken", 60.617, 16.776, 15},
	{"2184", "Hudiksvall", 61.729, 17.104, 15},
	{"2183", "Bollnäs", 61.348, 16.394, 14},
	{"2182", "Söderhamn", 61.303, 17.059, 14},
	{"2161", "Ljusdal", 61.829, 16.091, 12},
}

// municipalityOf is point i's municipality (0-based), spread by weight.
func municipalityOf(i int) municipality {
	total := 0
	for _, m := range municipalities {
		total += m.weight
	}
	k := (i * 37) % total // 37 is prime to 100: neighbours land apart
	for _, m := range municipalities {
		if k < m.weight {
			return m
		}
		k -= m.weight
	}
	return municipalities[0]
}

// pointID is point i's id (0-based): p-0001 for the first.
func pointID(i int) string { return fmt.Sprintf("p-%04d", i+1) }

// mix is how often each kind of event follows a point's first
// (point.configured), in percent: check-ins without personal data the most,
// reports fewer, each moved on by several status changes, so that most are
// resolved by the end as staff work through them.
var mix = []struct {
	typ    string
	weight int
}{
	{node.TypeCheckInCreated, 45},
	{node.TypeReportStatusChanged, 17},
	{node.TypeServiceChanged, 10},
	{node.TypeInventoryChanged, 10},
	{node.TypeRosterChanged, 7},
	{node.TypeReportCreated, 5},
	{node.TypePowerChanged, 6},
}

// pointGen makes one point's events in order: seq 1 is its
// point.configured, the others follow the mix, spread evenly over the
// crisis with some jitter. It is deterministic for a point and an end.
type pointGen struct {
	id   string
	m    municipality
	rng  *rand.Rand
	n    int // events to make
	seq  int // made so far
	from time.Time
	step time.Duration

	open    []openReport // reports not resolved, oldest first
	staff   []string
	onDuty  map[string]bool
	stock   map[string]float64
	outage  bool // on battery
	percent float64
	fuel    bool // has a generator
}

type openReport struct {
	id     string
	status int // index in node.ReportStatuses
}

var (
	firstNames = []string{"Anna", "Johan", "Sara", "Erik", "Lena", "Ali", "Maria", "Per", "Karin", "Mohammed", "Eva", "Lars", "Fatima", "Nils", "Ingrid", "Oskar"}
	lastNames  = []string{"Berg", "Lind", "Nyström", "Holm", "Ek", "Hassan", "Sund", "Åberg", "Olsson", "Persson", "Jonsson", "Ali", "Lundqvist", "Wikström"}
	places     = []string{"Storgatan", "Kyrkvägen", "Skolgatan", "Björkvägen", "Ekvägen", "Bruksgatan", "Stationsvägen", "Älvgatan", "Backvägen", "Tallvägen"}
	pointNames = []string{"Byhuset", "Skolan", "Församlingshemmet", "Idrottshallen", "Bygdegården", "Biblioteket", "Brandstationen", "Folkets hus"}

	reportTexts = []string{
		"Träd över vägen mellan skolan och macken, går inte att köra förbi.",
		"Äldre par utan värme sedan i morse, elementen är kalla och de har ingen kamin.",
		"Vattnet är brunt och luktar konstigt i hela huset.",
		"Behöver ladda syrgasapparat, batteriet räcker till i kväll.",
		"Ledningar nere över gång- och cykelvägen vid ån.",
		"Slut på blöjor och välling, har en bebis på fyra månader.",
		"Grannen har inte svarat i telefon sedan i går kväll.",
		"Källaren har börjat ta in vatten, pumpen går inte utan ström.",
		"Behöver skjuts till vårdcentralen för dialys i morgon bitti.",
		"Frysen har tinat, behöver veta var man kan slänga maten.",
	}
	serviceNotes = []string{"", "", "Stora salen, 19 °C", "Högst 30 minuter per telefon", "Ta med egen dunk",
		"Åter kl. 18", "Slut för i dag", "Bara akuta ärenden", "Endast barnfamiljer i kväll"}
	items = []struct {
		name, unit string
		full, low  float64
	}{{node.FuelItem, "l", 400, 80}, {"vatten", "l", 600, 100}, {"filtar", "st", 60, 10},
		{"konserver", "kartonger", 30, 5}, {"blöjor", "paket", 20, 4}, {"batterier", "st", 200, 40}}
	// Services a point runs; emergency_call and wifi are rarer.
	services       = []string{"warmth", "charging", "water", "toilets", "first_aid", "food", "information"}
	urgencyWeights = []int{25, 45, 25, 5} // node.Urgencies
)

// newPointGen is point i's generator for n events ending at end.
func newPointGen(i, n int, end time.Time) *pointGen {
	rng := rand.New(rand.NewPCG(uint64(i), genVersion))
	g := &pointGen{id: pointID(i), m: municipalityOf(i), rng: rng, n: n, from: end.Add(-crisis),
		step: crisis / time.Duration(max(n, 1)), onDuty: map[string]bool{}, stock: map[string]float64{},
		percent: 100, fuel: rng.IntN(3) > 0}
	for range 6 + rng.IntN(8) {
		g.staff = append(g.staff, firstNames[rng.IntN(len(firstNames))]+" "+lastNames[rng.IntN(len(lastNames))])
	}
	for _, it := range items {
		g.stock[it.name] = it.full
	}
	return g
}

// next is the point's next event; false once it has made all n.
func (g *pointGen) next() (node.Event, bool) {
	if g.seq >= g.n {
		return node.Event{}, false
	}
	g.seq++
	at := g.from.Add(time.Duration(g.seq-1)*g.step + time.Duration(g.rng.Int64N(int64(g.step)))).Truncate(time.Millisecond)
	typ, payload := g.payload(at)
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return node.Event{Origin: g.id, Seq: uint64(g.seq), HLC: node.MakeHLC(at.UnixMilli(), 0), Type: typ,
		OccurredAt: &at, Payload: b}, true
}

func (g *pointGen) payload(at time.Time) (string, any) {
	if g.seq == 1 {
		return node.TypePointConfigured, node.Point{ID: g.id,
			Name:         pointNames[g.rng.IntN(len(pointNames))] + " i " + g.m.name + " " + g.id[2:],
			Municipality: g.m.code,
			Location:     &node.Location{Lat: round6(g.m.lat + (g.rng.Float64()-0.5)*0.4), Lon: round6(g.m.lon + (g.rng.Float64()-0.5)*0.6)},
			OpeningHours: "Dygnet runt under strömavbrottet",
			Contacts:     []node.Contact{{Label: "Kommunens krisstöd", Phone: "026-17 80 00"}}}
	}
	k := g.rng.IntN(100)
	typ := mix[len(mix)-1].typ
	for _, m := range mix {
		if k < m.weight {
			typ = m.typ
			break
		}
		k -= m.weight
	}
	switch typ {
	case node.TypeCheckInCreated:
		status := node.CheckInSafe
		if g.rng.IntN(100) < 15 {
			status = node.CheckInNeedsHelp
		}
		need := "none"
		if g.rng.IntN(100) < 30 {
			need = node.Needs[1+g.rng.IntN(len(node.Needs)-1)]
		}
		return typ, node.CheckInCreated{ID: g.code(16, true), Receipt: g.code(node.ReceiptLen, false), Household: g.code(6, false),
			Size: 1 + g.rng.IntN(5), Status: status, Need: need}
	case node.TypeReportStatusChanged:
		if len(g.open) > 0 {
			r := &g.open[0]
			r.status++
			p := node.ReportStatusChanged{ID: r.id, Status: node.ReportStatuses[r.status], By: g.person()}
			if r.status == len(node.ReportStatuses)-1 {
				g.open = g.open[1:]
			}
			return typ, p
		}
		return g.report()
	case node.TypeReportCreated:
		return g.report()
	case node.TypeServiceChanged:
		status := node.ServiceOpen
		switch k := g.rng.IntN(10); {
		case k < 2:
			status = node.ServiceLimited
		case k < 3:
			status = node.ServiceClosed
		}
		return typ, node.ServiceChanged{Service: services[g.rng.IntN(len(services))], Status: status,
			Note: serviceNotes[g.rng.IntN(len(serviceNotes))], By: g.person()}
	case node.TypeInventoryChanged:
		it := items[g.rng.IntN(len(items))]
		q := g.stock[it.name] - math.Round(it.full*(0.05+0.15*g.rng.Float64()))
		if q < it.low/2 {
			q = it.full // restocked
		}
		g.stock[it.name] = q
		return typ, node.InventoryChanged{Item: it.name, Quantity: q, Unit: it.unit, Low: it.low, By: g.person()}
	case node.TypeRosterChanged:
		p := g.person()
		g.onDuty[p] = !g.onDuty[p]
		return typ, node.RosterChanged{Person: p, Role: node.StaffRoles[g.rng.IntN(len(node.StaffRoles))], OnDuty: g.onDuty[p], By: g.staff[0]}
	default:
		return typ, g.power(at)
	}
}

func (g *pointGen) report() (string, any) {
	k, u := g.rng.IntN(100), 0
	for ; u < len(urgencyWeights)-1 && k >= urgencyWeights[u]; u++ {
		k -= urgencyWeights[u]
	}
	r := node.ReportCreated{ID: g.code(16, true), Receipt: g.code(node.ReceiptLen, false),
		Category: node.Categories[g.rng.IntN(len(node.Categories))], Urgency: node.Urgencies[u],
		Text: reportTexts[g.rng.IntN(len(reportTexts))]}
	if g.rng.IntN(3) > 0 {
		r.Place = fmt.Sprintf("%s %d", places[g.rng.IntN(len(places))], 1+g.rng.IntN(40))
	}
	g.open = append(g.open, openReport{id: r.ID})
	return node.TypeReportCreated, r
}

// power is the next step of the point's outage: off the mains the battery
// falls 10 % a step until the mains or the generator is back; then an
// outage again.
func (g *pointGen) power(at time.Time) node.PowerChanged {
	p := node.PowerChanged{Source: "nut"}
	since := at
	p.Since = &since
	switch {
	case !g.outage:
		g.outage, g.percent = true, 100
		p.State, p.Previous = "OB DISCHRG", "OL"
	case g.percent <= 20 || g.rng.IntN(6) == 0:
		g.outage = false
		p.State, p.Previous = "OL CHRG", "OB DISCHRG"
	default:
		g.percent -= 10
		p.State, p.Previous = "OB DISCHRG", "OB DISCHRG"
		if g.percent <= 20 {
			p.State = "OB DISCHRG LB"
		}
	}
	pct := g.percent
	p.Percent = &pct
	if g.outage {
		runtime := g.percent * 4 // a 100 Ah battery at a point's usual load
		p.Runtime = &runtime
	}
	if g.fuel {
		hours := math.Round(g.stock[node.FuelItem]/4.5*10) / 10
		p.GeneratorHours = &hours
	}
	return p
}

// person is one of the point's staff.
func (g *pointGen) person() string { return g.staff[g.rng.IntN(len(g.staff))] }

// code is n symbols of the receipt alphabet from the generator's own
// randomness, lower case for an id.
func (g *pointGen) code(n int, lower bool) string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
		if lower && b[i] >= 'A' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// generator makes every point's events as central receives them: in
// rounds, each point sending its next chunk, so that the log's order is
// roughly the order of time, points interleaved.
type generator struct {
	points []*pointGen
	chunk  int
	next   int // the point whose chunk comes next
}

// newGenerator spreads events over points (the first points take the
// remainder), chunk events a point at a time.
func newGenerator(points, events, chunk int, end time.Time) *generator {
	g := &generator{chunk: chunk}
	for i := range points {
		g.points = append(g.points, newPointGen(i, perPoint(points, events, i), end))
	}
	return g
}

// perPoint is how many of events point i of points makes.
func perPoint(points, events, i int) int {
	n := events / points
	if i < events%points {
		n++
	}
	return n
}

// batch appends up to n more events to buf; none once all are made.
func (g *generator) batch(buf []node.Event, n int) []node.Event {
	for idle := 0; len(buf) < n && idle < len(g.points); {
		p := g.points[g.next]
		made := 0
		for ; made < g.chunk && len(buf) < n; made++ {
			e, ok := p.next()
			if !ok {
				break
			}
			buf = append(buf, e)
		}
		if made == 0 {
			idle++
		} else {
			idle = 0
		}
		g.next = (g.next + 1) % len(g.points)
	}
	return buf
}
