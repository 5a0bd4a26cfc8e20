package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A snapshot is a State written out whole, so central can start from it
// instead of folding every stored event again. Folding is idempotent: a
// restored state that folds events it already holds is unchanged, so a
// reader of a snapshot may fold from a little before where it was taken.

// foldRevision counts changes to the fold rules that keep the event types
// the same. Bump it whenever a rule changes what it keeps: every snapshot
// written before is then refused, and its points are folded again from
// their events.
const foldRevision = 1

// FoldVersion names the fold rules a snapshot was taken under: the
// revision and the catalogue's types (a type this binary did not know was
// ignored when the snapshot was taken, and must be folded now).
var FoldVersion = func() string {
	h := sha256.Sum256([]byte(strings.Join(Types(), "\n")))
	return fmt.Sprintf("%d-%s", foldRevision, hex.EncodeToString(h[:6]))
}()

// ErrSnapshotVersion refuses a snapshot taken under other fold rules.
var ErrSnapshotVersion = errors.New("state snapshot: taken under other fold rules")

// snapStamp is a stamp as a snapshot holds it.
type snapStamp struct {
	H uint64 `json:"h,omitempty"`
	O string `json:"o,omitempty"`
	S uint64 `json:"s,omitempty"`
}

func toSnap(s stamp) snapStamp   { return snapStamp{uint64(s.hlc), s.origin, s.seq} }
func (s snapStamp) stamp() stamp { return stamp{HLC(s.H), s.O, s.S} }

type snapComment struct {
	At snapStamp `json:"at"`
	C  Comment   `json:"c"`
}

// snapshot is every field of a State, exported for encoding/json.
type snapshot struct {
	Version      string                                `json:"version"`
	Point        Point                                 `json:"point"`
	PointAt      snapStamp                             `json:"point_at"`
	Services     map[string]snapService                `json:"services,omitempty"`
	Anns         map[string]snapAnn                    `json:"anns,omitempty"`
	CheckIns     map[string]snapCheckIn                `json:"checkins,omitempty"`
	Reports      map[string]snapReport                 `json:"reports,omitempty"`
	Receipts     map[string]Receipt                    `json:"receipts,omitempty"`
	Power        PowerChanged                          `json:"power"`
	PowerAt      snapStamp                             `json:"power_at"`
	Stock        map[string]snapReg[InventoryChanged]  `json:"stock,omitempty"`
	Roster       map[string]snapReg[RosterChanged]     `json:"roster,omitempty"`
	Journal      map[string]snapReg[Journal]           `json:"journal,omitempty"`
	Acks         map[string]snapReg[AlertAcknowledged] `json:"acks,omitempty"`
	Last         uint64                                `json:"last"`
	Activation   Activation                            `json:"activation"`
	ActivationAt snapStamp                             `json:"activation_at"`
	Contacts     []Contact                             `json:"contacts,omitempty"`
	ContactsAt   snapStamp                             `json:"contacts_at"`
	Shown        []string                              `json:"shown,omitempty"`
	PurgedAt     snapStamp                             `json:"purged_at"`
}

type snapService struct {
	Svc Service   `json:"svc"`
	At  snapStamp `json:"at"`
}

type snapReg[P any] struct {
	P  P         `json:"p"`
	At snapStamp `json:"at"`
}

type snapAnn struct {
	Ann         Announcement `json:"ann"`
	Created     snapStamp    `json:"created"`
	WithdrawnAt snapStamp    `json:"withdrawn_at"`
}

type snapCheckIn struct {
	C       CheckIn   `json:"c"`
	Created snapStamp `json:"created"`
}

type snapReport struct {
	R        Report        `json:"r"`
	Created  snapStamp     `json:"created"`
	StatusAt snapStamp     `json:"status_at"`
	AssignAt snapStamp     `json:"assign_at"`
	Comments []snapComment `json:"comments,omitempty"`
	Updated  uint64        `json:"updated"`
}

// Snapshot writes the whole state out, under FoldVersion.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x := snapshot{Version: FoldVersion, Point: s.point, PointAt: toSnap(s.pointAt),
		Services: map[string]snapService{}, Anns: map[string]snapAnn{}, CheckIns: map[string]snapCheckIn{},
		Reports: map[string]snapReport{}, Power: s.power, PowerAt: toSnap(s.powerAt),
		Stock: map[string]snapReg[InventoryChanged]{}, Roster: map[string]snapReg[RosterChanged]{},
		Journal: map[string]snapReg[Journal]{}, Acks: map[string]snapReg[AlertAcknowledged]{},
		Last: uint64(s.last), Activation: s.activation, ActivationAt: toSnap(s.activationAt),
		Contacts: s.contacts, ContactsAt: toSnap(s.contactsAt), PurgedAt: toSnap(s.purgedAt)}
	for k, v := range s.services {
		x.Services[k] = snapService{v.svc, toSnap(v.at)}
	}
	for k, v := range s.anns {
		x.Anns[k] = snapAnn{v.ann, toSnap(v.created), toSnap(v.withdrawnAt)}
	}
	for k, v := range s.checkins {
		x.CheckIns[k] = snapCheckIn{v.c, toSnap(v.created)}
	}
	for k, v := range s.reports {
		r := snapReport{R: v.r, Created: toSnap(v.created), StatusAt: toSnap(v.statusAt), AssignAt: toSnap(v.assignAt), Updated: uint64(v.updated)}
		for at, c := range v.comments {
			r.Comments = append(r.Comments, snapComment{toSnap(at), c})
		}
		x.Reports[k] = r
	}
	for k, v := range s.stock {
		x.Stock[k] = snapReg[InventoryChanged]{v.p, toSnap(v.at)}
	}
	for k, v := range s.roster {
		x.Roster[k] = snapReg[RosterChanged]{v.p, toSnap(v.at)}
	}
	for k, v := range s.journal {
		x.Journal[k] = snapReg[Journal]{v.j, toSnap(v.at)}
	}
	for k, v := range s.acks {
		x.Acks[k] = snapReg[AlertAcknowledged]{v.p, toSnap(v.at)}
	}
	for k := range s.shown {
		x.Shown = append(x.Shown, k)
	}
	return json.Marshal(x)
}

// RestoreState reads a state Snapshot wrote. A snapshot of other fold
// rules is ErrSnapshotVersion: fold the events again instead.
func RestoreState(b []byte) (*State, error) {
	var x snapshot
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	if x.Version != FoldVersion {
		return nil, fmt.Errorf("%w: %q, this binary folds %q", ErrSnapshotVersion, x.Version, FoldVersion)
	}
	s := NewState()
	s.point, s.pointAt = x.Point, x.PointAt.stamp()
	for k, v := range x.Services {
		s.services[k] = serviceReg{v.Svc, v.At.stamp()}
	}
	for k, v := range x.Anns {
		s.anns[k] = &annState{v.Ann, v.Created.stamp(), v.WithdrawnAt.stamp()}
	}
	for k, v := range x.CheckIns {
		s.checkins[k] = &checkinState{v.C, v.Created.stamp()}
	}
	for k, v := range x.Reports {
		r := &reportState{r: v.R, created: v.Created.stamp(), statusAt: v.StatusAt.stamp(), assignAt: v.AssignAt.stamp(),
			comments: map[stamp]Comment{}, updated: HLC(v.Updated)}
		for _, c := range v.Comments {
			r.comments[c.At.stamp()] = c.C
		}
		s.reports[k] = r
	}
	// The receipt index is the creations' own receipts, made again
	// rather than stored twice.
	for id, c := range s.checkins {
		if !c.created.isZero() {
			s.receipts[c.c.Receipt] = Receipt{c.c.Receipt, "checkin", id, c.created.hlc, c.created.origin, c.created.seq}
		}
	}
	for id, r := range s.reports {
		if !r.created.isZero() {
			s.receipts[r.r.Receipt] = Receipt{r.r.Receipt, "report", id, r.created.hlc, r.created.origin, r.created.seq}
		}
	}
	s.power, s.powerAt = x.Power, x.PowerAt.stamp()
	for k, v := range x.Stock {
		s.stock[k] = stockReg{v.P, v.At.stamp()}
	}
	for k, v := range x.Roster {
		s.roster[k] = rosterReg{v.P, v.At.stamp()}
	}
	for k, v := range x.Journal {
		s.journal[k] = journalState{v.P, v.At.stamp()}
	}
	for k, v := range x.Acks {
		s.acks[k] = ackReg{v.P, v.At.stamp()}
	}
	s.last = HLC(x.Last)
	s.activation, s.activationAt = x.Activation, x.ActivationAt.stamp()
	s.contacts, s.contactsAt = x.Contacts, x.ContactsAt.stamp()
	for _, k := range x.Shown {
		s.shown[k] = true
	}
	s.purgedAt = x.PurgedAt.stamp()
	return s, nil
}
