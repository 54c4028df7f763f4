package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/storetest"
)

// BenchmarkCommit measures fsynced single-object commits, one at a time.
func BenchmarkCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "pylon.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("r%d", i)
		i++
		if _, err := s.Commit(ctx, []store.Op{storetest.Put("route", name, i, store.Missing)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
