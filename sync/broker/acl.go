package broker

import "strings"

// Topic kinds, as in sync/wire: sp/v1/{municipality}/{node}/{kind}.
const (
	kindUp      = "up"
	kindAck     = "ack"
	kindStatus  = "status"
	kindDown    = "down"
	kindDownAck = "downack"
)

// splitTopic splits a topic or filter of the scheme into its municipality,
// node and kind. Wildcards do not match the patterns, so a filter with + or
// # in those levels is not of the scheme.
func splitTopic(t string) (municipality, node, kind string, ok bool) {
	p := strings.Split(t, "/")
	if len(p) != 5 || p[0] != "sp" || p[1] != "v1" ||
		!municipalityRE.MatchString(p[2]) || !nodeRE.MatchString(p[3]) {
		return "", "", "", false
	}
	return p[2], p[3], p[4], true
}

// unshare strips a shared subscription's $share/{group}/ prefix, as
// mosquitto does before checking a subscription against its ACL.
func unshare(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	_, f, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return f
}

// mayPublish reports whether u may publish to topic (a topic name, never a
// filter: the broker refuses wildcards in a publish before asking).
//
//	node N of M:  sp/v1/M/N/up, sp/v1/M/N/status, sp/v1/M/N/downack
//	central:      sp/v1/+/+/ack, sp/v1/+/+/down (its municipality only, unless *)
func mayPublish(u *user, topic string) bool {
	m, n, kind, ok := splitTopic(topic)
	if !ok || u == nil {
		return false
	}
	switch u.role {
	case RoleNode:
		return m == u.municipality && n == u.name && (kind == kindUp || kind == kindStatus || kind == kindDownAck)
	case RoleCentral:
		return (u.municipality == AllMunicipalities || m == u.municipality) &&
			(kind == kindAck || kind == kindDown)
	}
	return false
}

// mayRead reports whether u may subscribe to filter, or be sent a message
// on the topic filter (the broker asks both ways).
//
//	node N of M:  sp/v1/M/N/ack, sp/v1/M/N/down, exactly: no wildcards
//	central:      anything under sp/v1/ (its municipality's subtree only, unless *)
func mayRead(u *user, filter string) bool {
	if u == nil {
		return false
	}
	filter = unshare(filter)
	switch u.role {
	case RoleNode:
		m, n, kind, ok := splitTopic(filter)
		return ok && m == u.municipality && n == u.name && (kind == kindAck || kind == kindDown)
	case RoleCentral:
		p := strings.Split(filter, "/")
		if len(p) < 3 || p[0] != "sp" || p[1] != "v1" || p[2] == "" {
			return false
		}
		return u.municipality == AllMunicipalities || p[2] == u.municipality
	}
	return false
}

// willAllowed reports whether u may leave a Last Will on topic. Mosquitto
// checks a will against the write ACL; a node's is narrower still: only its
// own status topic, where central expects its "offline".
func willAllowed(u *user, topic string) bool {
	if u == nil {
		return false
	}
	if u.role == RoleNode {
		_, _, kind, _ := splitTopic(topic)
		return kind == kindStatus && mayPublish(u, topic)
	}
	return mayPublish(u, topic)
}
