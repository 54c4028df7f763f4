package admin

import (
	"context"
	"slices"
	"strings"
	"sync"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// memStore is a store.Store in memory with the real one's Commit semantics
// (atomic ops, Expect checks, one revision per commit). commits counts
// successful commits, so tests can prove nothing was written.
type memStore struct {
	mu      sync.Mutex
	rev     int64
	objs    map[ir.Key]store.Record
	commits int
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{objs: map[ir.Key]store.Record{}} }

func (m *memStore) Commit(_ context.Context, ops []store.Op) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range ops {
		cur, ok := m.objs[op.Key]
		switch {
		case op.Expect == store.Missing && ok:
			return 0, &store.ConflictError{Key: op.Key, Expected: store.Missing, Actual: cur.Revision}
		case op.Expect > 0 && cur.Revision != op.Expect:
			return 0, &store.ConflictError{Key: op.Key, Expected: op.Expect, Actual: cur.Revision}
		}
	}
	m.rev++
	for _, op := range ops {
		if op.Value == nil {
			delete(m.objs, op.Key)
			continue
		}
		m.objs[op.Key] = store.Record{Key: op.Key, Value: slices.Clone(op.Value), Revision: m.rev}
	}
	m.commits++
	return m.rev, nil
}

func (m *memStore) Get(_ context.Context, k ir.Key) (store.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.objs[k]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return r, nil
}

func (m *memStore) List(_ context.Context, kind ir.Kind, after string, limit int) ([]store.Record, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Record
	for k, r := range m.objs {
		if k.Kind == kind && k.Name > after {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Record) int { return strings.Compare(a.Key.Name, b.Key.Name) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, m.rev, nil
}

func (m *memStore) Watch(ctx context.Context, _ int64) <-chan store.Event {
	ch := make(chan store.Event)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (m *memStore) Status() store.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return store.Status{Synced: true, Revision: m.rev}
}

func (m *memStore) Close() error { return nil }

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits
}

// refChecker is a Checker in the compiler's image for the cross-object rules
// tests need: a route's services must exist after the change, and a service
// still used by a route cannot be deleted. It reads the store as "live".
type refChecker struct{ s *memStore }

func (c refChecker) Check(ch ir.Change) ir.Result {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	exists := map[string]bool{}
	users := map[string]string{} // service → a route using it
	gone := map[ir.Key]bool{}
	for _, k := range ch.Deletes {
		gone[k] = true
	}
	for k, r := range c.s.objs {
		if gone[k] {
			continue
		}
		switch k.Kind {
		case ir.KindService:
			exists[k.Name] = true
		case ir.KindRoute:
			if rt, err := ir.DecodeJSON(ir.KindRoute, r.Value); err == nil {
				for _, b := range rt.(*ir.Route).Backends {
					users[b.Service] = k.Name
				}
			}
		}
	}
	for _, k := range ch.Deletes {
		if k.Kind == ir.KindService {
			delete(exists, k.Name)
		}
	}
	for _, o := range ch.Upserts {
		if o.Key.Kind == ir.KindService {
			exists[o.Key.Name] = true
		}
	}
	rej := map[ir.Key]error{}
	for _, o := range ch.Upserts {
		if r, ok := o.Resource.(*ir.Route); ok {
			for i, b := range r.Backends {
				if !exists[b.Service] {
					rej[o.Key] = &ir.FieldError{Kind: ir.KindRoute, Name: r.Name, Field: "backends[" + string(rune('0'+i)) + "].service", Msg: "unknown service " + b.Service}
				}
			}
		}
	}
	for _, k := range ch.Deletes {
		if user, ok := users[k.Name]; ok && k.Kind == ir.KindService {
			rej[k] = &ir.FieldError{Kind: ir.KindService, Name: k.Name, Msg: "still referenced by route " + user}
		}
	}
	return ir.Result{Rejected: rej}
}
