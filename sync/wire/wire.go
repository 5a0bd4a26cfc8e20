// Package wire is the contract between node and central (docs/PROTOCOL.md):
// topics, message types and their encoding. Version 1.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/safepoint-se/safepoint/node"
)

// Version is the protocol version in every message and topic.
const Version = 1

// Limits on what a receiver accepts: anything larger is refused unread.
const (
	MaxMessage      = 1 << 20 // bytes on the wire
	MaxDecompressed = 8 << 20 // bytes after decompression
	MaxEvents       = 1000    // events in one batch
)

// Topics. Tenant first, so that a broker ACL can pin each node to its own
// subtree: sp/v1/{municipality}/{node}/{kind}.
const (
	KindUp      = "up"      // node → central: event batches
	KindAck     = "ack"     // central → node: the acknowledged watermark, retained
	KindStatus  = "status"  // node → central: birth and death, retained, the Last Will
	KindDown    = "down"    // central → node: the node's downlink stream, batches of directives
	KindDownAck = "downack" // node → central: the node's downlink watermark, retained
)

// Central is the origin of every event in a node's downlink stream: on the
// node, the stream is the foreign origin "central" with its own gap-free seq.
const Central = "central"

// Topic builds a topic.
func Topic(municipality, nodeID, kind string) string {
	return fmt.Sprintf("sp/v%d/%s/%s/%s", Version, municipality, nodeID, kind)
}

var (
	municipalityRE = regexp.MustCompile(`^[0-9]{4}$`)
	nodeRE         = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
)

// ValidNode reports whether s is a valid node id.
func ValidNode(s string) bool { return nodeRE.MatchString(s) }

// ParseTopic splits a topic; ok is false for anything not of the scheme.
func ParseTopic(t string) (municipality, nodeID, kind string, ok bool) {
	p := strings.Split(t, "/")
	if len(p) != 5 || p[0] != "sp" || p[1] != fmt.Sprintf("v%d", Version) ||
		!municipalityRE.MatchString(p[2]) || !nodeRE.MatchString(p[3]) {
		return "", "", "", false
	}
	switch p[4] {
	case KindUp, KindAck, KindStatus, KindDown, KindDownAck:
		return p[2], p[3], p[4], true
	}
	return "", "", "", false
}

// Batch is a run of one node's own events, in seq order.
type Batch struct {
	V            int          `json:"v"`
	Origin       string       `json:"origin"`
	Municipality string       `json:"municipality"`
	Head         uint64       `json:"head"` // the node's last seq when sent: central shows the backlog
	Events       []node.Event `json:"events"`
}

// Ack is central's acknowledgement: it holds every event of Origin with
// seq ≤ Acked.
type Ack struct {
	V      int    `json:"v"`
	Origin string `json:"origin"`
	Acked  uint64 `json:"acked"`
}

// Status is a node's birth ("online") or death ("offline", its Last Will).
// Birth counts the node's connections: central ignores a death older than
// the latest birth (as Sparkplug B's bdSeq).
type Status struct {
	V     int    `json:"v"`
	State string `json:"state"`
	Birth uint64 `json:"birth"`
	Head  uint64 `json:"head,omitempty"`
	// Down (birth only) is the node's downlink watermark: central sends the
	// node's stream from there.
	Down uint64 `json:"down,omitempty"`
}

// Errors of decoding.
var (
	ErrTooLarge = errors.New("wire: message too large")
	ErrVersion  = errors.New("wire: unknown version")
	ErrFormat   = errors.New("wire: malformed message")
)

// Batches are zstd-compressed JSON behind a one-byte format tag, so the
// format can change without guessing.
const tagZstdJSON = 'Z'

var (
	// The window is bounded by the largest message: zstd's default (8 MiB)
	// made the encoder keep some 20 MB of heap for the whole life of a
	// node, for output byte for byte the same on batches below 1 MiB.
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(MaxMessage))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxDecompressed), zstd.WithDecoderConcurrency(1))
)

// EncodeBatch encodes a batch for the up topic.
func EncodeBatch(b Batch) ([]byte, error) {
	b.V = Version
	js, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	out := encoder.EncodeAll(js, []byte{tagZstdJSON})
	if len(out) > MaxMessage {
		return nil, ErrTooLarge
	}
	return out, nil
}

// DecodeBatch decodes and checks a batch: version, size, event count, and
// that every event is the batch origin's own, in strictly rising seq order.
func DecodeBatch(p []byte) (Batch, error) {
	if len(p) > MaxMessage {
		return Batch{}, ErrTooLarge
	}
	if len(p) < 2 || p[0] != tagZstdJSON {
		return Batch{}, fmt.Errorf("%w: unknown format tag", ErrFormat)
	}
	js, err := decoder.DecodeAll(p[1:], nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return Batch{}, fmt.Errorf("%w: over %d bytes decompressed", ErrTooLarge, MaxDecompressed)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(js) > MaxDecompressed {
		return Batch{}, ErrTooLarge
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Batch{}, fmt.Errorf("%w: trailing data", ErrFormat)
	}
	if b.V != Version {
		return Batch{}, fmt.Errorf("%w: %d", ErrVersion, b.V)
	}
	if len(b.Events) == 0 || len(b.Events) > MaxEvents {
		return Batch{}, fmt.Errorf("%w: %d events", ErrFormat, len(b.Events))
	}
	var prev uint64
	for _, e := range b.Events {
		if e.Origin != b.Origin || e.Seq <= prev || e.Type == "" || !isObject(e.Payload) {
			return Batch{}, fmt.Errorf("%w: event %s/%d does not belong in the batch", ErrFormat, e.Origin, e.Seq)
		}
		prev = e.Seq
	}
	return b, nil
}

// isObject reports whether p is one valid JSON object: every payload in a
// log is one, and `safepoint dump` and the fold rely on it.
func isObject(p []byte) bool {
	p = bytes.TrimLeft(p, " \t\r\n")
	return len(p) > 0 && p[0] == '{' && json.Valid(p)
}

// EncodeJSON encodes the small messages (Ack, Status) as plain JSON.
func EncodeJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// DecodeAck decodes an ack.
func DecodeAck(p []byte) (Ack, error) {
	var a Ack
	if err := decodeSmall(p, &a); err != nil {
		return Ack{}, err
	}
	if a.V != Version {
		return Ack{}, fmt.Errorf("%w: %d", ErrVersion, a.V)
	}
	return a, nil
}

// DecodeStatus decodes a status.
func DecodeStatus(p []byte) (Status, error) {
	var s Status
	if err := decodeSmall(p, &s); err != nil {
		return Status{}, err
	}
	if s.V != Version {
		return Status{}, fmt.Errorf("%w: %d", ErrVersion, s.V)
	}
	if s.State != "online" && s.State != "offline" {
		return Status{}, fmt.Errorf("%w: state %q", ErrFormat, s.State)
	}
	return s, nil
}

func decodeSmall(p []byte, v any) error {
	if len(p) > 4096 {
		return ErrTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrFormat)
	}
	return nil
}
