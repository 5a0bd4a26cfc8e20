package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// reportGen makes report.created payloads like the ones residents send
// through ui: a random id and receipt, a category, an urgency, a text of
// 40–80 characters put together from fragments, and a place two times in
// three.
type reportGen struct{ rng *rand.Rand }

var (
	reportTexts = map[string][]string{
		"road":          {"Träd över vägen", "Vägen är översvämmad", "Stolpe har fallit över cykelbanan", "Bro avstängd, bil fast", "Ledningar hänger lågt över vägen"},
		"power":         {"Ingen ström sedan i morse", "Elskåp gnistrar", "Generatorn har stannat", "Strömmen går och kommer", "Luftledning nere på gården"},
		"water":         {"Inget vatten i kranen", "Brunn översvämmad, vattnet luktar", "Källaren står under vatten", "Vattnet är brunt", "Pumpen går inte utan ström"},
		"heat":          {"Kallt i huset, 12 grader inne", "Pelletspannan har slocknat", "Ingen värme sedan i går", "Kaminen ryker in", "Äldre par fryser"},
		"medical":       {"Behöver insulin kylt", "Syrgasapparat utan ström", "Man med bröstsmärta", "Barn med hög feber", "Dialyspatient behöver skjuts"},
		"welfare-check": {"Har inte hört av grannen", "Äldre dam svarar inte i telefon", "Mamma bor ensam och har ingen ström", "Granne med rullator, ingen har sett henne", "Kan någon titta till min pappa"},
		"supplies":      {"Behöver vatten och mat", "Slut på blöjor och välling", "Behöver batterier till radion", "Ingen bensin till aggregatet", "Behöver ved"},
		"other":         {"Hund springer lös på vägen", "Inbrott i förrådet i natt", "Mobilnätet fungerar inte här", "Fråga om skolskjuts i morgon", "Tak har blåst av uthuset"},
	}
	textTails = []string{"sedan kl. %d", "vid nummer %d", "två personer behöver hjälp", "ingen är skadad", "hör av er snarast",
		"har väntat %d timmar", "vi är %d personer", "kan inte ta oss härifrån", "barnen är kalla", "batteriet i mobilen snart slut"}
	streets = []string{"Storgatan", "Byvägen", "Kyrkvägen", "Skolgatan", "Sjövägen", "Björkvägen", "Norra vägen", "Ås byväg", "Kvarnvägen", "Hamngatan"}
	extras  = []string{"", "", "", "B", " lgh 1102", ", gula huset", ", vid skolan", ", ovanför affären"}
)

func (g *reportGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *reportGen) tail() string {
	t := g.pick(textTails)
	if strings.Contains(t, "%d") {
		t = fmt.Sprintf(t, 1+g.rng.IntN(23))
	}
	return t
}

func (g *reportGen) next() node.ReportCreated {
	cat := g.pick(node.Categories)
	text := g.pick(reportTexts[cat])
	for len([]rune(text)) < 40 {
		text += ", " + g.tail()
	}
	if r := []rune(text); len(r) > 80 {
		text = strings.TrimRight(string(r[:80]), " ,")
	}
	if g.rng.IntN(3) > 0 && len([]rune(text)) < 62 {
		text += ", " + g.tail()
	}
	if r := []rune(text); len(r) > 80 {
		text = strings.TrimRight(string(r[:80]), " ,")
	}
	var place string
	if g.rng.IntN(3) > 0 {
		place = fmt.Sprintf("%s %d%s", g.pick(streets), 1+g.rng.IntN(60), g.pick(extras))
	}
	urgency := "normal"
	switch x := g.rng.IntN(20); {
	case x < 4:
		urgency = "low"
	case x < 8:
		urgency = "high"
	case x < 9:
		urgency = "life-threatening"
	}
	return node.ReportCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen), Category: cat,
		Text: text, Place: place, Urgency: urgency}
}

// simWall is a wall clock that advances 0–3 s each time it is read: the
// backlog spans about half a day, as a real one would, rather than the
// second it takes to write it (timestamps that far apart compress less).
type simWall struct {
	mu  sync.Mutex
	t   time.Time
	rng *rand.Rand
}

func (s *simWall) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t = s.t.Add(time.Duration(s.rng.Int64N(int64(3 * time.Second))))
	return s.t
}

// buildNodeLog writes a node's log of n report events, appended by 16
// goroutines as staff and residents would (group commit), and closes it:
// one file, copied for every drain.
func buildNodeLog(ctx context.Context, file string, n int) error {
	wall := &simWall{t: time.Now().Add(-36 * time.Hour).UTC(), rng: rand.New(rand.NewPCG(1, 2))}
	l, err := eventlog.Open(ctx, file, eventlog.Options{Origin: nodeID, Clock: node.NewClock(wall.now)})
	if err != nil {
		return err
	}
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			g := &reportGen{rng: rand.New(rand.NewPCG(uint64(w), 7))}
			for next.Add(1) <= int64(n) {
				if _, err := l.Append(ctx, node.Draft{Type: node.TypeReportCreated, Payload: g.next()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	err = <-errs
	return errors.Join(err, l.Close())
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
