package synctest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
	"github.com/safepoint-se/safepoint/sync/link"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// pictures holds central's picture for each central log OpenLog opened.
var pictures sync.Map // *eventlog.Log → *picture.Picture

// OpenLog opens an event log of origin in dir (on clock, or the system's
// when nil), closed when the test ends. Central's (origin wire.Central)
// folds into a situation picture, as safepoint central composes it:
// PictureOf finds it.
func OpenLog(t testing.TB, dir, origin string, clock *node.Clock) *eventlog.Log {
	t.Helper()
	// A node's log keeps personal data beside it; central's never does.
	opts := eventlog.Options{Origin: origin, Clock: clock, Personal: origin != wire.Central}
	var pic *picture.Picture
	if origin == wire.Central {
		pic = picture.New(picture.Options{Self: origin, Logger: Logger(t, "picture")})
		opts.Folder = pic
	}
	l, err := eventlog.Open(context.Background(), filepath.Join(dir, eventlog.FileName), opts)
	if err != nil {
		t.Fatal(err)
	}
	if pic != nil {
		pictures.Store(l, pic)
		t.Cleanup(func() { pic.Close(); pictures.Delete(l) })
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// PictureOf is the picture central's log l folds into, nil for a node's.
func PictureOf(l *eventlog.Log) *picture.Picture {
	p, _ := pictures.Load(l)
	pic, _ := p.(*picture.Picture)
	return pic
}

// Context is a context that ends after d or when the test does: a bound
// on a sync test whose peers might hang.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// StartCentral starts central's side of a sync test: a mosquitto, central's
// event log in dir (on clock, or the system's when nil) and its receiver on
// that mosquitto until the test ends.
func StartCentral(t testing.TB, ctx context.Context, dir string, clock *node.Clock) (*Mosquitto, *eventlog.Log, *central.Receiver) {
	t.Helper()
	mq := StartMosquitto(t)
	clog := OpenLog(t, dir, wire.Central, clock)
	return mq, clog, RunCentral(t, ctx, central.Opts{Broker: mq.URL(), Log: clog})
}

// Events is every event of r, in log order.
func Events(t testing.TB, r *eventlog.Reader) []node.Event {
	t.Helper()
	var out []node.Event
	if err := r.Events(context.Background(), func(e node.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Report is a new resident's report saying text.
func Report(text string) node.Draft {
	return node.Draft{Type: node.TypeReportCreated, Payload: node.ReportCreated{ID: node.NewID(),
		Receipt: node.NewCode(node.ReceiptLen), Category: "road", Text: text, Urgency: "normal"}}
}

// OpenAccounts opens the account store in l's database until the test
// ends.
func OpenAccounts(t testing.TB, l *eventlog.Log) *accounts.Accounts {
	t.Helper()
	a, err := accounts.Open(context.Background(), l.File(), l.Clock().Wall)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// OpenStore opens central's store in l's database until the test ends.
func OpenStore(t testing.TB, l *eventlog.Log) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), l.File())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RunCentral runs a central receiver until the test ends; its log goes to
// the test's output if the test fails.
func RunCentral(t testing.TB, ctx context.Context, opts central.Opts) *central.Receiver {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = Logger(t, "central")
	}
	if opts.Store == nil {
		opts.Store = OpenStore(t, opts.Log)
	}
	if opts.Picture == nil {
		opts.Picture = PictureOf(opts.Log) // one picture, as safepoint central composes it
	}
	r, err := central.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := runUntil(t, ctx, "central", func(ctx context.Context) { r.Run(ctx) })
	t.Cleanup(stop)
	return r
}

// RunLink runs a node's link until the test ends or stop is called.
func RunLink(t testing.TB, ctx context.Context, opts link.Opts) (l *link.Link, stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = Logger(t, "link "+opts.Log.Origin())
	}
	l, err := link.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	stop = runUntil(t, ctx, "link "+opts.Log.Origin(), func(ctx context.Context) { l.Run(ctx) })
	t.Cleanup(stop)
	return l, stop
}

// runUntil runs fn in a goroutine; stop cancels it and waits up to 10 s.
func runUntil(t testing.TB, ctx context.Context, name string, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { fn(ctx); close(done) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop within 10 s", name)
			}
		})
	}
}
