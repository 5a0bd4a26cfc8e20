package web

import "encoding/json"

// The staff pages' words for values. The board and central's pages show
// them; board.js renders the board's live updates with the same words
// (LabelsJSON, handed over in the page); keep the two in step.

// Lab is a value's words: Swedish first, English second.
type Lab struct{ Sv, En string }

// labels are the staff pages' words for the values they show, by kind and
// value ("rs.new": a report status).
var labels = map[string]Lab{
	"rs.new":          {"Ny", "new"},
	"rs.acknowledged": {"Kvitterad", "acknowledged"},
	"rs.in_progress":  {"Pågår", "in progress"},
	"rs.resolved":     {"Klar", "resolved"},

	"urg.low":              {"Låg", "low"},
	"urg.normal":           {"Normal", "normal"},
	"urg.high":             {"Hög", "high"},
	"urg.life-threatening": {"Livsfara", "life-threatening"},

	"cat.road":          {"Väg", "road"},
	"cat.power":         {"El", "power"},
	"cat.water":         {"Vatten", "water"},
	"cat.heat":          {"Värme", "heat"},
	"cat.medical":       {"Vård", "medical"},
	"cat.welfare-check": {"Titta till", "welfare check"},
	"cat.supplies":      {"Förnödenheter", "supplies"},
	"cat.other":         {"Annat", "other"},

	"ci.safe":       {"Klarar sig", "safe"},
	"ci.needs_help": {"Behöver hjälp", "needs help"},

	"need.none":      {"Inget behov", "no need"},
	"need.supplies":  {"Mat, vatten", "supplies"},
	"need.heat":      {"Värme", "heat"},
	"need.power":     {"Ström", "power"},
	"need.medical":   {"Vård, medicin", "medical"},
	"need.transport": {"Transport", "transport"},
	"need.other":     {"Annat", "other"},

	"svc.warmth":         {"Värme", "warmth"},
	"svc.charging":       {"Laddning", "charging"},
	"svc.water":          {"Dricksvatten", "water"},
	"svc.toilets":        {"Toaletter", "toilets"},
	"svc.first_aid":      {"Första hjälpen", "first aid"},
	"svc.food":           {"Mat", "food"},
	"svc.information":    {"Information", "information"},
	"svc.wifi":           {"Wi-Fi", "Wi-Fi"},
	"svc.emergency_call": {"Nödsamtal", "emergency call"},

	"ss.open":    {"Öppen", "open"},
	"ss.limited": {"Begränsad", "limited"},
	"ss.closed":  {"Stängd", "closed"},
	"ss.unknown": {"Ej angiven", "not set"},

	"pw.OL":      {"På elnätet", "on mains"},
	"pw.OB":      {"På batteri", "on battery"},
	"pw.GEN":     {"Generator", "generator"},
	"pw.LB":      {"Batteriet lågt", "battery low"},
	"pw.unknown": {"Okänt", "unknown"},

	"duty.on":  {"I tjänst", "on duty"},
	"duty.off": {"Ledig", "off duty"},

	"sev.info":    {"Info", "info"},
	"sev.warning": {"Varning", "warning"},
	"sev.danger":  {"Fara", "danger"},

	"rf.":    {"Öppna", "open"},
	"rf.all": {"Alla", "all"},

	"uf.": {"Alla", "all"},

	"lk.none":    {"Ingen central konfigurerad", "no central configured"},
	"lk.online":  {"Ansluten", "online"},
	"lk.offline": {"Ingen kontakt", "offline"},
}

// Label is the words for a value of a kind; an unknown value is itself.
func Label(kind, value string) Lab {
	if l, ok := labels[kind+"."+value]; ok {
		return l
	}
	return Lab{Sv: value}
}

// LabelsJSON is the words for board.js, which renders the live updates
// with them: {"rs.new": ["Ny", "new"]}.
var LabelsJSON = func() string {
	m := make(map[string][2]string, len(labels))
	for k, l := range labels {
		m[k] = [2]string{l.Sv, l.En}
	}
	b, _ := json.Marshal(m)
	return string(b)
}()
