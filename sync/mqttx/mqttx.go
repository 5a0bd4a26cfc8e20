// Package mqttx holds the paho plumbing that the node's link and central's
// receiver share: bounded waits on tokens, subscriptions the broker must
// grant, a connection-lost signal, and the jittered wait between
// connection attempts.
package mqttx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Timeout bounds any single wait on the broker.
const Timeout = 30 * time.Second

// Wait waits for a paho token, bounded by ctx and Timeout.
func Wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(Timeout):
		return errors.New("timed out")
	}
}

// Subscribe subscribes to filters at QoS 1 with handler (nil: the client's
// routes) and waits for the SUBACK; a filter the broker refuses (code
// 0x80, its ACL) is an error naming who should check their user.
func Subscribe(ctx context.Context, c mqtt.Client, filters []string, handler mqtt.MessageHandler, who string) error {
	m := make(map[string]byte, len(filters))
	for _, f := range filters {
		m[f] = 1
	}
	sub := c.SubscribeMultiple(m, handler)
	if err := Wait(ctx, sub); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for topic, code := range sub.(*mqtt.SubscribeToken).Result() {
		if code >= 0x80 {
			return fmt.Errorf("subscribe: the broker refused %s (code %#x): check %s broker user and ACL", topic, code, who)
		}
	}
	return nil
}

// Lost returns a channel that receives the error of a lost connection,
// and the handler to set with SetConnectionLostHandler.
func Lost() (<-chan error, mqtt.ConnectionLostHandler) {
	ch := make(chan error, 1)
	return ch, func(_ mqtt.Client, err error) {
		select {
		case ch <- err:
		default:
		}
	}
}

// Backoff waits a random time between d/2 and d, or until ctx ends, and
// reports whether the wait ran out. The jitter keeps boxes that lost the
// link together from all returning together.
func Backoff(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d/2 + rand.N(d/2+1)):
		return true
	}
}
