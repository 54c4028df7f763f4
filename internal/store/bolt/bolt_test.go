package bolt

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/storetest"
)

func open(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "pylon.db"))
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pylon.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r1 := storetest.MustCommit(t, s, storetest.Put("route", "a", 1, store.Missing))
	r2 := storetest.MustCommit(t, s, storetest.Put("route", "b", 2, store.Missing))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	if st := s.Status(); st.Revision != r2 || !st.Synced {
		t.Fatalf("status after reopen %+v, want revision %d", st, r2)
	}
	got, err := s.Get(context.Background(), storetest.Key("route", "a"))
	if err != nil || got.Revision != r1 || string(got.Value) != string(storetest.Value("a", 1)) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if r3 := storetest.MustCommit(t, s, storetest.Put("route", "c", 3, store.Missing)); r3 != r2+1 {
		t.Fatalf("revision after reopen %d, want %d", r3, r2+1)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pylon.db")
	open(t, path)
	start := time.Now()
	_, err := Open(path, WithLockTimeout(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "is in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second open took %v", d)
	}
}

// A watcher that does not read is never in the way of commits; when it
// reads again it gets a Reset with the current state.
func TestSlowWatcherGetsReset(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pylon.db"), WithWatchQueue(4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx, 0)
	var last int64
	for i := range 20 {
		last = storetest.MustCommit(t, s, storetest.Put("route", "r", i, store.Any))
	}
	m := storetest.Model{}
	sawReset := false
	for rev := int64(0); rev < last; {
		ev := storetest.Next(t, ch, 5*time.Second)
		sawReset = sawReset || ev.Reset
		m.Apply(ev)
		rev = ev.Revision
	}
	if !sawReset {
		t.Fatal("a watcher 20 events behind with a queue of 4 got no Reset")
	}
	all, _ := storetest.All(t, s)
	m.Equal(t, all)
}

func TestClosedStore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pylon.db"))
	ch := s.Watch(context.Background(), 0)
	s.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch not closed by Close")
	}
	if _, err := s.Commit(context.Background(), []store.Op{storetest.Put("route", "a", 1, store.Any)}); err == nil {
		t.Fatal("commit after close succeeded")
	}
}
