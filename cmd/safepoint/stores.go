package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// stores are the stores both daemons keep in their data directory's one
// database: the event log and the staff accounts. A daemon opens its other
// stores (the power history, central's store) in file, after these, and
// closes them first.
type stores struct {
	file  string
	log   *eventlog.Log
	staff *accounts.Accounts
}

// openStores opens the event log with opts and the account store beside
// it, and says how to make the first admin when there is none.
func openStores(ctx context.Context, data string, opts eventlog.Options, logger *slog.Logger) (*stores, error) {
	s := &stores{file: filepath.Join(data, eventlog.FileName)}
	var err error
	if s.log, err = eventlog.Open(ctx, s.file, opts); err != nil {
		return nil, err
	}
	if s.staff, err = accounts.Open(ctx, s.file, s.log.Clock().Wall); err != nil {
		s.log.Close()
		return nil, err
	}
	if ok, err := s.staff.HasAdmin(ctx); err != nil {
		s.close(logger)
		return nil, err
	} else if !ok {
		logger.Warn("No admin account yet: create one with: safepoint user add --data " + data + " --name NAME --role admin")
	}
	return s, nil
}

// close closes the accounts, then the log: the log's close folds the WAL
// back into the file once the other connections are gone.
func (s *stores) close(logger *slog.Logger) {
	if err := s.staff.Close(); err != nil {
		logger.Error("Closing the accounts failed", "err", err)
	}
	if err := s.log.Close(); err != nil {
		logger.Error("Closing the event log failed", "err", err)
	}
	logger.Info("Stopped")
}
