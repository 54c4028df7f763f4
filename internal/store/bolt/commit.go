package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Commit applies ops in one bbolt write transaction, which bbolt fsyncs
// before it returns. A commit that changes something bumps the revision
// once and stamps every record it writes with it.
func (s *Store) Commit(ctx context.Context, ops []store.Op) (int64, error) {
	if err := store.CheckOps(ops); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: commit: %w", err)
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var ev store.Event
	err := s.db.Update(func(tx *bbolt.Tx) error {
		meta, objs := tx.Bucket(bucketMeta), tx.Bucket(bucketObjects)
		rev := readRevision(meta) + 1
		ev = store.Event{Revision: rev}
		for _, op := range ops {
			p, _ := path(op.Key) // checked by checkOps
			k, _ := parsePath(p)
			actual, err := revisionOf(objs.Get(p), op.Key)
			if err != nil {
				return err
			}
			if conflict(op.Expect, actual) {
				return &store.ConflictError{Key: k, Expected: op.Expect, Actual: actual}
			}
			switch {
			case op.Value != nil:
				if err := objs.Put(p, encode(rev, op.Value)); err != nil {
					return fmt.Errorf("store: put %s %q: %w", k.Kind, k.Name, err)
				}
				ev.Records = append(ev.Records, store.Record{Key: k, Value: bytes.Clone(op.Value), Revision: rev})
			case actual != 0:
				if err := objs.Delete(p); err != nil {
					return fmt.Errorf("store: delete %s %q: %w", k.Kind, k.Name, err)
				}
				ev.Deletes = append(ev.Deletes, k)
			}
		}
		if len(ev.Records) == 0 && len(ev.Deletes) == 0 {
			ev.Revision = rev - 1 // nothing changed: no new revision
			return nil
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(rev))
		return meta.Put(keyRevision, b[:])
	})
	if err != nil {
		if _, ok := err.(*store.ConflictError); ok {
			return 0, err
		}
		return 0, fmt.Errorf("store: commit to %s: %w", s.path, err)
	}
	if len(ev.Records) == 0 && len(ev.Deletes) == 0 {
		return 0, nil // nothing changed (store.Store's contract)
	}
	s.broadcast(ev)
	return ev.Revision, nil
}

// conflict reports whether a record at actual (0 = missing) fails expect.
func conflict(expect, actual int64) bool {
	switch expect {
	case store.Any:
		return false
	case store.Missing:
		return actual != 0
	}
	return actual != expect
}

func revisionOf(v []byte, k ir.Key) (int64, error) {
	if v == nil {
		return 0, nil
	}
	if len(v) < 8 {
		return 0, fmt.Errorf("store: %s %q: stored value is corrupt", k.Kind, k.Name)
	}
	return int64(binary.BigEndian.Uint64(v[:8])), nil
}

// Get returns one object or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key ir.Key) (store.Record, error) {
	p, err := path(key)
	if err != nil {
		return store.Record{}, err
	}
	var rec store.Record
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketObjects).Get(p)
		if v == nil {
			return store.ErrNotFound
		}
		k, _ := parsePath(p)
		rev, val, err := decode(v)
		if err != nil {
			return fmt.Errorf("store: %s %q: %w", k.Kind, k.Name, err)
		}
		rec = store.Record{Key: k, Value: val, Revision: rev}
		return nil
	})
	return rec, err
}

// List returns up to limit objects of kind (0 = all) in key order,
// namespace then name, and the revision it read at. `after` is the last
// name of the previous page ("" for the first); it is a name in namespace
// "default", the only namespace of admin API objects (see CursorNamespace).
func (s *Store) List(ctx context.Context, kind ir.Kind, after string, limit int) ([]store.Record, int64, error) {
	prefix := []byte(string(kind) + "/")
	var recs []store.Record
	var rev int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		rev = readRevision(tx.Bucket(bucketMeta))
		c := tx.Bucket(bucketObjects).Cursor()
		start := prefix
		if after != "" {
			start = []byte(string(prefix) + CursorNamespace + "/" + after + "\x00") // the first key after it
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if limit > 0 && len(recs) == limit {
				break
			}
			rec, err := record(k, v)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list %s: %w", kind, err)
	}
	return recs, rev, nil
}

func record(p, v []byte) (store.Record, error) {
	k, err := parsePath(p)
	if err != nil {
		return store.Record{}, err
	}
	rev, val, err := decode(v)
	if err != nil {
		return store.Record{}, fmt.Errorf("store: %s %q: %w", k.Kind, k.Name, err)
	}
	return store.Record{Key: k, Value: val, Revision: rev}, nil
}

// snapshot reads every object and the revision, as a Reset event.
func (s *Store) snapshot() (store.Event, error) {
	ev := store.Event{Reset: true}
	err := s.db.View(func(tx *bbolt.Tx) error {
		ev.Revision = readRevision(tx.Bucket(bucketMeta))
		return tx.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
			rec, err := record(k, v)
			if err == nil {
				ev.Records = append(ev.Records, rec)
			}
			return err
		})
	})
	return ev, err
}
