package office

import (
	"errors"
	"net/http"
	"strings"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/sync/central"
	"github.com/safepoint-se/safepoint/sync/central/picture"
	"github.com/safepoint-se/safepoint/ui/web"
)

// An account at central may be limited to some municipalities (its
// scope). It then sees only their points, needs, alerts and nodes, sends
// directives only to them, and finds a directive to anywhere else not
// there at all (404): a scoped desk never learns another municipality's
// points. "all" is outside every scope: a directive to all reaches points
// the account does not see.

// errOutOfScope refuses a directive whose target the account may not
// reach.
var errOutOfScope = errors.New("target: outside the municipalities your account may reach")

// account is the logged-in staff account of a staff route's request.
func account(r *http.Request) accounts.Account {
	return web.SessionFrom(r.Context()).Account
}

// scopeOf is the picture's scope for the request's account: nil sees all.
func scopeOf(r *http.Request) picture.Scope {
	acc := account(r)
	if !acc.Scoped() {
		return nil
	}
	return acc.Sees
}

// scopeWords names the account's municipalities for a refusal: "2161,
// 2180".
func scopeWords(acc accounts.Account) string {
	return strings.Join(acc.Municipalities, ", ")
}

// outOfScopeMessage is a 403's sentence for a target outside the account's
// scope; it names the account's own municipalities, never the target's.
func outOfScopeMessage(acc accounts.Account) string {
	return errOutOfScope.Error() + " (" + scopeWords(acc) + ")"
}

// nodeMunicipality is the municipality of node id: the receiver's (the
// topic it is heard on, which the broker's ACL pins), else the point's own
// configuration.
func (s *Office) nodeMunicipality(id string) (string, bool) {
	for _, n := range s.opts.Nodes() {
		if n.ID == id && n.Municipality != "" {
			return n.Municipality, true
		}
	}
	if s.opts.Picture != nil {
		if p, ok := s.opts.Picture.Point(id, nil); ok && p.Municipality != "" {
			return p.Municipality, true
		}
	}
	return "", false
}

// reaches reports whether acc may send to, and see directives to, target.
// A target that does not parse, or a node central has never heard of, is
// left to the downlink to refuse (400, 404) as for any account.
func (s *Office) reaches(acc accounts.Account, target string) bool {
	if !acc.Scoped() {
		return true
	}
	kind, value, err := central.ParseTarget(strings.TrimSpace(target))
	switch {
	case err != nil:
		return true
	case kind == "all":
		return false
	case kind == "municipality":
		return acc.Sees(value)
	}
	m, ok := s.nodeMunicipality(value)
	return !ok || acc.Sees(m)
}

// visibleNodes are the nodes the account sees.
func (s *Office) visibleNodes(acc accounts.Account) []central.Node {
	all := s.opts.Nodes()
	out := make([]central.Node, 0, len(all))
	for _, n := range all {
		if acc.Sees(n.Municipality) {
			out = append(out, n)
		}
	}
	return out
}
