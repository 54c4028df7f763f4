// Package store feeds objects written through the admin API, kept in a
// store.Store (bbolt or etcd), to the compile stage: a full list once, then
// the store's watch from the revision listed, so a node that reconnects
// resumes where it was instead of reloading everything.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// Sink is what the source feeds; the compile stage implements it.
type Sink interface {
	Apply(ir.Change) ir.Result
}

// Source keeps a sink in step with a store.
type Source struct {
	st    store.Store
	log   *slog.Logger // with the source's name
	base  *slog.Logger // as given to New: As names the source on it once
	ready chan struct{}
	once  sync.Once
	rev   atomic.Int64

	mu      sync.Mutex
	applied chan struct{} // closed and replaced after each apply

	known map[ir.Key]uint64 // hash of what was last sent, per key
	// refused are deletes the compile stage refused (a file route still
	// used the service): sent again with every change until they pass.
	refused map[ir.Key]bool
	cache   *Cache // nil: no local copy (the store is local itself)
	name    string // the Source of the objects it feeds
}

// WithCache makes the source keep a local copy of what it applied, and
// start from it (see Cache).
func (s *Source) WithCache(c *Cache) *Source {
	s.cache = c
	return s
}

// New returns a source reading st.
func New(st store.Store, log *slog.Logger) *Source {
	return &Source{st: st, base: log, log: log.With("source", store.Source), ready: make(chan struct{}), known: map[ir.Key]uint64{}, refused: map[ir.Key]bool{}, applied: make(chan struct{}), name: store.Source}
}

// As names the source of the objects fed ("api" by default): a node reading
// what a Kubernetes controller published feeds them as "kubernetes".
func (s *Source) As(name string) *Source {
	s.name = name
	// On the base logger: a second "source" attribute would repeat the
	// key in every JSON line.
	s.log = s.base.With("source", name)
	return s
}

// key is a store key as the sink knows it.
func (s *Source) key(k ir.Key) ir.Key {
	k.Source = s.name
	return k
}

// Ready is closed once the stored objects have been applied.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Revision is the last store revision applied.
func (s *Source) Revision() int64 { return s.rev.Load() }

// Run lists, applies, then follows the watch until ctx ends. It retries the
// first list while the store is unreachable. With a cache it starts from the
// cached copy instead and resumes the watch at the cached revision.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	if s.cache != nil {
		recs, rev, err := s.cache.Load()
		switch {
		case err != nil:
			s.log.Error("store cache unreadable; listing the store", "error", err.Error())
		case rev > 0:
			s.log.Info("resuming from the local copy", "revision", rev, "objects", len(recs))
			s.apply(sink, s.reset(recs), rev)
			s.once.Do(func() { close(s.ready) })
			return s.follow(ctx, sink, rev)
		}
	}
	var recs []store.Record
	var rev int64
	for {
		var err error
		recs, rev, err = s.listAll(ctx)
		if err == nil {
			break
		}
		s.log.Error("store list failed; retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	s.apply(sink, s.reset(recs), rev)
	if s.cache != nil {
		s.cache.Save(store.Event{Revision: rev, Records: recs, Reset: true})
	}
	s.once.Do(func() { close(s.ready) })
	return s.follow(ctx, sink, rev)
}

// follow applies the store's watch from rev until ctx ends.
func (s *Source) follow(ctx context.Context, sink Sink, rev int64) error {
	for ev := range s.st.Watch(ctx, rev) {
		var ch ir.Change
		if ev.Reset {
			s.log.Info("store history lost; applying its full state", "revision", ev.Revision, "objects", len(ev.Records))
			ch = s.reset(ev.Records)
		} else {
			ch = s.delta(ev)
		}
		s.apply(sink, ch, ev.Revision)
		if s.cache != nil {
			s.cache.Save(ev)
		}
	}
	return ctx.Err()
}

// listAll reads every kind. Kinds are listed one by one; the watch starts
// from the oldest revision read, so a write between two lists is replayed
// (an unchanged object then costs a hash compare).
func (s *Source) listAll(ctx context.Context) ([]store.Record, int64, error) {
	var all []store.Record
	var min int64
	for i, kind := range ir.Kinds {
		recs, rev, err := s.st.List(ctx, kind, "", 0)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list %ss: %w", kind, err)
		}
		if i == 0 || rev < min {
			min = rev
		}
		all = append(all, recs...)
	}
	return all, min, nil
}

// reset turns a full state into a change against what was sent before.
func (s *Source) reset(recs []store.Record) ir.Change {
	var ch ir.Change
	seen := make(map[ir.Key]bool, len(recs))
	for _, r := range recs {
		seen[s.key(r.Key)] = true
		if o, ok := s.decode(r); ok && s.known[o.Key] != o.Hash {
			ch.Upserts = append(ch.Upserts, o)
		}
	}
	for k := range s.known {
		if !seen[k] {
			ch.Deletes = append(ch.Deletes, k)
		}
	}
	return ch
}

func (s *Source) delta(ev store.Event) ir.Change {
	var ch ir.Change
	for _, r := range ev.Records {
		delete(s.refused, s.key(r.Key)) // written again: no longer to be deleted
		if o, ok := s.decode(r); ok && s.known[o.Key] != o.Hash {
			ch.Upserts = append(ch.Upserts, o)
		}
	}
	for _, k := range ev.Deletes {
		ch.Deletes = append(ch.Deletes, s.key(k))
	}
	return ch
}

// decode turns a record into an object. A record this node cannot read
// (written by a newer version, say) is logged and skipped: the last good
// version of it stays live.
func (s *Source) decode(r store.Record) (ir.Object, bool) {
	res, err := ir.DecodeJSON(r.Key.Kind, r.Value)
	if err != nil {
		s.log.Error("stored object unreadable", "object", r.Key.String(), "revision", r.Revision, "error", err.Error())
		return ir.Object{}, false
	}
	if res.ResourceName() != r.Key.Name {
		s.log.Error("stored object misnamed", "object", r.Key.String(), "name", res.ResourceName())
		return ir.Object{}, false
	}
	return ir.NewObject(s.name, r.Key.Namespace, res), true
}

func (s *Source) apply(sink Sink, ch ir.Change, rev int64) {
	if len(ch.Upserts)+len(ch.Deletes) > 0 {
		for k := range s.refused {
			if !slices.Contains(ch.Deletes, k) {
				ch.Deletes = append(ch.Deletes, k)
			}
		}
		ch.Event = time.Now()
		res := sink.Apply(ch)
		for _, o := range ch.Upserts {
			if _, bad := res.Rejected[o.Key]; !bad {
				s.known[o.Key] = o.Hash
			}
		}
		for _, k := range ch.Deletes {
			if _, bad := res.Rejected[k]; bad {
				s.refused[k] = true
			} else {
				delete(s.known, k)
				delete(s.refused, k)
			}
		}
		for k, err := range res.Rejected {
			s.log.Error("object rejected", "object", k.String(), "revision", rev, "error", err.Error())
		}
		s.log.Info("config applied", "upserts", len(ch.Upserts), "deletes", len(ch.Deletes), "rejected", len(res.Rejected), "revision", rev)
	}
	s.rev.Store(rev)
	s.mu.Lock()
	close(s.applied)
	s.applied = make(chan struct{})
	s.mu.Unlock()
}

// WaitRevision blocks until the store revision rev is applied on this node
// (or ctx ends), so an admin API write is answered once it is live here and
// the next write is checked against it.
func (s *Source) WaitRevision(ctx context.Context, rev int64) error {
	for {
		s.mu.Lock()
		ch := s.applied
		s.mu.Unlock()
		if s.rev.Load() >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
