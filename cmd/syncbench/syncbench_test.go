package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
)

func TestFlagLists(t *testing.T) {
	got, err := ints("200, 1,10")
	if err != nil || !slices.Equal(got, []int{200, 1, 10}) {
		t.Errorf("ints: %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "1,,2"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q): no error", bad)
		}
	}
	cases, err := ingestCases("50x2/600, 1x1/100,7x3/50")
	want := []ingestCase{{50, 2, 600}, {1, 1, 100}, {7, 3, 49}} // whole batches
	if err != nil || !slices.Equal(cases, want) {
		t.Errorf("ingestCases: %v, %v; want %v", cases, err, want)
	}
	for _, bad := range []string{"50x2", "0x1/10", "5x0/10", "50x2/10", "a"} {
		if _, err := ingestCases(bad); err == nil {
			t.Errorf("ingestCases(%q): no error", bad)
		}
	}
	if s := (ingestCase{50, 2, 600}).String(); s != "50×2/600" {
		t.Errorf("String() = %q", s)
	}
}

// publish is an MQTT 3.1.1 PUBLISH packet at QoS 1.
func publish(topic string, payload []byte) []byte {
	body := append([]byte{byte(len(topic) >> 8), byte(len(topic))}, topic...)
	body = append(body, 0, 1) // packet identifier
	body = append(body, payload...)
	p := []byte{0x32} // PUBLISH, QoS 1
	for n := len(body); ; {
		b := byte(n % 128)
		if n /= 128; n > 0 {
			b |= 128
		}
		p = append(p, b)
		if n == 0 {
			break
		}
	}
	return append(p, body...)
}

// TestMQTTCounter: packets cut anywhere are counted whole, by type and by
// topic kind, with the payload apart from the framing.
func TestMQTTCounter(t *testing.T) {
	up := publish(wire.Topic("2161", "byhuset-as", wire.KindUp), make([]byte, 300)) // two length bytes
	ack := publish(wire.Topic("2161", "byhuset-as", wire.KindAck), []byte("{}"))
	puback := []byte{0x40, 2, 0, 1}
	stream := slices.Concat(up, puback, ack, up)
	var c mqttCounter
	for i := 0; i < len(stream); i += 7 {
		c.feed(stream[i:min(i+7, len(stream))])
	}
	if c.total != int64(len(stream)) || len(c.pending) != 0 {
		t.Errorf("total %d of %d, %d pending", c.total, len(stream), len(c.pending))
	}
	if c.byType[3].count != 3 || c.byType[4].count != 1 || c.byType[4].bytes != 4 {
		t.Errorf("by type: PUBLISH %+v, PUBACK %+v", c.byType[3], c.byType[4])
	}
	if c.pubUp.count != 2 || c.pubUp.payload != 600 || c.pubUp.bytes != 2*int64(len(up)) {
		t.Errorf("up: %+v", c.pubUp)
	}
	if c.pubAck.count != 1 || c.pubAck.payload != 2 || c.pubOth.count != 0 {
		t.Errorf("ack %+v, other %+v", c.pubAck, c.pubOth)
	}
	if _, _, ok := packetSize([]byte{0x30, 0x80, 0x80}); ok {
		t.Error("an incomplete length read as whole")
	}
	if _, _, ok := packetSize([]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}); ok {
		t.Error("five length bytes read as a length")
	}
}

// TestReportGen: the reports are ones ui would take: a known category and
// urgency, 40 to 80 characters of text.
func TestReportGen(t *testing.T) {
	g := &reportGen{rng: rand.New(rand.NewPCG(1, 2))}
	for range 500 {
		r := g.next()
		n := len([]rune(r.Text))
		if n < 40 || n > 80 || strings.HasSuffix(r.Text, ",") || !slices.Contains(node.Categories, r.Category) ||
			!slices.Contains(node.Urgencies, r.Urgency) || len(r.Receipt) != node.ReceiptLen {
			t.Fatalf("report %+v (%d characters)", r, n)
		}
	}
}
