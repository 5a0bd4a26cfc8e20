package node

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkFold measures folding a log into state, which every start does,
// and building a view, which every status request does.
func BenchmarkFold(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		events := randomEvents(rand.New(rand.NewPCG(1, 2)), n)
		b.Run(fmt.Sprintf("apply/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s := NewState()
				for _, e := range events {
					s.Apply(e)
				}
			}
		})
		s := NewState()
		for _, e := range events {
			s.Apply(e)
		}
		b.Run(fmt.Sprintf("view/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.View()
			}
		})
	}
}

// BenchmarkSnapshot measures writing a point's fold out and reading it
// back, against folding its 1,000 events again (what the snapshot saves
// central at start, per point).
func BenchmarkSnapshot(b *testing.B) {
	events := randomEvents(rand.New(rand.NewPCG(1, 2)), 1_000)
	s := NewState()
	s.Fold(events...)
	raw, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("write/1000", func(b *testing.B) {
		b.ReportMetric(float64(len(raw)), "bytes")
		for i := 0; i < b.N; i++ {
			s.Snapshot()
		}
	})
	b.Run("restore/1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := RestoreState(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refold/1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			NewState().Fold(events...)
		}
	})
}
