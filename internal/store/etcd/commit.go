package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Commit applies ops in one etcd transaction with a compare per expectation.
// When a compare fails, the same transaction reads the checked keys so the
// conflict names the right key and its actual revision.
func (s *Store) Commit(ctx context.Context, ops []store.Op) (int64, error) {
	if err := store.CheckOps(ops); err != nil {
		return 0, err
	}
	var cmps []clientv3.Cmp
	var thens, elses []clientv3.Op
	var checked []store.Op
	for _, op := range ops {
		k, _ := s.keyOf(op.Key) // checked by checkOps
		switch op.Expect {
		case store.Any:
		case store.Missing:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		default:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", op.Expect))
		}
		if op.Expect != store.Any {
			elses = append(elses, clientv3.OpGet(k, clientv3.WithKeysOnly()))
			checked = append(checked, op)
		}
		if op.Value != nil {
			thens = append(thens, clientv3.OpPut(k, string(op.Value)))
		} else {
			thens = append(thens, clientv3.OpDelete(k))
		}
	}
	c, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(c).If(cmps...).Then(thens...).Else(elses...).Commit()
	if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return 0, fmt.Errorf("%w: %d objects; write fewer per batch or raise etcd's --max-txn-ops / --max-request-bytes", store.ErrBatchTooLarge, len(ops))
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// The transaction may have been applied before the answer was
			// lost: the caller must read before writing again.
			return 0, s.wrap("commit "+describe(ops)+" (outcome unknown: read the objects before retrying)", err)
		}
		return 0, s.wrap("commit "+describe(ops), err)
	}
	if resp.Succeeded {
		for i, op := range ops {
			if op.Value != nil || resp.Responses[i].GetResponseDeleteRange().GetDeleted() > 0 {
				return resp.Header.Revision, nil
			}
		}
		// Only deletes of missing keys: nothing changed, and no watch event
		// will ever carry this revision, so none must be waited for.
		return 0, nil
	}
	for i, op := range checked {
		var actual int64
		if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			actual = kvs[0].ModRevision
		}
		if (op.Expect == store.Missing && actual != 0) || (op.Expect > 0 && actual != op.Expect) {
			k := op.Key
			k.Source = store.Source
			return 0, &store.ConflictError{Key: k, Expected: op.Expect, Actual: actual}
		}
	}
	return 0, fmt.Errorf("store: commit %s: etcd refused the transaction but every expectation holds", describe(ops))
}

// describe names the first object of a commit, for errors.
func describe(ops []store.Op) string {
	if len(ops) == 0 {
		return "(nothing)"
	}
	d := fmt.Sprintf("%s %q", ops[0].Key.Kind, ops[0].Key.Name)
	if len(ops) > 1 {
		d += fmt.Sprintf(" and %d more", len(ops)-1)
	}
	return d
}

// Get returns one object or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key ir.Key) (store.Record, error) {
	k, err := s.keyOf(key)
	if err != nil {
		return store.Record{}, err
	}
	c, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(c, k)
	if err != nil {
		return store.Record{}, s.wrap(fmt.Sprintf("get %s %q", key.Kind, key.Name), err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, store.ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.record(kv.Key, kv.Value, kv.ModRevision)
}

func (s *Store) record(key, value []byte, rev int64) (store.Record, error) {
	k, err := s.parse(key)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Key: k, Value: value, Revision: rev}, nil
}

// List returns up to limit objects of kind (0 = all) in key order,
// namespace then name, and the revision it read at (one range read).
// `after` is the last name of the previous page ("" for the first); it is a
// name in namespace "default", the only namespace of admin API objects (see
// CursorNamespace).
func (s *Store) List(ctx context.Context, kind ir.Kind, after string, limit int) ([]store.Record, int64, error) {
	prefix := s.objects() + string(kind) + "/"
	from := prefix
	if after != "" {
		from = prefix + CursorNamespace + "/" + after + "\x00" // the first key after it
	}
	c, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(c, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)),
		clientv3.WithLimit(int64(limit)), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, s.wrap("list "+string(kind), err)
	}
	recs := make([]store.Record, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r, err := s.record(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, r)
	}
	return recs, resp.Header.Revision, nil
}

// snapshot reads every object at one revision, in pages, as a Reset event.
func (s *Store) snapshot(ctx context.Context) (store.Event, error) {
	const page = 1000
	ev := store.Event{Reset: true}
	end := clientv3.GetPrefixRangeEnd(s.objects())
	from := s.objects()
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(page)}
		if ev.Revision != 0 {
			opts = append(opts, clientv3.WithRev(ev.Revision))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return store.Event{}, s.wrap("read all objects", err)
		}
		if ev.Revision == 0 {
			ev.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if r, err := s.record(kv.Key, kv.Value, kv.ModRevision); err == nil {
				ev.Records = append(ev.Records, r)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return ev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
