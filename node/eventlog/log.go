package eventlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
)

// FileName is the event log's file inside the data directory.
const FileName = "safepoint.db"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("event log closed")

// ErrOriginMismatch means the log on disk belongs to another origin than the
// one asked for: a log's origin never changes, or its seqs would collide.
var ErrOriginMismatch = errors.New("event log belongs to another origin")

// Options configure Open. Zero fields mean defaults.
type Options struct {
	// Origin names this log's own stream. When empty, the stored origin
	// is used; a log that has none yet takes one from NewOrigin.
	Origin string
	// NewOrigin makes up an origin for a log that has none: a first start
	// without a configured id, or one cut short before it wrote its origin.
	NewOrigin func() string
	// Clock hands out HLC timestamps; a clock on time.Now by default.
	Clock *node.Clock
	// MaxBatch bounds how many concurrent appends share one transaction
	// (group commit); 64 by default, 1 turns group commit off.
	MaxBatch int
	// Personal keeps residents' personal data beside the log: a node's
	// log does, central's never (its database has no such table, and an
	// append with personal data is refused).
	Personal bool
	// Folder takes the log's events, the stored ones at Open and each
	// commit after; a new node.State by default. Central's is its
	// situation picture, a State per point.
	Folder Folder
}

// Folder is what takes the log's events: a node.State, or central's
// picture of every point.
type Folder interface {
	Fold(events ...node.Event)
}

// Resumer is a Folder that can start already holding, for each origin,
// every event up to a seq (central's picture, restored from what it wrote
// out): Open calls Resume once with the log's database file, after the
// log's own migrations, and then folds only the events above what it
// returns, and every event of other origins.
type Resumer interface {
	Folder
	Resume(ctx context.Context, file string) (map[string]uint64, error)
}

// openFoldChunk is how many stored events Open folds at a time.
const openFoldChunk = 4096

// ErrNoPersonal refuses personal data in a log that keeps none.
var ErrNoPersonal = errors.New("event log: this log keeps no personal data")

type appendReq struct {
	key         string
	typ         string
	occurredAt  *time.Time
	payload     []byte
	personal    node.Personal
	personalKey string
	reply       chan appendResult
}

type appendResult struct {
	ev  node.Event
	err error
}

// written is an event a batch produced, and whether this append wrote it
// (rather than finding it by its idempotency key).
type written struct {
	ev    node.Event
	fresh bool
}

// Log is the node's append-only event log in SQLite, and the fold of it
// kept in memory. One writer goroutine owns all appends: appends that
// arrive while a commit is under way share the next transaction (group
// commit), so throughput does not collapse under synchronous=FULL.
type Log struct {
	Reader
	w        *sql.DB
	file     string
	origin   string
	clock    *node.Clock
	state    *node.State // the default folder; nil when Options.Folder is set
	folder   Folder
	maxBatch int

	reqs     chan *appendReq
	probes   chan probeReq
	stop     chan struct{}
	done     chan struct{}
	seq      uint64 // last seq of our own origin; owned by the writer after Open
	personal bool

	closeOnce sync.Once
	closeErr  error

	failMu  sync.Mutex
	failing error // the last commit's error, until a commit succeeds

	headMu sync.Mutex
	head   uint64 // l.seq as readers may see it

	// What the log has stored since it opened: its own events appended
	// and other origins' events ingested (never one found by its
	// idempotency key, never a duplicate). The metrics read them.
	appended, ingested atomic.Uint64
}

// probeReq asks the writer to show it can still write.
type probeReq struct {
	ctx   context.Context
	reply chan error // buffered: the writer never waits on the asker
}

// Open opens (creating if needed) the log at file, applies migrations,
// folds every stored event into memory and starts the writer.
func Open(ctx context.Context, file string, opts Options) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	w, err := sqlitedb.OpenWriter(file)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	l := &Log{w: w, file: file, clock: opts.Clock, folder: opts.Folder, maxBatch: opts.MaxBatch, personal: opts.Personal}
	if l.folder == nil {
		l.state = node.NewState()
		l.folder = l.state
	}
	if l.clock == nil {
		l.clock = node.NewClock(nil)
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 64
	}
	if err := l.init(ctx, file, opts.Origin, opts.NewOrigin); err != nil {
		w.Close()
		if l.Reader.db != nil {
			l.Reader.db.Close()
		}
		return nil, err
	}
	l.reqs, l.probes = make(chan *appendReq), make(chan probeReq)
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.writer()
	return l, nil
}

func (l *Log) init(ctx context.Context, file, origin string, newOrigin func() string) error {
	if err := sqlitedb.Migrate(ctx, l.w, "log", logSteps); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if l.personal {
		if err := sqlitedb.Migrate(ctx, l.w, "personal", personalSteps); err != nil {
			return fmt.Errorf("event log: %w", err)
		}
	}
	var stored string
	err := l.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'origin'`).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if origin == "" && newOrigin != nil {
			origin = newOrigin()
		}
		if origin == "" {
			return errors.New("event log: new log needs an origin")
		}
		if _, err := l.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('origin', ?), ('created', ?)`,
			origin, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("event log: write origin: %w", err)
		}
		stored = origin
	case err != nil:
		return fmt.Errorf("event log: read origin: %w", err)
	case origin != "" && origin != stored:
		return fmt.Errorf("%w: %s holds %q, asked for %q", ErrOriginMismatch, file, stored, origin)
	}
	l.origin = stored

	if err := l.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE origin = ?`, l.origin).Scan(&l.seq); err != nil {
		return fmt.Errorf("event log: read seq: %w", err)
	}
	l.head = l.seq
	var maxOwn, maxOther int64
	if err := l.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(CASE WHEN origin = ?1 THEN hlc END), 0),
		COALESCE(MAX(CASE WHEN origin != ?1 THEN hlc END), 0) FROM events`, l.origin).Scan(&maxOwn, &maxOther); err != nil {
		return fmt.Errorf("event log: read hlc: %w", err)
	}
	// After a restart on a box whose clock went back to 1970, timestamps
	// continue from the log, never below its own; a peer's, as when they
	// arrived (ObserveRemote).
	l.clock.Observe(node.HLC(maxOwn))
	l.clock.ObserveRemote(node.HLC(maxOther))

	r, err := sqlitedb.Open(file, true)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	r.SetMaxOpenConns(4)
	l.Reader = Reader{r}
	return l.foldStored(ctx)
}

// foldStored folds the stored events into the folder, a chunk at a time;
// a Resumer only those above what it holds.
func (l *Log) foldStored(ctx context.Context) error {
	chunk := make([]node.Event, 0, openFoldChunk)
	add := func(e node.Event) error {
		if chunk = append(chunk, e); len(chunk) == openFoldChunk {
			l.folder.Fold(chunk...)
			chunk = chunk[:0]
		}
		return nil
	}
	res, ok := l.folder.(Resumer)
	if !ok {
		if err := l.Reader.Events(ctx, add); err != nil {
			return err
		}
		l.folder.Fold(chunk...)
		return nil
	}
	held, err := res.Resume(ctx, l.file)
	if err != nil {
		return err
	}
	origins, err := l.Reader.origins(ctx)
	if err != nil {
		return err
	}
	for _, o := range origins {
		if err := scanEvents(ctx, l.Reader.db, selectEvents+` WHERE origin = ? AND seq > ? ORDER BY seq`, add, o, int64(held[o])); err != nil {
			return err
		}
	}
	l.folder.Fold(chunk...)
	return nil
}

// File is the database file the log lives in; the other stores of the
// point (accounts, the power history, central's store) open the same one.
func (l *Log) File() string { return l.file }

// Origin is the log's own origin.
func (l *Log) Origin() string { return l.origin }

// Clock is the clock the log stamps events with.
func (l *Log) Clock() *node.Clock { return l.clock }

// State is the in-memory fold of the log; nil when the log folds into
// another Folder (Options.Folder).
func (l *Log) State() *node.State { return l.state }

// Append writes one event durably and folds it in. When it returns without
// error the event is on disk (synchronous=FULL, committed). The context only
// bounds the wait to be taken into the writer's queue: once taken, the
// append completes, and its result is reported.
func (l *Log) Append(ctx context.Context, d node.Draft) (node.Event, error) {
	if d.Type == "" {
		return node.Event{}, errors.New("event log: append: empty type")
	}
	payload, err := json.Marshal(d.Payload)
	if err != nil {
		return node.Event{}, fmt.Errorf("event log: append %s: %w", d.Type, err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return node.Event{}, fmt.Errorf("event log: append %s: payload must be a JSON object", d.Type)
	}
	if !d.Personal.Empty() && !l.personal {
		return node.Event{}, ErrNoPersonal
	}
	if !d.Personal.Empty() && d.PersonalKey == "" {
		return node.Event{}, fmt.Errorf("event log: append %s: personal data without a key", d.Type)
	}
	req := &appendReq{key: d.Key, typ: d.Type, occurredAt: d.OccurredAt, payload: payload,
		personal: d.Personal, personalKey: d.PersonalKey, reply: make(chan appendResult, 1)}
	select {
	case l.reqs <- req:
	case <-l.done:
		return node.Event{}, ErrClosed
	case <-ctx.Done():
		return node.Event{}, ctx.Err()
	}
	res := <-req.reply
	return res.ev, res.err
}

func (l *Log) writer() {
	defer close(l.done)
	batch := make([]*appendReq, 0, l.maxBatch)
	for {
		select {
		case <-l.stop:
			return
		case p := <-l.probes:
			p.reply <- l.probe(p.ctx)
			continue
		case req := <-l.reqs:
			batch = append(batch[:0], req)
		}
	drain:
		for len(batch) < l.maxBatch {
			select {
			case req := <-l.reqs:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		events, err := l.commit(batch)
		if err != nil && len(batch) > 1 {
			// One bad draft must not fail the others: retry them alone.
			for _, req := range batch {
				evs, err := l.commit([]*appendReq{req})
				l.finish([]*appendReq{req}, evs, err)
			}
			continue
		}
		l.finish(batch, events, err)
	}
}

// commit writes batch in one transaction. On error nothing was written and
// the seq counter is unchanged.
func (l *Log) commit(batch []*appendReq) ([]written, error) {
	ctx := context.Background() // an append taken into a batch is finished, not abandoned
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("event log: begin: %w", err)
	}
	defer tx.Rollback()
	events := make([]written, len(batch))
	seq := l.seq
	plausible := l.clock.Plausible()
	for i, req := range batch {
		if req.key != "" {
			prior, found, err := l.priorEvent(ctx, tx, req.key)
			if err != nil {
				return nil, err
			}
			if found {
				events[i] = written{ev: prior}
				continue
			}
		}
		seq++
		e := node.Event{Origin: l.origin, Seq: seq, HLC: l.clock.Now(), Type: req.typ,
			OccurredAt: req.occurredAt, Payload: req.payload}
		if e.OccurredAt == nil && plausible {
			t := l.clock.Wall().UTC().Truncate(time.Millisecond)
			e.OccurredAt = &t
		}
		var occurred sql.NullInt64
		if e.OccurredAt != nil {
			occurred = sql.NullInt64{Int64: e.OccurredAt.UnixMilli(), Valid: true}
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO events (origin, seq, hlc, type, occurred_at, payload) VALUES (?, ?, ?, ?, ?, ?)`,
			e.Origin, int64(e.Seq), int64(e.HLC), e.Type, occurred, []byte(e.Payload)); err != nil {
			return nil, fmt.Errorf("event log: insert %s: %w", e.Type, err)
		}
		if !req.personal.Empty() {
			p := req.personal
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO personal (checkin_id, name, contact, details, recorded_at) VALUES (?, ?, ?, ?, ?)`,
				req.personalKey, p.Name, p.Contact, p.Details, int64(e.HLC)); err != nil {
				return nil, fmt.Errorf("event log: insert personal data: %w", err)
			}
		}
		if req.key != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency (key, seq, created_at) VALUES (?, ?, ?)`,
				req.key, int64(e.Seq), l.clock.Wall().UnixMilli()); err != nil {
				return nil, fmt.Errorf("event log: insert idempotency key: %w", err)
			}
		}
		events[i] = written{ev: e, fresh: true}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("event log: commit: %w", err)
	}
	l.seq = seq
	l.headMu.Lock()
	l.head = seq
	l.headMu.Unlock()
	return events, nil
}

// Probe shows that the log can still write, without writing: a round trip
// through the writer goroutine, which takes SQLite's write lock and lets it
// go (BEGIN IMMEDIATE, ROLLBACK; nothing reaches the disk). It fails when
// ctx ends first: a writer stuck in a commit, or a database another
// connection keeps locked, cannot answer. The watchdog pings systemd only
// after a probe succeeds.
func (l *Log) Probe(ctx context.Context) error {
	p := probeReq{ctx: ctx, reply: make(chan error, 1)}
	select {
	case l.probes <- p:
	case <-l.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("event log: probe: the writer is busy: %w", context.Cause(ctx))
	}
	select {
	case err := <-p.reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("event log: probe: no write lock: %w", context.Cause(ctx))
	}
}

func (l *Log) probe(ctx context.Context) error {
	tx, err := l.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the writer's DSN)
	if err != nil {
		return fmt.Errorf("event log: probe: %w", err)
	}
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("event log: probe: %w", err)
	}
	return nil
}

// Appended is how many of its own events the log has stored since it
// opened.
func (l *Log) Appended() uint64 { return l.appended.Load() }

// Ingested is how many events of other origins the log has stored since it
// opened (at central: the nodes' events), duplicates not counted.
func (l *Log) Ingested() uint64 { return l.ingested.Load() }

// Healthy reports why the log cannot store, when its last commit failed
// and none has succeeded since; nil while it stores.
func (l *Log) Healthy() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	if l.failing != nil {
		return fmt.Errorf("event log cannot store: %w", l.failing)
	}
	return nil
}

// Changed returns a channel that is closed the next time events are folded
// into the state: a reader waits on it, then takes a new view and a new
// channel. It never blocks the writer, however slow the reader. A log that
// folds into another Folder has no such signal: ask that folder.
func (l *Log) Changed() <-chan struct{} {
	if l.state == nil {
		return nil
	}
	return l.state.Changed()
}

func (l *Log) finish(batch []*appendReq, events []written, err error) {
	l.failMu.Lock()
	l.failing = err
	l.failMu.Unlock()
	var fresh []node.Event
	for i, req := range batch {
		if err != nil {
			req.reply <- appendResult{err: err}
			continue
		}
		if events[i].fresh {
			fresh = append(fresh, events[i].ev)
		}
	}
	if err != nil {
		return
	}
	l.appended.Add(uint64(len(fresh)))
	// Folded before anyone hears of the append: a caller that reads the
	// state after Append returns sees its own event.
	l.folder.Fold(fresh...)
	for i, req := range batch {
		req.reply <- appendResult{ev: events[i].ev}
	}
}

// priorEvent finds the event an idempotency key already made.
func (l *Log) priorEvent(ctx context.Context, tx *sql.Tx, key string) (node.Event, bool, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM idempotency WHERE key = ?`, key).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return node.Event{}, false, nil
	}
	if err != nil {
		return node.Event{}, false, fmt.Errorf("event log: idempotency: %w", err)
	}
	var e node.Event
	var occurred sql.NullInt64
	var payload []byte
	err = tx.QueryRowContext(ctx, selectEvents+` WHERE origin = ? AND seq = ?`, l.origin, seq).
		Scan(&e.Origin, &e.Seq, &e.HLC, &e.Type, &occurred, &payload)
	if err != nil {
		return node.Event{}, false, fmt.Errorf("event log: idempotency: event %d: %w", seq, err)
	}
	if occurred.Valid {
		t := unixMilli(occurred.Int64)
		e.OccurredAt = &t
	}
	e.Payload = payload
	return e, true, nil
}

// PurgeKeys deletes idempotency keys older than age, and reports how many.
func (l *Log) PurgeKeys(ctx context.Context, age time.Duration) (int64, error) {
	res, err := l.w.ExecContext(ctx, `DELETE FROM idempotency WHERE created_at < ?`, l.clock.Wall().Add(-age).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("event log: purge keys: %w", err)
	}
	return res.RowsAffected()
}

// LastSeq is the last seq of the log's own origin.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := l.Reader.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE origin = ?`, l.origin).Scan(&seq)
	return seq, err
}

// Close stops the writer after the batch under way and closes the database.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		// Fold the WAL back into the database so that the file alone is a
		// complete copy, then close the readers before the writer: the
		// last connection to close removes the WAL, and a read-only one
		// cannot.
		_, cerr := l.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		l.closeErr = errors.Join(cerr, l.Reader.db.Close(), l.w.Close())
	})
	return l.closeErr
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
