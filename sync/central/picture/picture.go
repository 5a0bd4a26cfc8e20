// Package picture is central's situation picture (lägesbild): every
// point's events folded into that point's own node.State with the node's
// own fold, so central sees each point as the point sees itself. It
// summarises each point with the time every figure was known, lists the
// needs across points and raises the alerts staff must act on.
//
// The folded states are written out now and then (point_snapshots, its
// own migration chain), so a start folds only what came after.
package picture

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
)

//go:embed migrations/*.sql
var migrations embed.FS

var steps = sqlitedb.MustSteps(migrations, "migrations")

// Options configure a Picture. Zero fields mean defaults.
type Options struct {
	// Self is central's own origin: its events (alert acknowledgements)
	// are central's, not a point's.
	Self string
	// Now is the wall clock alerts are judged by; time.Now by default.
	Now func() time.Time
	// SaveEvery is how often changed points are written out (2 min).
	SaveEvery time.Duration
	// SilentAfter: an activated point not heard from this long raises an
	// alert (15 min).
	SilentAfter time.Duration
	// Recent reads a point's latest events for its timeline; nil gives
	// none.
	Recent func(ctx context.Context, origin string, n int) ([]node.Event, error)
	Logger *slog.Logger
}

// Picture is the fold of every point. Open it, hand it to the event log
// as its Folder (the log calls Resume, then folds what the snapshots do
// not hold), run Run, and Close it last.
type Picture struct {
	opts Options
	w, r *sql.DB // nil until Resume

	mu     sync.RWMutex
	points map[string]*point
	self   *point

	changeMu sync.Mutex
	changed  chan struct{}
	version  atomic.Uint64
}

// point is one origin's fold and what central knows of its link.
type point struct {
	st    *node.State
	held  uint64              // every seq 1..held is folded in
	ahead map[uint64]struct{} // folded seqs above held+1
	down  uint64              // downlink stream 1..down folded in
	last  node.HLC            // the greatest HLC of the origin's own events
	dirty bool                // changed since last written out

	heard        time.Time // last message from the node; zero when unknown
	online       bool
	backlog      uint64
	municipality string      // the topic's, which the broker's ACL vouches for
	sent         *Activation // the latest activation central sent, delivered or not

	foldVer, linkVer uint64 // bumped by each fold, each link change
	cache            summaryCache
}

// New makes an empty picture.
func New(opts Options) *Picture {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 2 * time.Minute
	}
	if opts.SilentAfter <= 0 {
		opts.SilentAfter = 15 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Picture{opts: opts, points: map[string]*point{}, changed: make(chan struct{})}
	p.self = newPoint(node.NewState())
	return p
}

func newPoint(st *node.State) *point {
	return &point{st: st, ahead: map[uint64]struct{}{}, foldVer: 1}
}

// Resume opens the picture's table in the database at file and restores
// every point written out there; the event log calls it once, at Open,
// and folds every event above what it returns. A snapshot of other fold
// rules is dropped: that point is folded again from its first event.
func (p *Picture) Resume(ctx context.Context, file string) (map[string]uint64, error) {
	w, r, err := sqlitedb.OpenOwner(ctx, file, "picture", steps, 4)
	if err != nil {
		return nil, fmt.Errorf("picture: %w", err)
	}
	p.w, p.r = w, r
	rows, err := r.QueryContext(ctx, `SELECT origin, version, held, down, heard_at, last_own, state FROM point_snapshots`)
	if err != nil {
		return nil, fmt.Errorf("picture: %w", err)
	}
	defer rows.Close()
	// Rows are read in one statement and decoded on every core: decoding
	// is most of a start's work.
	type restored struct {
		origin string
		pt     *point
	}
	jobs, out := make(chan snapRow, 64), make(chan restored, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				st, err := node.RestoreState(r.state)
				if err != nil {
					out <- restored{origin: r.origin} // folded again from the log: nothing is lost but time
					continue
				}
				pt := newPoint(st)
				pt.held, pt.down, pt.last = uint64(r.held), uint64(r.down), node.HLC(r.last)
				if r.heard.Valid {
					pt.heard = time.UnixMilli(r.heard.Int64).UTC()
				}
				out <- restored{r.origin, pt}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()
	var scanErr error
	go func() {
		defer close(jobs)
		for rows.Next() {
			var r snapRow
			var version string
			if scanErr = rows.Scan(&r.origin, &version, &r.held, &r.down, &r.heard, &r.last, &r.state); scanErr != nil {
				return
			}
			jobs <- r
		}
		scanErr = rows.Err()
	}()
	held := map[string]uint64{}
	p.mu.Lock()
	defer p.mu.Unlock()
	stale := 0
	for r := range out {
		switch {
		case r.pt == nil:
			stale++
		case r.origin == p.opts.Self:
			p.self = r.pt
			held[r.origin] = r.pt.held
		default:
			p.points[r.origin] = r.pt
			held[r.origin] = r.pt.held
		}
	}
	if scanErr != nil {
		return nil, fmt.Errorf("picture: %w", scanErr)
	}
	if stale > 0 {
		p.opts.Logger.Info("Picture snapshots of other fold rules: folding those points again", "points", stale)
	}
	return held, nil
}

// snapRow is one point_snapshots row.
type snapRow struct {
	origin           string
	held, down, last int64
	heard            sql.NullInt64
	state            []byte
}

// Warm works out every point's summary now, on every core, so the first
// reader after a start does not wait for a thousand of them.
func (p *Picture) Warm() {
	p.mu.RLock()
	ids := make([]string, 0, len(p.points))
	pts := make([]*point, 0, len(p.points))
	for id, pt := range p.points {
		ids, pts = append(ids, id), append(pts, pt)
	}
	p.mu.RUnlock()
	now := p.opts.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(ids); i = int(next.Add(1)) - 1 {
				p.summary(ids[i], pts[i], now)
			}
		}()
	}
	wg.Wait()
}

// pointLocked is origin's point, made if new.
func (p *Picture) pointLocked(origin string) *point {
	if origin == p.opts.Self {
		return p.self
	}
	pt := p.points[origin]
	if pt == nil {
		pt = newPoint(node.NewState())
		p.points[origin] = pt
	}
	return pt
}

// Fold takes events of any origins: each goes into its point's state,
// central's own into central's.
func (p *Picture) Fold(events ...node.Event) {
	if len(events) == 0 {
		return
	}
	p.mu.Lock()
	for i := 0; i < len(events); {
		// Events come grouped by origin (a batch, a log scan): fold each
		// run at once.
		j := i + 1
		for j < len(events) && events[j].Origin == events[i].Origin {
			j++
		}
		pt := p.pointLocked(events[i].Origin)
		pt.st.Fold(events[i:j]...)
		for _, e := range events[i:j] {
			pt.advance(e.Seq)
			pt.last = max(pt.last, e.HLC)
		}
		pt.dirty = true
		pt.foldVer++
		i = j
	}
	p.mu.Unlock()
	p.signal()
}

// advance notes seq as folded.
func (pt *point) advance(seq uint64) {
	switch {
	case seq <= pt.held:
	case seq == pt.held+1:
		pt.held++
		for {
			if _, ok := pt.ahead[pt.held+1]; !ok {
				break
			}
			delete(pt.ahead, pt.held+1)
			pt.held++
		}
	default:
		pt.ahead[seq] = struct{}{}
	}
}

// FoldDown folds entries of node id's downlink stream (central's
// directives as that node holds them: origin central, the stream's seqs)
// that the node has acknowledged, up to seq upto, so central's view of a
// point is the point's own.
func (p *Picture) FoldDown(id string, events []node.Event, upto uint64) {
	p.mu.Lock()
	pt := p.pointLocked(id)
	if len(events) > 0 {
		pt.st.Fold(events...)
		pt.foldVer++
	}
	if upto > pt.down {
		pt.down, pt.dirty = upto, true
	}
	p.mu.Unlock()
	p.signal()
}

// Down is how far node id's downlink stream is folded in.
func (p *Picture) Down(id string) uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if pt := p.points[id]; pt != nil {
		return pt.down
	}
	return 0
}

// Link is what central's receiver knows of a node's link.
type Link struct {
	// Municipality is the one in the node's topics: the broker lets a
	// node use only its own, so it outranks what the node's configuration
	// says of itself, and a scope is judged by it.
	Municipality string
	Heard        time.Time // zero: nothing heard since central started
	Online       bool
	Backlog      uint64 // events the node holds that central has not
}

// Heard records what the receiver knows of node id's link.
func (p *Picture) Heard(id string, l Link) {
	p.mu.Lock()
	pt := p.pointLocked(id)
	if l.Heard.After(pt.heard) {
		pt.heard = l.Heard
	}
	pt.online, pt.backlog = l.Online, l.Backlog
	if l.Municipality != "" {
		pt.municipality = l.Municipality
	}
	pt.linkVer++
	p.mu.Unlock()
	p.signal()
}

// Sent records an activation central has put in node id's downlink
// stream (e, a point.activation as the stream carries it), delivered or
// not: a point the municipality activated that never heard of it, because
// it went silent first, is still a point that should be running.
func (p *Picture) Sent(id string, e node.Event) {
	var a node.PointActivation
	if e.Type != node.TypePointActivation || json.Unmarshal(e.Payload, &a) != nil || !node.ValidActivation(a.State) {
		return
	}
	p.mu.Lock()
	pt := p.pointLocked(id)
	if at := e.HLC.Time(); pt.sent == nil || at.After(pt.sent.At) {
		pt.sent = &Activation{State: a.State, Note: a.Note, At: at}
		pt.linkVer++
	}
	p.mu.Unlock()
	p.signal()
}

func (p *Picture) signal() {
	p.version.Add(1)
	p.changeMu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.changeMu.Unlock()
}

// Changed returns a channel closed at the next change: a reader waits on
// it, reads the picture, and asks for a new channel.
func (p *Picture) Changed() <-chan struct{} {
	p.changeMu.Lock()
	defer p.changeMu.Unlock()
	return p.changed
}

// Now is the time the picture judges alerts and silence by.
func (p *Picture) Now() time.Time { return p.opts.Now() }

// Version counts changes: a cache of a view may key on it.
func (p *Picture) Version() uint64 { return p.version.Load() }

// View is point id's whole fold, as the node's own State.View gives it.
func (p *Picture) View(id string) (node.View, bool) {
	p.mu.RLock()
	pt := p.points[id]
	p.mu.RUnlock()
	if pt == nil {
		return node.View{}, false
	}
	return pt.st.View(), true
}

// Acknowledged is central's acknowledgement of alert id, if any.
func (p *Picture) Acknowledged(id string) (node.AlertAck, bool) {
	p.mu.RLock()
	self := p.self
	p.mu.RUnlock()
	return self.st.Acknowledged(id)
}

// Run writes changed points out every SaveEvery until ctx ends.
func (p *Picture) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.SaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.Save(ctx); err != nil {
				p.opts.Logger.Error("Writing the picture out failed", "err", err)
			}
		}
	}
}

// Save writes every changed point out, in one transaction.
func (p *Picture) Save(ctx context.Context) error {
	if p.w == nil {
		return nil
	}
	type row struct {
		origin      string
		held, down  uint64
		last        node.HLC
		heard       sql.NullInt64
		state       []byte
		pt          *point
		foldVersion uint64
	}
	var out []row
	p.mu.RLock()
	all := make(map[string]*point, len(p.points)+1)
	for id, pt := range p.points {
		all[id] = pt
	}
	all[p.opts.Self] = p.self
	p.mu.RUnlock()
	for id, pt := range all {
		// One point at a time under the lock: ingest waits for one
		// point's encoding at most, never for the whole picture's.
		p.mu.RLock()
		if !pt.dirty {
			p.mu.RUnlock()
			continue
		}
		b, err := pt.st.Snapshot()
		r := row{origin: id, held: pt.held, down: pt.down, last: pt.last, state: b, pt: pt, foldVersion: pt.foldVer}
		if !pt.heard.IsZero() {
			r.heard = sql.NullInt64{Int64: pt.heard.UnixMilli(), Valid: true}
		}
		p.mu.RUnlock()
		if err != nil {
			return fmt.Errorf("picture: %w", err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	tx, err := p.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("picture: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO point_snapshots (origin, version, held, down, heard_at, last_own, state, saved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET version = excluded.version,
		held = excluded.held, down = excluded.down, heard_at = excluded.heard_at, last_own = excluded.last_own,
		state = excluded.state, saved_at = excluded.saved_at`)
	if err != nil {
		return fmt.Errorf("picture: %w", err)
	}
	now := time.Now().UnixMilli()
	for _, r := range out {
		if _, err := stmt.ExecContext(ctx, r.origin, node.FoldVersion, int64(r.held), int64(r.down), r.heard, int64(r.last), r.state, now); err != nil {
			return fmt.Errorf("picture: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("picture: %w", err)
	}
	p.mu.Lock()
	for _, r := range out {
		if r.pt.foldVer == r.foldVersion {
			r.pt.dirty = false // folded no further while it was written
		}
	}
	p.mu.Unlock()
	return nil
}

// Close writes changed points out and closes the picture's connections.
func (p *Picture) Close() error {
	if p.w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.Save(ctx)
	return errors.Join(err, p.r.Close(), p.w.Close())
}
