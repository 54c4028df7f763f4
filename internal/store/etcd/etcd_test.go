package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/storetest"
	"pylon.io/pylon/test/testenv"
)

var prefixes atomic.Int64

func open(t *testing.T, endpoint string, opts ...Option) *Store {
	t.Helper()
	prefix := fmt.Sprintf("/pylon-test/%d", prefixes.Add(1))
	opts = append([]Option{WithHealthInterval(200 * time.Millisecond), WithRequestTimeout(2 * time.Second)}, opts...)
	s, err := Open(context.Background(), []string{endpoint}, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, e.Endpoint()) })
}

func TestOpenUnreachable(t *testing.T) {
	start := time.Now()
	_, err := Open(context.Background(), []string{testenv.FreeAddr(t)}, "/p", WithDialTimeout(500*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("open of a closed port: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("open took %v", d)
	}
}

// waitStatus waits until the store's Synced is want.
func waitStatus(t *testing.T, s *Store, want bool, within time.Duration) store.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := s.Status()
		if st.Synced == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, want synced=%v within %v", st, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A compacted history turns a watch from an old revision into a Reset.
func TestWatchAfterCompaction(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	s := open(t, e.Endpoint())
	r1 := storetest.MustCommit(t, s, storetest.Put("route", "a", 1, store.Missing))
	storetest.MustCommit(t, s, storetest.Put("route", "a", 2, store.Any))
	r3 := storetest.MustCommit(t, s, storetest.Put("route", "b", 3, store.Missing))
	if _, err := s.Client().Compact(context.Background(), r3); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx, r1)
	ev := storetest.Next(t, ch, 10*time.Second)
	if !ev.Reset || ev.Revision < r3 || len(ev.Records) != 2 {
		t.Fatalf("first event after compaction %+v, want a Reset with 2 objects at ≥ %d", ev, r3)
	}
	r4 := storetest.MustCommit(t, s, storetest.Put("route", "c", 4, store.Missing))
	if ev := storetest.Next(t, ch, 10*time.Second); ev.Reset || ev.Revision != r4 {
		t.Fatalf("event after the reset %+v, want the write at %d", ev, r4)
	}
}

// When etcd dies the store says so and writes fail; when it comes back the
// store recovers and the watch delivers what was written meanwhile, resumed
// from its revision rather than reset.
func TestOutageAndRecovery(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	s := open(t, e.Endpoint())
	r1 := storetest.MustCommit(t, s, storetest.Put("route", "a", 1, store.Missing))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx, r1)

	e.Kill()
	st := waitStatus(t, s, false, 5*time.Second)
	if !strings.Contains(st.Error, "unreachable") {
		t.Errorf("status error %q does not say etcd is unreachable", st.Error)
	}
	start := time.Now()
	_, err := s.Commit(context.Background(), []store.Op{storetest.Put("route", "b", 2, store.Missing)})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("commit while etcd is down: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("commit took %v to fail", d)
	}

	e.Restart()
	waitStatus(t, s, true, 10*time.Second)
	// Another client writes while the watcher may still be reconnecting.
	other := open(t, e.Endpoint())
	other.prefix = s.prefix
	r2 := storetest.MustCommit(t, other, storetest.Put("route", "b", 2, store.Missing))
	ev := storetest.Next(t, ch, 15*time.Second)
	if ev.Reset || ev.Revision != r2 || len(ev.Records) != 1 || ev.Records[0].Key.Name != "b" {
		t.Fatalf("event after recovery %+v, want route b at %d", ev, r2)
	}
	if st := waitStatus(t, s, true, 5*time.Second); st.Revision < r2 {
		t.Errorf("status revision %d, want ≥ %d", st.Revision, r2)
	}
}

func TestSharedClient(t *testing.T) {
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	s := open(t, e.Endpoint())
	var _ *clientv3.Client = s.Client()
	if _, err := s.Client().Put(context.Background(), "/x", "y"); err != nil {
		t.Fatal(err)
	}
}
