package node

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// whole is everything a State holds, in a form reflect.DeepEqual can
// compare: its snapshot, with the sets sorted, and the receipts its
// index leads to.
type wholeState struct {
	snapshot
	Receipts map[string]Receipt
}

func whole(t *testing.T, s *State) wholeState {
	t.Helper()
	receipts := map[string]Receipt{}
	for code := range s.receipts {
		if r, ok := s.LookupReceipt(code); ok {
			receipts[code] = r
		}
	}
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var x snapshot
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	slices.Sort(x.Shown)
	for k, r := range x.Reports {
		slices.SortFunc(r.Comments, func(a, b snapComment) int { return cmpStamp(a.At.stamp(), b.At.stamp()) })
		x.Reports[k] = r
	}
	return wholeState{x, receipts}
}

// TestSnapshotResumes: a state restored from a snapshot taken part way,
// that then folds the rest (and, as central does at start, some of what it
// already held again), is the state of folding everything from zero:
// every field, not only the View.
func TestSnapshotResumes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for h := 0; h < 200; h++ {
		events := randomEvents(r, 20+r.IntN(120))
		cut := r.IntN(len(events) + 1)
		whole0 := NewState()
		whole0.Fold(events...)

		part := NewState()
		part.Fold(events[:cut]...)
		b, err := part.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored, err := RestoreState(b)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := whole(t, restored), whole(t, part); !reflect.DeepEqual(got, want) {
			t.Fatalf("history %d (seed %d): restore differs from the state it was taken of", h, seed)
		}
		again := max(0, cut-r.IntN(10))
		restored.Fold(events[again:]...)
		if got, want := whole(t, restored), whole(t, whole0); !reflect.DeepEqual(got, want) {
			g, _ := json.MarshalIndent(got, "", " ")
			w, _ := json.MarshalIndent(want, "", " ")
			t.Fatalf("history %d cut %d (seed %d): resumed fold differs\ngot  %s\nwant %s", h, cut, seed, g, w)
		}
		if !reflect.DeepEqual(restored.View(), whole0.View()) {
			t.Fatalf("history %d (seed %d): views differ", h, seed)
		}
	}
}

// TestSnapshotCoversState fails when State gains a field the snapshot
// does not carry: every State field but its locks and its change signal
// must have its snapshot counterpart.
func TestSnapshotCoversState(t *testing.T) {
	// receipts is an index, made again from the creations.
	skip := map[string]bool{"mu": true, "changemu": true, "changed": true, "receipts": true}
	have := map[string]bool{}
	st := reflect.TypeOf(snapshot{})
	for i := range st.NumField() {
		have[strings.ToLower(st.Field(i).Name)] = true
	}
	s := reflect.TypeOf(State{})
	for i := range s.NumField() {
		name := strings.ToLower(s.Field(i).Name)
		if !skip[name] && !have[name] {
			t.Errorf("State.%s has no field in the snapshot", s.Field(i).Name)
		}
	}
}

func TestSnapshotVersion(t *testing.T) {
	s := NewState()
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), FoldVersion, "0-000000000000", 1)
	if _, err := RestoreState([]byte(old)); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("a snapshot of other rules: %v, want ErrSnapshotVersion", err)
	}
	if _, err := RestoreState([]byte("{")); err == nil {
		t.Fatal("a torn snapshot was taken")
	}
}
