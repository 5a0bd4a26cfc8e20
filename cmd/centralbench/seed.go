package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/safepoint-se/safepoint/internal/proctest"
	"github.com/safepoint-se/safepoint/internal/sqlitedb"
	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/sync/central/store"
)

// The staff account and the nodes' broker password of a seeded directory.
const (
	account        = "bench"
	staffPassword  = "centralbench-staff"
	brokerPassword = "centralbench-node"
)

// seedInfo is what seeding a directory took; it is written beside the
// directory last, so a directory without it is an interrupted seeding.
type seedInfo struct {
	Version     int            `json:"version"`
	FoldVersion string         `json:"fold_version"`
	Points      int            `json:"points"`
	Events      int            `json:"events"`
	At          time.Time      `json:"at"`
	Ingest      time.Duration  `json:"ingest"`   // Register and Ingest, every batch
	Snapshots   time.Duration  `json:"snapshot"` // the picture's Close: writing every point out
	Total       time.Duration  `json:"total"`    // everything, the accounts too (cachedSeed)
	DBBytes     int64          `json:"db_bytes"` // safepoint.db once closed, with its WAL if any (cachedSeed)
	Counts      map[string]int `json:"counts"`
}

// cacheDir is where a seed of these sizes lives under root: the
// generator's version and the fold rules are in its name, so a seed made
// by other code is never reused.
func cacheDir(root string, points, events int) string {
	return filepath.Join(root, fmt.Sprintf("seed-g%d-f%s-s%s-%dx%d", genVersion, node.FoldVersion, selfHash(), points, events))
}

// selfHash is a short hash of this program's own binary: the seed is
// written by the stores compiled into it (their tables, the snapshots'
// format), so another build seeds again.
var selfHash = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	f, err := os.Open(exe)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
})

// cachedSeed returns a seeded directory of these sizes under root, seeding
// it first unless a complete one is there.
func cachedSeed(ctx context.Context, root, bin string, points, events, batch int) (string, seedInfo, bool, error) {
	dir := cacheDir(root, points, events)
	var info seedInfo
	if b, err := os.ReadFile(dir + ".json"); err == nil && json.Unmarshal(b, &info) == nil {
		if _, err := os.Stat(filepath.Join(dir, eventlog.FileName)); err == nil {
			return dir, info, true, nil
		}
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", info, false, err
	}
	os.Remove(dir + ".json")
	if err := os.RemoveAll(dir); err != nil {
		return "", info, false, err
	}
	start := time.Now()
	info, err := seed(ctx, dir, points, events, batch)
	if err == nil {
		// The staff account, as an operator makes it.
		var r proctest.Result
		r, err = proctest.Run(ctx, bin, staffPassword+"\n"+staffPassword+"\n", "user", "add", "--data", dir, "--name", account, "--role", "admin")
		if err == nil && r.Code != 0 {
			err = fmt.Errorf("safepoint user add: %s", r)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", info, false, err
	}
	info.Total, info.DBBytes = time.Since(start), dbBytes(dir)
	b, _ := json.MarshalIndent(info, "", "  ")
	return dir, info, false, os.WriteFile(dir+".json", b, 0o600)
}

// seed writes central's data directory: every point registered for the
// downlink, its events ingested through central's own event log with the
// picture as its folder (the picture's Close writes every point out), and
// a broker account for every point.
func seed(ctx context.Context, dir string, points, events, batch int) (seedInfo, error) {
	info := seedInfo{Version: genVersion, FoldVersion: node.FoldVersion, Points: points, Events: events,
		At: time.Now().UTC(), Counts: map[string]int{}}
	start := time.Now()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return info, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pic := picture.New(picture.Options{Self: "central", Logger: quiet})
	l, err := eventlog.Open(ctx, filepath.Join(dir, eventlog.FileName), eventlog.Options{Origin: "central", Folder: pic})
	if err != nil {
		return info, err
	}
	closed := false
	defer func() {
		if !closed {
			pic.Close()
			l.Close()
		}
	}()
	st, err := store.Open(ctx, l.File())
	if err != nil {
		return info, err
	}
	defer st.Close()
	for i := range points {
		if _, err := st.Register(ctx, pointID(i), municipalityOf(i).code, info.At); err != nil {
			return info, err
		}
	}
	gen := newGenerator(points, events, 50, info.At.Add(-time.Minute))
	buf := make([]node.Event, 0, batch)
	ingested, last := 0, time.Now()
	for {
		buf = gen.batch(buf[:0], batch)
		if len(buf) == 0 {
			break
		}
		added, _, err := l.Ingest(ctx, buf)
		if err != nil {
			return info, err
		}
		if added != len(buf) {
			return info, fmt.Errorf("ingest: %d of %d events new", added, len(buf))
		}
		for _, e := range buf {
			info.Counts[e.Type]++
		}
		ingested += added
		if time.Since(last) > 10*time.Second {
			fmt.Fprintf(os.Stderr, "centralbench: seeding: %s of %s events\n", thousands(ingested), thousands(events))
			last = time.Now()
		}
		if ctx.Err() != nil {
			return info, ctx.Err()
		}
	}
	info.Ingest = time.Since(start)
	t := time.Now()
	if err := pic.Close(); err != nil {
		return info, err
	}
	info.Snapshots = time.Since(t)
	closed = true
	if err := errors.Join(st.Close(), l.Close()); err != nil {
		return info, err
	}

	// Every point's broker account, as `safepoint broker-config --node ID
	// --municipality CODE --embedded DIR` writes it (one argon2id hash
	// each). Central registers each for the downlink at start.
	users := &broker.Users{}
	for i := range points {
		if err := users.Add(pointID(i), broker.RoleNode, municipalityOf(i).code, brokerPassword); err != nil {
			return info, err
		}
	}
	return info, users.Save(filepath.Join(dir, "broker", "users"))
}

// dbBytes is the size of the database in dir, with its WAL and shared
// memory files if any.
func dbBytes(dir string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, eventlog.FileName+suffix)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// sizes reads what the seeded database holds: the events' payloads and
// the points' snapshots, in bytes.
func sizes(ctx context.Context, dir string) (payloads, snapshots int64, err error) {
	db, err := sqlitedb.Open(filepath.Join(dir, eventlog.FileName), true)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT (SELECT coalesce(sum(length(payload)), 0) FROM events),
		(SELECT coalesce(sum(length(state)), 0) FROM point_snapshots)`).Scan(&payloads, &snapshots)
	return payloads, snapshots, err
}

// copyDir copies the seeded directory src to dst, a new directory: each
// measured start gets its own copy.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o700)
		case rel == "lock" || strings.HasSuffix(rel, ".tmp"):
			return nil
		case !d.Type().IsRegular():
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
