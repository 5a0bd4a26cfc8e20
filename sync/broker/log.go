package broker

import (
	"context"
	"log/slog"
)

// mochiHandler passes mochi's warnings and errors on to the central's
// logger. It keeps only attributes known to hold no credentials or
// payloads: mochi logs whole packets ("pk", "packet", "will") next to some
// errors.
type mochiHandler struct{ h slog.Handler }

var mochiKeys = map[string]bool{
	"error":       true,
	"client":      true, // the client id: a node id, or the central's
	"listener":    true,
	"remote":      true,
	"hook":        true,
	"id":          true,
	"protocol":    true,
	"address":     true,
	"keepalive":   true,
	"recommended": true,
	"old_remote":  true,
	"new_remote":  true,
}

func (m mochiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && m.h.Enabled(ctx, l)
}

func (m mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	if msg == "" {
		// mochi's own listeners log why a connection ended with no message.
		msg = "MQTT connection ended"
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	drop := false
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == "hook" && a.Value.String() == hookID:
			drop = true // our own refusals, already logged without the packet
		case mochiKeys[a.Key]:
			out.AddAttrs(a)
		}
		return !drop
	})
	if drop {
		return nil
	}
	return m.h.Handle(ctx, out)
}

func (m mochiHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var kept []slog.Attr
	for _, a := range attrs {
		if mochiKeys[a.Key] {
			kept = append(kept, a)
		}
	}
	return mochiHandler{h: m.h.WithAttrs(kept)}
}

func (m mochiHandler) WithGroup(name string) slog.Handler {
	return mochiHandler{h: m.h.WithGroup(name)}
}
