package eventlog

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures durable appends (synchronous=FULL, one fsync per
// transaction). The parallel cases compare group commit (the default)
// against one transaction per append, in the same run.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBatch int
		parallel int
	}{
		{"serial", 0, 0},
		{"parallel16/group-commit", 0, 16},
		{"parallel16/one-tx-each", 1, 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(context.Background(), filepath.Join(b.TempDir(), FileName), Options{Origin: "bench", MaxBatch: bc.maxBatch})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			d := report("benchmark")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel == 0 {
				for i := 0; i < b.N; i++ {
					if _, err := l.Append(ctx, d); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(bc.parallel)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(ctx, d); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen measures a start: migrations checked and 10,000 stored
// events read and folded.
func BenchmarkOpen(b *testing.B) {
	file := filepath.Join(b.TempDir(), FileName)
	l, err := Open(context.Background(), file, Options{Origin: "bench", MaxBatch: 256})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 10_000)
	for i := 0; i < 10_000; i++ {
		go func() { _, err := l.Append(ctx, report("x")); done <- err }()
	}
	for i := 0; i < 10_000; i++ {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, err := Open(ctx, file, Options{})
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}
