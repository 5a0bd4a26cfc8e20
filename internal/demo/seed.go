package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/ui/portal"
	"github.com/safepoint-se/safepoint/ui/web"
)

// demoPassword reads the demo account's password, or makes and saves one.
func demoPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); len([]rune(pw)) >= accounts.MinPasswordLen {
			return pw, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("demo: %w", err)
	}
	// Four groups of four symbols: 80 bits, and easy to type.
	groups := make([]string, 4)
	for i := range groups {
		groups[i] = strings.ToLower(node.NewCode(4))
	}
	pw := strings.Join(groups, "-")
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return pw, nil
}

// secretFile reads a generated secret, or makes one and saves it.
func secretFile(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= broker.MinPasswordLen {
			return s, nil
		}
	}
	s := strings.ToLower(node.NewCode(24))
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// writeIfChanged writes data to path unless the file already holds it.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}

// account makes the demo admin in a data directory, or gives it the demo
// password again if it has another (say, a deleted password file).
func account(ctx context.Context, dir, password string) error {
	staff, err := accounts.Open(ctx, filepath.Join(dir, eventlog.FileName), nil)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer staff.Close()
	return ensureAccount(ctx, staff, password)
}

func ensureAccount(ctx context.Context, staff *accounts.Accounts, password string) error {
	list, err := staff.List(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, func(a accounts.Account) bool { return a.Name == User }) {
		return staff.Add(ctx, User, accounts.RoleAdmin, password)
	}
	if _, err := staff.Authenticate(ctx, User, password); err == nil {
		return nil
	}
	if err := staff.SetPassword(ctx, User, password); err != nil {
		return err
	}
	return staff.SetDisabled(ctx, User, false)
}

// cert makes (or loads) the staff certificate the process will serve, as
// it would itself, for its fingerprint.
func cert(dir string) (string, error) {
	host, _ := os.Hostname()
	_, fp, err := web.LoadOrCreateCert(dir, host)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return fp, nil
}

// pointFile is the node's configuration file: the point's public facts.
type pointFile struct {
	Name         string          `toml:"name"`
	Municipality string          `toml:"municipality"`
	OpeningHours string          `toml:"opening_hours"`
	Location     location        `toml:"location"`
	Contacts     []contact       `toml:"contacts"`
	Nearby       []portal.Nearby `toml:"nearby"`
}

type location struct {
	Lat float64 `toml:"lat"`
	Lon float64 `toml:"lon"`
}

type contact struct {
	Label string `toml:"label"`
	Phone string `toml:"phone"`
}

// point is the node.Point the configuration file describes.
func (f pointFile) point() node.Point {
	p := node.Point{Name: f.Name, Municipality: f.Municipality, OpeningHours: f.OpeningHours,
		Location: &node.Location{Lat: f.Location.Lat, Lon: f.Location.Lon}}
	for _, c := range f.Contacts {
		p.Contacts = append(p.Contacts, node.Contact{Label: c.Label, Phone: c.Phone})
	}
	return p
}

// prepareNode makes a node's data directory ready: its configuration file,
// broker credentials, the demo account, its certificate, and on the first
// run a little content. It returns the certificate's fingerprint.
func prepareNode(ctx context.Context, n site, all []Point, password, usersFile string) (string, error) {
	if err := os.MkdirAll(n.data, 0o700); err != nil {
		return "", err
	}
	file := pointFile{Name: n.Name, Municipality: n.Municipality, OpeningHours: openingHours,
		Location: location{n.Lat, n.Lon},
		Contacts: []contact{{"Trygghetspunkten", n.Phone}, {"Kommunens växel", switchboard[n.Municipality]}}}
	for _, o := range all {
		if o.ID != n.ID && o.Municipality == n.Municipality {
			file.Nearby = append(file.Nearby, portal.Nearby{Name: o.Name, Where: o.Where, Phone: o.Phone})
		}
	}
	var b bytes.Buffer
	b.WriteString("# Written by safepoint demo on every start: the point's public facts.\n")
	if err := toml.NewEncoder(&b).Encode(file); err != nil {
		return "", err
	}
	if err := writeIfChanged(filepath.Join(n.data, "demo.toml"), b.Bytes()); err != nil {
		return "", err
	}

	mqttPassword, err := secretFile(filepath.Join(n.data, "mqtt-password"))
	if err != nil {
		return "", err
	}
	if err := broker.WriteNodeEntry(usersFile, n.ID, n.Municipality, mqttPassword); err != nil {
		return "", err
	}

	db := filepath.Join(n.data, eventlog.FileName)
	log, err := eventlog.Open(ctx, db, eventlog.Options{Origin: n.ID, Personal: true})
	if err != nil {
		return "", err
	}
	staff, err := accounts.Open(ctx, db, log.Clock().Wall)
	if err == nil {
		err = seed(ctx, log, staff, file.point(), crew(n.ID), password)
		err = errors.Join(err, staff.Close())
	}
	if cerr := log.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return cert(n.data)
}

// rosters are the points' staff, made up: two on duty and one resting at
// each. A roster's names are in its events by design, like a paper roster
// on the wall; they are never in a log line.
var rosters = [][]node.RosterChanged{
	{{Person: "Karin Lindqvist", Role: "stabschef", OnDuty: true}, {Person: "Erik Mattsson", Role: "värd", OnDuty: true},
		{Person: "Sofia Olsson", Role: "sjukvård"}},
	{{Person: "Lars Persson", Role: "stabschef", OnDuty: true}, {Person: "Maria Jonsson", Role: "logistik", OnDuty: true},
		{Person: "Ahmed Hassan", Role: "värd"}},
	{{Person: "Eva Nilsson", Role: "stabschef", OnDuty: true}, {Person: "Johan Berg", Role: "teknik", OnDuty: true},
		{Person: "Anna Ek", Role: "information"}},
}

// crew is the roster of the point with that id: each point its own.
func crew(id string) []node.RosterChanged {
	i := max(slices.IndexFunc(Points, func(p Point) bool { return p.ID == id }), 0)
	return rosters[i%len(rosters)]
}

// stock is each point's first count, fuel for the generator among it.
var stock = []node.InventoryChanged{
	{Item: node.FuelItem, Quantity: 40, Unit: "l", Low: 10},
	{Item: "dricksvatten", Quantity: 300, Unit: "l", Low: 50},
	{Item: "filtar", Quantity: 25, Unit: "st", Low: 5},
}

// seed configures the point as the node will, makes the demo account,
// writes roster when the point has none, readies the point for this run's
// story (replay), and on a fresh log sets the services, counts the stock
// and publishes one announcement, as staff would on the board.
func seed(ctx context.Context, log *eventlog.Log, staff *accounts.Accounts, p node.Point, roster []node.RosterChanged, password string) error {
	if _, _, err := node.ConfigurePoint(ctx, log, p); err != nil {
		return err
	}
	if err := ensureAccount(ctx, staff, password); err != nil {
		return err
	}
	v := log.State().View()
	if len(v.Roster) == 0 {
		for _, r := range roster {
			r.By = User
			if _, err := log.Append(ctx, node.Draft{Type: node.TypeRosterChanged, Payload: r}); err != nil {
				return err
			}
		}
	}
	if err := replay(ctx, log); err != nil {
		return err
	}
	seeded := len(v.Announcements) > 0
	for _, s := range v.Services {
		seeded = seeded || s.Status != node.ServiceUnknown
	}
	if seeded {
		return nil
	}
	services := []node.ServiceChanged{
		{Service: "warmth", Status: node.ServiceOpen, Note: "Stora salen är uppvärmd"},
		{Service: "charging", Status: node.ServiceOpen, Note: "Ta med egen sladd"},
		{Service: "water", Status: node.ServiceLimited, Note: "Dricksvatten i dunk, 10 liter per hushåll"},
		{Service: "toilets", Status: node.ServiceOpen},
		{Service: "information", Status: node.ServiceOpen},
		{Service: "wifi", Status: node.ServiceOpen, Note: "Nätet Trygghetspunkt, utan lösenord"},
		{Service: "first_aid", Status: node.ServiceClosed, Note: "Ring 112 vid fara för liv"},
	}
	for _, s := range services {
		s.By = User
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeServiceChanged, Payload: s}); err != nil {
			return err
		}
	}
	for _, item := range stock {
		item.By = User
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeInventoryChanged, Payload: item}); err != nil {
			return err
		}
	}
	a := node.Announcement{ID: node.NewID(), Severity: "warning", Source: "node:" + log.Origin(), By: User,
		Title: map[string]string{
			"sv": "Stormvarning: håll dig inomhus i kväll",
			"en": "Storm warning: stay indoors tonight",
		},
		Body: map[string]string{
			"sv": "SMHI varnar för storm med orkanbyar i kväll och i natt. Undvik skogsvägar: träd kan falla. " +
				"Elen kan vara borta i flera dygn. Här finns värme, laddning och vatten.",
			"en": "Storm with hurricane-force gusts tonight. Avoid forest roads: trees may fall. " +
				"Power may be out for days. Warmth, charging and water here.",
		}}
	_, err := log.Append(ctx, node.Draft{Type: node.TypeAnnouncementPublished, Payload: a})
	return err
}

// replay readies a point for the story on a later run of the demo: the
// needs the last run's story left open are resolved and the stock it ran
// low is counted full again, as staff would between two storms, so that
// central sees each run's story from the same start. Check-ins stay: a
// household does not check out, so each run adds its households.
func replay(ctx context.Context, log *eventlog.Log) error {
	told := map[string]bool{}
	for _, b := range story {
		if b.report != nil {
			told[b.report.Text] = true
		}
	}
	for _, r := range log.State().View().Reports {
		if !told[r.Text] || r.Status == node.ReportResolved {
			continue
		}
		p := node.ReportStatusChanged{ID: r.ID, Status: node.ReportResolved, By: User}
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeReportStatusChanged, Payload: p}); err != nil {
			return err
		}
	}
	for _, b := range story {
		if b.stock == nil {
			continue
		}
		now, ok := log.State().Stock(b.stock.Item)
		i := slices.IndexFunc(stock, func(s node.InventoryChanged) bool { return s.Item == b.stock.Item })
		if !ok || !now.IsLow || i < 0 {
			continue
		}
		full := stock[i]
		full.By = User
		if _, err := log.Append(ctx, node.Draft{Type: node.TypeInventoryChanged, Payload: full}); err != nil {
			return err
		}
	}
	return nil
}
