package storetest

import (
	"context"
	"fmt"
	"testing"

	"pylon.io/pylon/internal/store"
)

// BenchCommit measures single-object commits, one at a time, on s: the
// admin API's write path as the store sees it.
func BenchCommit(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Commit(ctx, []store.Op{Put("route", fmt.Sprintf("r%d", i), i, store.Missing)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
