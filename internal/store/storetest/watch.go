package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/internal/store"
)

const wait = 10 * time.Second

func testWatch(t *testing.T, s store.Store) {
	r0 := MustCommit(t, s, Put(route, "before", 0, store.Missing))
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	ch := s.Watch(c, r0)
	r1 := MustCommit(t, s, Put(route, "a", 1, store.Missing))
	r2 := MustCommit(t, s, Put(route, "b", 2, store.Missing), Put(service, "s", 2, store.Missing))
	r3 := MustCommit(t, s, store.Op{Key: Key(route, "a"), Expect: r1}, Put(route, "b", 3, r2))

	ev := Next(t, ch, wait)
	if ev.Reset || ev.Revision != r1 || len(ev.Records) != 1 || ev.Records[0].Key != Key(route, "a") ||
		ev.Records[0].Revision != r1 || string(ev.Records[0].Value) != string(Value("a", 1)) {
		t.Fatalf("first event %+v, want route a at %d", ev, r1)
	}
	ev = Next(t, ch, wait)
	if ev.Reset || ev.Revision != r2 || len(ev.Records) != 2 || len(ev.Deletes) != 0 {
		t.Fatalf("second event %+v, want two records at %d", ev, r2)
	}
	ev = Next(t, ch, wait)
	if ev.Reset || ev.Revision != r3 || len(ev.Records) != 1 || ev.Records[0].Key != Key(route, "b") ||
		len(ev.Deletes) != 1 || ev.Deletes[0] != Key(route, "a") {
		t.Fatalf("third event %+v, want b put and a deleted at %d", ev, r3)
	}
	if st := s.Status(); st.Revision < r3 {
		t.Errorf("status revision %d, want ≥ %d", st.Revision, r3)
	}
	cancel()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after its context ended")
		}
	}
}

// testWatchOldRevision watches from revisions already passed: the store may
// replay the changes or send a Reset, but the watcher must end up with the
// store's state.
func testWatchOldRevision(t *testing.T, s store.Store) {
	r1 := MustCommit(t, s, Put(route, "a", 1, store.Missing), Put(route, "b", 1, store.Missing))
	model := Model{}
	recs, _ := All(t, s)
	model.Apply(store.Event{Reset: true, Records: recs})
	MustCommit(t, s, Put(route, "a", 2, store.Any))
	r3 := MustCommit(t, s, store.Op{Key: Key(route, "b")}, Put(service, "c", 3, store.Missing))

	for name, from := range map[string]int64{"from a revision": r1, "from zero": 0} {
		t.Run(name, func(t *testing.T) {
			m := Model{}
			if from != 0 {
				for k, v := range model {
					m[k] = v
				}
			}
			c, cancel := context.WithCancel(ctx(t))
			defer cancel()
			ch := s.Watch(c, from)
			for last := int64(0); last < r3; {
				ev := Next(t, ch, wait)
				if ev.Revision <= last {
					t.Fatalf("event at %d after %d", ev.Revision, last)
				}
				last = ev.Revision
				m.Apply(ev)
			}
			all, _ := All(t, s)
			m.Equal(t, all)
		})
	}
}

// testConcurrentCommits checks that concurrent writers get distinct
// revisions and a watcher sees every write once, in revision order.
func testConcurrentCommits(t *testing.T, s store.Store) {
	_, rev := All(t, s)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	ch := s.Watch(c, rev)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Commit(c, []store.Op{Put(route, fmt.Sprintf("w%d-%d", w, i), i, store.Missing)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for last := int64(0); len(seen) < writers*each; {
		ev := Next(t, ch, wait)
		if ev.Revision <= last || ev.Reset {
			t.Fatalf("event %+v after revision %d", ev, last)
		}
		last = ev.Revision
		for _, r := range ev.Records {
			if seen[r.Key.Name] || r.Revision != ev.Revision {
				t.Fatalf("record %+v in event at %d", r, ev.Revision)
			}
			seen[r.Key.Name] = true
		}
	}
}
