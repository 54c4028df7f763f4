package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

const (
	route   = ir.KindRoute
	service = ir.KindService
)

func testCreateGetList(t *testing.T, s store.Store) {
	rev := MustCommit(t, s, Put(route, "b", 1, store.Missing), Put(route, "a", 2, store.Missing),
		Put(route, "c/with/slash", 3, store.Missing), Put(service, "a", 4, store.Missing))
	if rev <= 0 {
		t.Fatalf("commit revision %d", rev)
	}
	got, err := s.Get(ctx(t), Key(route, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != Key(route, "a") || string(got.Value) != string(Value("a", 2)) || got.Revision != rev {
		t.Fatalf("get = %+v (%s), want revision %d", got, got.Value, rev)
	}
	if _, err := s.Get(ctx(t), Key(route, "zzz")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing route: %v, want ErrNotFound", err)
	}
	recs, lrev, err := s.List(ctx(t), route, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if names := names(recs); !slices.Equal(names, []string{"a", "b", "c/with/slash"}) {
		t.Fatalf("list routes = %v", names)
	}
	if lrev < rev {
		t.Fatalf("list revision %d < commit revision %d", lrev, rev)
	}
	if recs, _, _ := s.List(ctx(t), ir.KindListener, "", 0); len(recs) != 0 {
		t.Fatalf("list listeners = %v, want none", names(recs))
	}
}

func testPagination(t *testing.T, s store.Store) {
	var ops []store.Op
	var want []string
	for i := range 25 {
		ops = append(ops, Put(route, fmt.Sprintf("r%02d", i), i, store.Missing))
		want = append(want, fmt.Sprintf("default/r%02d", i))
	}
	// Admin API objects are all in "default" and the cursor is a name;
	// another namespace that sorts after it comes last.
	other := store.Op{Key: ir.Key{Kind: route, Source: store.Source, Namespace: "team", Name: "a"}, Value: Value("a", 0)}
	ops = append(ops, other, Put(service, "r00", 0, store.Missing))
	want = append(want, "team/a")
	MustCommit(t, s, ops...)
	var got []string
	after := ""
	for page := 0; ; page++ {
		recs, _, err := s.List(ctx(t), route, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 10 || page > 5 {
			t.Fatalf("page %d has %d records, limit 10", page, len(recs))
		}
		for _, r := range recs {
			got = append(got, r.Key.Namespace+"/"+r.Key.Name)
		}
		if len(recs) < 10 {
			break
		}
		after = recs[len(recs)-1].Key.Name
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages = %v\nwant %v", got, want)
	}
}

func testReplace(t *testing.T, s store.Store) {
	r1 := MustCommit(t, s, Put(route, "a", 1, store.Missing))
	r2 := MustCommit(t, s, Put(route, "a", 2, r1))
	if r2 <= r1 {
		t.Fatalf("replace revision %d not after %d", r2, r1)
	}
	_, err := s.Commit(ctx(t), []store.Op{Put(route, "a", 3, r1)})
	Conflict(t, err, Key(route, "a"), r1, r2)
	_, err = s.Commit(ctx(t), []store.Op{Put(route, "missing", 3, r1)})
	Conflict(t, err, Key(route, "missing"), r1, 0)
	got, err := s.Get(ctx(t), Key(route, "a"))
	if err != nil || got.Revision != r2 || string(got.Value) != string(Value("a", 2)) {
		t.Fatalf("after a stale replace: %+v, %v", got, err)
	}
	r3 := MustCommit(t, s, Put(route, "a", 4, store.Any))
	if r3 <= r2 {
		t.Fatalf("unconditional replace revision %d not after %d", r3, r2)
	}
}

func testCreateExisting(t *testing.T, s store.Store) {
	r1 := MustCommit(t, s, Put(route, "a", 1, store.Missing))
	_, err := s.Commit(ctx(t), []store.Op{Put(route, "a", 2, store.Missing)})
	Conflict(t, err, Key(route, "a"), store.Missing, r1)
	if err.Error() == "" || !errors.As(err, new(*store.ConflictError)) {
		t.Fatalf("error %v", err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	r1 := MustCommit(t, s, Put(route, "a", 1, store.Missing), Put(route, "b", 1, store.Missing))
	_, err := s.Commit(ctx(t), []store.Op{{Key: Key(route, "a"), Expect: r1 + 100}})
	Conflict(t, err, Key(route, "a"), r1+100, r1)
	r2 := MustCommit(t, s, store.Op{Key: Key(route, "a"), Expect: r1})
	if r2 <= r1 {
		t.Fatalf("delete revision %d not after %d", r2, r1)
	}
	if _, err := s.Get(ctx(t), Key(route, "a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	MustCommit(t, s, store.Op{Key: Key(route, "b")})
	if recs, _, _ := s.List(ctx(t), route, "", 0); len(recs) != 0 {
		t.Fatalf("after deletes: %v", names(recs))
	}
	_, err = s.Commit(ctx(t), []store.Op{{Key: Key(route, "a"), Expect: r1}})
	Conflict(t, err, Key(route, "a"), r1, 0)
	// Deleting what is not there without an expectation is not an error.
	MustCommit(t, s, store.Op{Key: Key(route, "gone")})
}

func testAtomicCommit(t *testing.T, s store.Store) {
	r1 := MustCommit(t, s, Put(route, "exists", 1, store.Missing))
	_, err := s.Commit(ctx(t), []store.Op{Put(route, "new", 1, store.Missing), Put(service, "svc", 1, store.Any),
		Put(route, "exists", 2, store.Missing)})
	Conflict(t, err, Key(route, "exists"), store.Missing, r1)
	_, err = s.Commit(ctx(t), []store.Op{{Key: Key(route, "exists"), Expect: r1}, Put(route, "new", 1, store.Any),
		Put(route, "other", 1, r1)})
	Conflict(t, err, Key(route, "other"), r1, 0)
	all, _ := All(t, s)
	if len(all) != 1 || all[0].Key != Key(route, "exists") || all[0].Revision != r1 {
		t.Fatalf("a failed commit wrote something: %v", names(all))
	}
	rev := MustCommit(t, s, Put(route, "new", 1, store.Missing), Put(service, "svc", 1, store.Missing),
		store.Op{Key: Key(route, "exists"), Expect: r1})
	all, _ = All(t, s)
	if len(all) != 2 || all[0].Revision != rev || all[1].Revision != rev {
		t.Fatalf("after a multi-op commit at %d: %+v", rev, all)
	}
}

func testBadOps(t *testing.T, s store.Store) {
	bad := map[string][]store.Op{
		"empty name":      {{Key: Key(route, ""), Value: []byte("{}")}},
		"slash in kind":   {{Key: Key("a/b", "x"), Value: []byte("{}")}},
		"empty namespace": {{Key: ir.Key{Kind: route, Name: "x"}, Value: []byte("{}")}},
		"twice":           {Put(route, "x", 1, store.Any), Put(route, "x", 2, store.Any)},
		"other source":    {{Key: ir.Key{Kind: route, Source: "file", Namespace: "default", Name: "x"}, Value: []byte("{}")}},
	}
	for name, ops := range bad {
		if _, err := s.Commit(ctx(t), ops); err == nil {
			t.Errorf("%s: commit succeeded", name)
		}
	}
	if all, _ := All(t, s); len(all) != 0 {
		t.Fatalf("bad ops wrote %v", names(all))
	}
}

func names(recs []store.Record) []string {
	var n []string
	for _, r := range recs {
		n = append(n, r.Key.Name)
	}
	return n
}
