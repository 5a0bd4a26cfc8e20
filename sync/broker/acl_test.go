package broker

import "testing"

func TestACL(t *testing.T) {
	a := &user{name: "a", role: RoleNode, municipality: "2161"}
	all := &user{name: "central", role: RoleCentral, municipality: AllMunicipalities}
	one := &user{name: "k2161", role: RoleCentral, municipality: "2161"}
	for _, tc := range []struct {
		u                   *user
		topic               string
		publish, read, will bool
	}{
		{a, "sp/v1/2161/a/up", true, false, false},
		{a, "sp/v1/2161/a/status", true, false, true},
		{a, "sp/v1/2161/a/ack", false, true, false},
		{a, "sp/v1/2161/a/down", false, true, false},
		{a, "sp/v1/2161/b/up", false, false, false},
		{a, "sp/v1/2161/b/ack", false, false, false},
		{a, "sp/v1/2180/a/up", false, false, false},
		{a, "sp/v1/2180/a/ack", false, false, false},
		{a, "sp/v1/2161/a/other", false, false, false},
		{a, "sp/v1/2161/+/ack", false, false, false},
		{a, "sp/v1/2161/a/#", false, false, false},
		{a, "sp/v2/2161/a/up", false, false, false},
		{a, "$share/g/sp/v1/2161/a/ack", false, true, false},
		{a, "#", false, false, false},
		{all, "sp/v1/2161/a/ack", true, true, true},
		{all, "sp/v1/2180/b/down", true, true, true},
		{all, "sp/v1/2161/a/up", false, true, false},
		{all, "sp/v1/2161/a/status", false, true, false},
		{all, "sp/v1/+/+/up", false, true, false},
		{all, "sp/v1/#", false, true, false},
		{all, "$share/c/sp/v1/+/+/up", false, true, false},
		{all, "$share/c", false, false, false},
		{all, "sp/v1", false, false, false},
		{all, "sp/v1/", false, false, false},
		{all, "sp/#", false, false, false},
		{all, "#", false, false, false},
		{all, "$SYS/#", false, false, false},
		{all, "sp/v1/21611/a/ack", false, true, false}, // readable (nothing can be written there), not writable
		{one, "sp/v1/2161/a/ack", true, true, true},
		{one, "sp/v1/2180/a/ack", false, false, false},
		{one, "sp/v1/2161/+/up", false, true, false},
		{one, "sp/v1/+/+/up", false, false, false},
		{one, "sp/v1/#", false, false, false},
		{nil, "sp/v1/2161/a/up", false, false, false},
	} {
		name := "nil"
		if tc.u != nil {
			name = tc.u.name
		}
		if got := mayPublish(tc.u, tc.topic); got != tc.publish {
			t.Errorf("mayPublish(%s, %s) = %v", name, tc.topic, got)
		}
		if got := mayRead(tc.u, tc.topic); got != tc.read {
			t.Errorf("mayRead(%s, %s) = %v", name, tc.topic, got)
		}
		if got := willAllowed(tc.u, tc.topic); got != tc.will {
			t.Errorf("willAllowed(%s, %s) = %v", name, tc.topic, got)
		}
	}
}
