package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/storetest"
	"pylon.io/pylon/test/testenv"
)

// BenchmarkCommit measures single-object commits, one at a time, against a
// real etcd that fsyncs its log.
func BenchmarkCommit(b *testing.B) {
	e := testenv.StartEtcd(b)
	s, err := Open(context.Background(), []string{e.Endpoint()}, "/bench", WithRequestTimeout(10*time.Second))
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
