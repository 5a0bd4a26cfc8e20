package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/safepoint-se/safepoint/internal/datadir"
	"github.com/safepoint-se/safepoint/internal/dirlock"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/ui/web"
)

// openData opens the daemon's data directory dir, made if missing: it
// takes the directory's lock (one daemon a directory), then opens the
// event log in it with opts, and the staff accounts beside the log.
// closeData closes both and logs that the daemon has stopped; stores of the
// same database opened later are to close before it (deferred after it),
// as the accounts do: the log's close folds the WAL back into the file
// once their connections are gone.
func openData(ctx context.Context, dir string, opts eventlog.Options, logger *slog.Logger) (
	log *eventlog.Log, staff *accounts.Accounts, closeData func(), err error) {
	made, err := datadir.Make(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if made {
		logger.Info("Made the data directory", "dir", dir)
	}
	if opts.Personal {
		// The directory holds residents' personal data: tighten one that
		// already existed with looser permissions.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, nil, nil, fmt.Errorf("data directory: %w", err)
		}
	}
	// One daemon a data directory: a second would write the same seqs.
	lock, err := dirlock.Acquire(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkNotEmptied(dir); err != nil {
		lock.Release()
		return nil, nil, nil, err
	}
	log, err = eventlog.Open(ctx, filepath.Join(dir, eventlog.FileName), opts)
	if err != nil {
		lock.Release()
		return nil, nil, nil, diskFull(dir, err)
	}
	closeLog := func() {
		if err := log.Close(); err != nil {
			logger.Error("Closing the event log failed", "err", err)
		}
		lock.Release()
		logger.Info("Stopped")
	}
	staff, err = accounts.Open(ctx, log.File(), log.Clock().Wall)
	if err != nil {
		closeLog()
		return nil, nil, nil, diskFull(dir, err)
	}
	return log, staff, func() { staff.Close(); closeLog() }, nil
}

// earlierMarks are files a daemon leaves in its data directory only after
// its database exists: the staff certificate, the embedded broker's users,
// the demo's MQTT password.
var earlierMarks = []string{web.CertFile, web.KeyFile, filepath.Join("broker", "users"), "mqtt-password"}

// errEmptied means a data directory shows a daemon lived there but has lost
// its database: starting would silently make a new point (a new id, the
// old certificate), or a central that forgot every node.
var errEmptied = errors.New("data directory lost its database")

// checkNotEmptied refuses a data directory whose database is missing or
// empty while marks of an earlier daemon are there.
func checkNotEmptied(dir string) error {
	db := filepath.Join(dir, eventlog.FileName)
	fi, err := os.Stat(db)
	switch {
	case err == nil && fi.Size() > 0:
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("data directory: %w", err)
	}
	for _, m := range earlierMarks {
		if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
			state := "is missing"
			if fi != nil {
				state = "is empty (0 bytes)"
			}
			return fmt.Errorf("%w: %s %s, but %s shows a point or central lived here before. "+
				"Restore %s from a backup (and remove any %s-wal and %s-shm beside it); "+
				"or, to start a new one here on purpose, move %s aside first",
				errEmptied, db, state, filepath.Join(dir, m), eventlog.FileName, eventlog.FileName, eventlog.FileName, dir)
		}
	}
	return nil
}

// minFree is the space below which a store that fails to open is taken to
// have failed for want of it: SQLite needs room for its WAL and shared
// memory index (32 KiB) before it reads a page.
const minFree = 256 << 10

// diskFull says so when err came with the disk holding dir (nearly) full:
// SQLite's own word for it at open is a bare "disk I/O error".
func diskFull(dir string, err error) error {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return err
	}
	free := st.Bavail * uint64(st.Bsize)
	if free >= minFree {
		return err
	}
	return fmt.Errorf("the disk holding %s is full (%d bytes free): free some space there and start again (%w)", dir, free, err)
}

// deviceKey is the key that signs the staff's device cookies, kept in the
// data directory (0600) so that a restart does not forget which tablets
// have logged in before; made on first use.
func deviceKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "device.key")
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("device key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return b, nil
}

// warnNoAdmin tells the operator how to make the first admin account of
// the data directory dir, until there is one.
func warnNoAdmin(ctx context.Context, staff *accounts.Accounts, dir string, logger *slog.Logger) error {
	ok, err := staff.HasAdmin(ctx)
	if err == nil && !ok {
		logger.Warn("No admin account yet: create one with: safepoint user add --data " + dir + " --name NAME --role admin")
	}
	return err
}

// dataFlags are --data and --config for the commands that work on a
// node's data directory beside the daemon (dump, user): of the
// configuration file they read only the data key.
type dataFlags struct {
	data, config string
}

func (d *dataFlags) bind(fs *flag.FlagSet, dataUsage string) {
	fs.StringVar(&d.config, "config", "", "TOML configuration `file` (its data key is used)")
	fs.StringVar(&d.data, "data", defaultNodeConfig().Data, dataUsage)
}

// parse is parseLayered for fs; reset restores the command's other flags'
// defaults.
func (d *dataFlags) parse(fs *flag.FlagSet, args []string, env func(string) string, reset func()) error {
	return parseLayered(fs, args, env, &d.config,
		func() { d.data = defaultNodeConfig().Data; reset() },
		func(path string) error {
			cfg := defaultNodeConfig()
			if err := decodeTOML(path, &cfg); err != nil {
				return err
			}
			d.data = cfg.Data
			return nil
		})
}
