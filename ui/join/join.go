// Package join is the enrolment endpoint, both ends of it: central serves
// POST /api/enrol (a Part of its site), where a point being set up trades a
// one-time code (sync/central/enrol) for its identity and its own broker
// account; Fetch is the point's side, used by `safepoint enrol join`, which
// pins central's certificate by its fingerprint.
//
// The endpoint is public (the point has no account) and so is guarded by
// what it takes instead: HTTPS only while staff TLS is on, a body of at
// most 1 KiB, and a rate limit per client address (10 at once, then one
// every 30 seconds, as the login). A code has 60 bits: a guesser at that
// rate never finds one. Refusals name their reason (no such code, used,
// expired, revoked); only "no such code" answers a guess, the others need
// a code central really made, so they tell its holder what to do and a
// guesser nothing.
package join

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/central/enrol"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/web"
)

// Path is the endpoint's route.
const Path = "/api/enrol"

// Limits of the endpoint.
const (
	MaxBody         = 1 << 10
	burst           = 10
	every           = 30 * time.Second
	passwordSymbols = 24 // 120 bits, lower case: the node's broker password
)

// Request is the body of POST /api/enrol.
type Request struct {
	Code string `json:"code"`
	// Origin is the id of the point's event log when it has one already:
	// a code for another node is refused without being used, since the
	// point could not take that id.
	Origin string `json:"origin,omitempty"`
}

// codeRefusals are a code's refusals: its state at central, the reason
// the point is given, and what to do about it.
type codeRefusal struct {
	err             error
	reason, message string
}

var codeRefusals = []codeRefusal{
	{enrol.ErrUnknown, ReasonUnknown, "no such code: check that it is typed as central printed it"},
	{enrol.ErrUsed, ReasonUsed, "this code has been used: a code enrols one point once; ask central for a new one"},
	{enrol.ErrExpired, ReasonExpired, "this code has expired: ask central for a new one"},
	{enrol.ErrRevoked, ReasonRevoked, "this code has been revoked at central: ask central for a new one"},
}

// refusedCode is err's entry in codeRefusals, nil for another error.
func refusedCode(err error) *codeRefusal {
	for i := range codeRefusals {
		if errors.Is(err, codeRefusals[i].err) {
			return &codeRefusals[i]
		}
	}
	return nil
}

// Grant is the answer to a code redeemed: everything the point needs to
// link to central.
type Grant struct {
	Node         string `json:"node"`
	Municipality string `json:"municipality"`
	Name         string `json:"name,omitempty"`
	MQTT         string `json:"mqtt"` // tcp://host:port or ssl://host:port
	MQTTUser     string `json:"mqtt_user"`
	MQTTPassword string `json:"mqtt_password"`
	MQTTCA       string `json:"mqtt_ca,omitempty"` // PEM of the CA that signed an ssl:// broker's certificate
	// BrokerReload is set when central's broker is Mosquitto: the command
	// central's operator must run before the point can connect.
	BrokerReload string `json:"broker_reload,omitempty"`
}

// Refusal is the body of every 4xx and 5xx answer: the error as for every
// API answer, and a word for programs.
type Refusal struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// Reasons of a refusal.
const (
	ReasonMalformed = "malformed"  // 400: not a code's shape
	ReasonUnknown   = "unknown"    // 403: no such code
	ReasonUsed      = "used"       // 403
	ReasonExpired   = "expired"    // 403
	ReasonRevoked   = "revoked"    // 403
	ReasonOtherNode = "other-node" // 403: the point's log has another id; the code stays open
	ReasonHTTPS     = "https"      // 403: asked over plain HTTP while staff TLS is on
	ReasonRate      = "rate"       // 429
	ReasonBody      = "body"       // 400: a field is wrong (a body that is not JSON answers as every API does, without a reason)
	ReasonBroker    = "broker"     // 503: central could not make the account
)

// Codes redeems enrolment codes; *enrol.Store implements it.
type Codes interface {
	Redeem(ctx context.Context, code string, now time.Time, provision func(enrol.Code) error) (enrol.Code, error)
}

// Accounts makes a node's broker account, or gives it a new password:
// the embedded broker's users file, or Mosquitto's password and ACL files.
// It is called inside the code's write transaction and must not write to
// central's database.
type Accounts interface {
	Provision(node, municipality, password string) error
}

// Options configure a Join. Zero fields mean defaults.
type Options struct {
	Codes    Codes    // required
	Accounts Accounts // required
	// Broker is the broker's address for a point that reached central at
	// host (the request's host name, without port): tcp://… or ssl://….
	Broker func(host string) (string, error)
	// CA is the PEM of the CA that signed an ssl:// broker's certificate;
	// empty when the broker is plain or trusted by the system's CAs.
	CA []byte
	// BrokerReload, when set, is what central's operator must run before
	// an enrolled point can connect (Mosquitto reads its files on SIGHUP).
	BrokerReload string
	// Enrolled is told of each point enrolled, after its code is marked
	// used: central registers it for the downlink.
	Enrolled func(ctx context.Context, c enrol.Code)
	// RequireTLS refuses the endpoint over plain HTTP (staff TLS on), and
	// HTTPSPort is where to go instead.
	RequireTLS bool
	HTTPSPort  string
	Logger     *slog.Logger     // slog.Default() when nil
	Now        func() time.Time // time.Now when nil
}

// Join serves POST /api/enrol at central.
type Join struct {
	opts    Options
	logger  *slog.Logger
	limiter *web.Limiter
}

// New makes the endpoint.
func New(opts Options) *Join {
	j := &Join{opts: opts, logger: opts.Logger, limiter: web.NewLimiter(1/every.Seconds(), burst, time.Hour)}
	if j.logger == nil {
		j.logger = slog.Default()
	}
	if j.opts.Now == nil {
		j.opts.Now = time.Now
	}
	return j
}

// Routes is the endpoint: public, since the point has no account.
func (j *Join) Routes() []web.Route {
	return []web.Route{{Method: http.MethodPost, Path: Path, Access: web.Public, Handler: j.serve}}
}

func refuse(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, status, Refusal{Error: msg, Reason: reason})
}

func (j *Join) serve(w http.ResponseWriter, r *http.Request) {
	if j.opts.RequireTLS && r.TLS == nil {
		// The body is not read: a code sent in clear by mistake is left
		// for its holder, who is told to revoke it.
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		refuse(w, http.StatusForbidden, ReasonHTTPS, fmt.Sprintf("enrolment is served over HTTPS only: use https://%s%s "+
			"(a code sent over plain HTTP may have been read on the way: revoke it at central and make a new one)",
			net.JoinHostPort(host, j.opts.HTTPSPort), Path))
		return
	}
	if ok, wait := j.limiter.Allow(web.ClientKey(r), j.opts.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		refuse(w, http.StatusTooManyRequests, ReasonRate, "too many enrolment attempts from this address; try again later")
		return
	}
	var req Request
	if !web.ReadJSONLimit(w, r, &req, MaxBody) {
		return // answered: 400, 413 or 415, without a reason
	}
	if req.Origin != "" && !wire.ValidNode(req.Origin) {
		refuse(w, http.StatusBadRequest, ReasonBody, "origin: not a node id")
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	brokerURL, err := j.opts.Broker(host)
	if err != nil {
		j.logger.Error("Enrolment: no broker address to give the point", "err", err)
		refuse(w, http.StatusServiceUnavailable, ReasonBroker, "central cannot enrol points yet: "+err.Error())
		return
	}
	password := strings.ToLower(node.NewCode(passwordSymbols))
	var other otherNode
	c, err := j.opts.Codes.Redeem(r.Context(), req.Code, j.opts.Now(), func(c enrol.Code) error {
		if req.Origin != "" && req.Origin != c.Node {
			return otherNode{code: c.Node, origin: req.Origin}
		}
		return j.opts.Accounts.Provision(c.Node, c.Municipality, password)
	})
	refused := refusedCode(err)
	switch {
	case err == nil:
	case errors.Is(err, enrol.ErrMalformed):
		refuse(w, http.StatusBadRequest, ReasonMalformed, "code: 12 letters and digits, as central printed it (XXXX-XXXX-XXXX)")
		return
	case refused != nil:
		j.logger.Warn("Enrolment refused", "reason", refused.reason)
		refuse(w, http.StatusForbidden, refused.reason, refused.message)
		return
	case errors.As(err, &other):
		j.logger.Warn("Enrolment refused", "reason", ReasonOtherNode, "node", other.code)
		refuse(w, http.StatusForbidden, ReasonOtherNode, fmt.Sprintf("this code is for point %s, but this data directory's "+
			"event log belongs to %s: join into a new data directory, or ask central for a code for %s; the code is still open",
			other.code, other.origin, other.origin))
		return
	default:
		j.logger.Error("Enrolment failed", "err", err)
		refuse(w, http.StatusServiceUnavailable, ReasonBroker, "central could not make the point's broker account; try again shortly")
		return
	}
	if j.opts.Enrolled != nil {
		// The code is spent: finish even if the point hangs up now.
		j.opts.Enrolled(context.WithoutCancel(r.Context()), c)
	}
	j.logger.Info("Point enrolled", "node", c.Node, "municipality", c.Municipality, "broker", brokerURL)
	if j.opts.BrokerReload != "" {
		j.logger.Warn("Reload the broker to let the enrolled point in", "node", c.Node, "command", j.opts.BrokerReload)
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, Grant{Node: c.Node, Municipality: c.Municipality, Name: c.Name,
		MQTT: brokerURL, MQTTUser: c.Node, MQTTPassword: password, MQTTCA: string(j.opts.CA),
		BrokerReload: j.opts.BrokerReload})
}

// otherNode refuses a code for another node than the point's log.
type otherNode struct{ code, origin string }

func (o otherNode) Error() string { return "enrol: code for " + o.code + ", log of " + o.origin }
