// Package storetest is the conformance suite every store.Store passes: the
// bbolt store and the etcd store run the same tests, so the admin API and
// the store source can rely on one behaviour.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Run runs the suite. open returns a new, empty store for each subtest and
// closes it in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"CreateGetList", testCreateGetList},
		{"Pagination", testPagination},
		{"Replace", testReplace},
		{"CreateExisting", testCreateExisting},
		{"Delete", testDelete},
		{"AtomicCommit", testAtomicCommit},
		{"BadOps", testBadOps},
		{"Watch", testWatch},
		{"WatchOldRevision", testWatchOldRevision},
		{"ConcurrentCommits", testConcurrentCommits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if st := s.Status(); !st.Synced {
				t.Fatalf("new store not synced: %+v", st)
			}
			tc.fn(t, s)
		})
	}
}

// Key returns the key of a stored route (or another kind) in "default".
func Key(kind ir.Kind, name string) ir.Key {
	return ir.Key{Kind: kind, Source: store.Source, Namespace: "default", Name: name}
}

// Value returns a small JSON object naming name and n.
func Value(name string, n int) []byte {
	return fmt.Appendf(nil, `{"name":%q,"n":%d}`, name, n)
}

// Put is an Op that writes name's Value(n) with expectation expect.
func Put(kind ir.Kind, name string, n int, expect int64) store.Op {
	return store.Op{Key: Key(kind, name), Value: Value(name, n), Expect: expect}
}

// MustCommit commits ops and fails the test on error.
func MustCommit(t testing.TB, s store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Commit(ctx(t), ops)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return rev
}

// ctx returns a context that ends with the test, or after 30 seconds.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Conflict asserts that err is a *store.ConflictError for key with the
// expected and actual revisions.
func Conflict(t testing.TB, err error, key ir.Key, expected, actual int64) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a conflict on %s", err, key)
	}
	if ce.Key != key || ce.Expected != expected || ce.Actual != actual {
		t.Fatalf("conflict = %+v, want key %s expected %d actual %d", *ce, key, expected, actual)
	}
}

// Next receives the next event from ch within timeout.
func Next(t testing.TB, ch <-chan store.Event, timeout time.Duration) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
	}
	return store.Event{}
}

// Model is the state a watcher builds from events.
type Model map[ir.Key]store.Record

// Apply applies ev to m, as the store source would.
func (m Model) Apply(ev store.Event) {
	if ev.Reset {
		clear(m)
	}
	for _, r := range ev.Records {
		m[r.Key] = r
	}
	for _, k := range ev.Deletes {
		delete(m, k)
	}
}

// Equal fails the test unless m holds exactly recs.
func (m Model) Equal(t testing.TB, recs []store.Record) {
	t.Helper()
	if len(m) != len(recs) {
		t.Fatalf("watcher holds %d objects, store %d", len(m), len(recs))
	}
	for _, r := range recs {
		got, ok := m[r.Key]
		if !ok || got.Revision != r.Revision || string(got.Value) != string(r.Value) {
			t.Fatalf("watcher has %s = %+v, store %+v", r.Key, got, r)
		}
	}
}

// All lists every object of the kinds in ir.Kinds.
func All(t testing.TB, s store.Store) ([]store.Record, int64) {
	t.Helper()
	var all []store.Record
	var rev int64
	for _, k := range ir.Kinds {
		recs, r, err := s.List(ctx(t), k, "", 0)
		if err != nil {
			t.Fatalf("list %s: %v", k, err)
		}
		all, rev = append(all, recs...), max(rev, r)
	}
	return all, rev
}
