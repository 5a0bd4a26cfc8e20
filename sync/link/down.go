package link

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

// The downlink: central writes directives into this node's own stream
// (origin "central", its own gap-free seq). The node stores them in its
// log with the same ingest as central uses (dedupe on origin and seq, a
// contiguous watermark), acknowledges the watermark on its downack topic,
// retained, and records directive.shown for what its pages now show.

// checkDown decodes and checks a message on the down topic.
func (l *Link) checkDown(m mqtt.Message) (wire.Batch, error) {
	if m.Topic() != l.topic(wire.KindDown) {
		return wire.Batch{}, fmt.Errorf("topic %.80q", m.Topic())
	}
	b, err := wire.DecodeBatch(m.Payload())
	if err != nil {
		return wire.Batch{}, err
	}
	if b.Origin != wire.Central || b.Municipality != l.opts.Municipality {
		return wire.Batch{}, fmt.Errorf("%w: a stream of %s/%s on %s/%s", wire.ErrFormat, b.Municipality, b.Origin,
			l.opts.Municipality, l.node)
	}
	for _, e := range b.Events {
		if !slices.Contains(node.DownlinkTypes, e.Type) {
			return wire.Batch{}, fmt.Errorf("%w: %q is not a directive", wire.ErrFormat, e.Type)
		}
	}
	return b, nil
}

// downMark is how far this node holds central's stream without a gap.
func (l *Link) downMark(ctx context.Context) (uint64, error) {
	marks, err := l.opts.Log.Watermarks(ctx)
	if err != nil {
		return 0, err
	}
	return marks[wire.Central], nil
}

// downLoop stores the session's downlink batches as they come and
// acknowledges each; it ends with ctx (the session's paho client is then
// closed, and a failed publish only means central sends again).
func (l *Link) downLoop(ctx context.Context, client mqtt.Client, downs <-chan wire.Batch) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-downs:
			if err := l.takeDown(ctx, client, b); err != nil && ctx.Err() == nil {
				l.opts.Logger.Warn("Sync: storing central's directives failed", "err", err)
			}
		}
	}
}

func (l *Link) takeDown(ctx context.Context, client mqtt.Client, b wire.Batch) error {
	_, marks, err := l.opts.Log.Ingest(ctx, b.Events)
	if err != nil {
		return err // nothing acknowledged: central sends again
	}
	ack := wire.EncodeJSON(wire.Ack{V: wire.Version, Origin: l.node, Acked: marks[wire.Central]})
	// Retained: central learns where the node stands when it restarts.
	// Not waited for: the next batch, or the birth, says it again.
	client.Publish(l.topic(wire.KindDownAck), 1, true, ack)
	return l.markShown(ctx, b.Events)
}

// markShown records directive.shown for each directive in events that the
// node's pages now show: an announcement while it is valid (an expired one
// is stored but never shown), every other directive at once. Idempotent:
// one event per directive, however often it arrives.
func (l *Link) markShown(ctx context.Context, events []node.Event) error {
	st := l.opts.Log.State()
	now := l.opts.Log.Clock().Wall()
	if !l.opts.Log.Clock().Plausible() {
		now = time.Time{}
	}
	for _, e := range events {
		id, show := directiveOf(e, st, now)
		if id == "" || !show || st.Shown(id) {
			continue
		}
		if _, err := l.opts.Log.Append(ctx, node.Draft{Type: node.TypeDirectiveShown, Key: "shown:" + id,
			Payload: node.DirectiveShown{ID: id}}); err != nil {
			return err
		}
	}
	return nil
}

// directiveOf returns the directive an event carries and whether the
// node shows it now.
func directiveOf(e node.Event, st *node.State, now time.Time) (string, bool) {
	var p struct {
		Directive string `json:"directive"`
		ID        string `json:"id"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.Directive == "" {
		return "", false
	}
	if e.Type != node.TypeAnnouncementPublished {
		return p.Directive, e.Type != node.TypeAnnouncementWithdrawn
	}
	a, ok := st.Announcement(p.ID)
	return p.Directive, ok && a.ActiveAt(now)
}
