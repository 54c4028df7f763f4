package etcd

import (
	"context"
	"testing"
	"time"

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
	storetest.BenchCommit(b, s)
}
