package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// memStore is a store.Store in memory with the real one's Commit semantics
// (atomic ops, Expect checks, one revision per commit).
type memStore struct {
	mu     sync.Mutex
	rev    int64
	objs   map[ir.Key]store.Record
	maxOps int // like etcd's --max-txn-ops; 0 = no limit
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{objs: map[ir.Key]store.Record{}} }

func (m *memStore) Commit(_ context.Context, ops []store.Op) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.maxOps > 0 && len(ops) > m.maxOps {
		return 0, store.ErrBatchTooLarge
	}
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

// refChecker is a Checker in the compiler's image for the cross-object rules
// tests need: a route's services must exist after the change, and a service
// still used by a route cannot be deleted. The store stands in for the live
// config.
type refChecker struct{ s store.Store }

func (c refChecker) Check(ch ir.Change) ir.Result {
	ctx := context.Background()
	gone := map[ir.Key]bool{}
	for _, k := range ch.Deletes {
		gone[k] = true
	}
	exists := map[string]bool{}
	users := map[string]string{} // service → a route using it
	svcs, _, _ := c.s.List(ctx, ir.KindService, "", 0)
	for _, r := range svcs {
		exists[r.Key.Name] = !gone[r.Key]
	}
	routes, _, _ := c.s.List(ctx, ir.KindRoute, "", 0)
	for _, r := range routes {
		if rt, err := ir.DecodeJSON(ir.KindRoute, r.Value); err == nil && !gone[r.Key] {
			for _, b := range rt.(*ir.Route).Backends {
				users[b.Service] = r.Key.Name
			}
		}
	}
	rej := map[ir.Key]error{}
	for _, o := range ch.Upserts {
		if o.Key.Kind == ir.KindService {
			exists[o.Key.Name] = true
		}
	}
	for _, o := range ch.Upserts {
		if r, ok := o.Resource.(*ir.Route); ok {
			for i, b := range r.Backends {
				if !exists[b.Service] {
					rej[o.Key] = &ir.FieldError{Kind: ir.KindRoute, Name: r.Name, Field: fmt.Sprintf("backends[%d].service", i), Msg: "unknown service " + b.Service}
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
