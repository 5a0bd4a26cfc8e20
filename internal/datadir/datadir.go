// Package datadir makes a data directory the way every command does: the
// last directory only, never a chain of parents a typo made up.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Make creates dir (0700) when it is missing, if its parent exists; it
// reports whether it made it. A missing parent is an error that names it:
// `--data /var/lib/safepoitn/node` must not quietly grow a new tree.
func Make(dir string) (made bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil:
		return false, fmt.Errorf("data directory %s: not a directory", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("data directory: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if _, err := os.Stat(parent); errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("data directory %s: its parent %s does not exist (only the last directory is made)", dir, parent)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("data directory: %w", err)
	}
	return true, nil
}
