package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"path/filepath"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

func runDump(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	var df dataFlags
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	df.bind(fs, "data `directory` holding the log")
	setUsage(fs, "Print every event of the log, one JSON object per line, ordered by origin and seq.\nSafe to run while the daemon is running.")
	if err := df.parse(fs, args, env, func() {}); err != nil {
		return err
	}
	data := df.data
	if data == "" {
		return errors.New("dump: --data is required")
	}
	r, err := eventlog.OpenReader(filepath.Join(data, eventlog.FileName))
	if err != nil {
		return err
	}
	defer r.Close()
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := r.Events(ctx, func(e node.Event) error { return enc.Encode(e) }); err != nil {
		return err
	}
	return out.Flush()
}
