package broker

// NodeUser is a node account of the users file.
type NodeUser struct {
	Name, Municipality string
}

// Nodes lists the node accounts, in file order: central registers them for
// the downlink, so a directive for a municipality reaches a node that has
// never connected yet.
func (u *Users) Nodes() []NodeUser {
	var out []NodeUser
	for _, l := range u.lines {
		if l.user != nil && l.user.role == RoleNode {
			out = append(out, NodeUser{l.user.name, l.user.municipality})
		}
	}
	return out
}
