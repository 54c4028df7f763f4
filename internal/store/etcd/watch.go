package etcd

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"pylon.io/pylon/internal/store"
)

// Watch streams changes after revision until ctx ends or the store closes.
// Changes still in etcd's history are replayed; from revision 0, or past a
// compaction, the first event is a Reset with every object. Across an etcd
// outage the watch resumes from the last revision it delivered.
func (s *Store) Watch(ctx context.Context, revision int64) <-chan store.Event {
	out := make(chan store.Event)
	ctx, cancel := context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		stop := context.AfterFunc(s.cli.Ctx(), cancel) // the store closed
		defer stop()
		s.watch(ctx, revision, out)
	}()
	return out
}

func (s *Store) watch(ctx context.Context, last int64, out chan<- store.Event) {
	send := func(ev store.Event) bool {
		s.seen(ev.Revision) // read from etcd; Status may say so before the caller has it
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := 100 * time.Millisecond
	reset := last <= 0
	for ctx.Err() == nil {
		if reset {
			ev, err := s.snapshot(ctx)
			if err != nil {
				s.pause(ctx, &backoff, "read all objects", err)
				continue
			}
			if !send(ev) {
				return
			}
			last, reset = ev.Revision, false
		}
		// A revision ahead of etcd's own means etcd was wiped or restored
		// from an older backup (or is another cluster): a watch from there
		// would wait for revisions that will never carry our objects.
		if cur, err := s.currentRevision(ctx); err == nil && last > cur {
			slog.Warn("store: etcd is behind this node's revision (wiped or restored?); reading all objects",
				"prefix", s.prefix, "node", last, "etcd", cur)
			reset = true
			continue
		}
		var err error
		last, err = s.follow(ctx, last, send)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, rpctypes.ErrCompacted):
			slog.Info("store: etcd history compacted; reading all objects", "prefix", s.prefix, "revision", last)
			reset = true
		case err != nil:
			s.pause(ctx, &backoff, "watch", err)
		default:
			backoff = 100 * time.Millisecond
		}
	}
}

// currentRevision is etcd's current revision.
func (s *Store) currentRevision(ctx context.Context) (int64, error) {
	c, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(c, s.objects(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// follow watches from last+1 and delivers events until the watch ends. It
// returns the last revision delivered and why the watch ended.
func (s *Store) follow(ctx context.Context, last int64, send func(store.Event) bool) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, s.objects(), clientv3.WithPrefix(), clientv3.WithRev(last+1),
		clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return last, rpctypes.ErrCompacted
		}
		if err := resp.Err(); err != nil {
			return last, err
		}
		for _, ev := range s.events(resp.Events) {
			if !send(ev) {
				return last, ctx.Err()
			}
			last = ev.Revision
		}
		if resp.IsProgressNotify() {
			s.seen(resp.Header.Revision)
		}
	}
	return last, errors.New("watch channel closed")
}

// events turns etcd events into one store.Event per revision: a
// transaction's changes share a revision and arrive together.
func (s *Store) events(evs []*clientv3.Event) []store.Event {
	var out []store.Event
	for _, e := range evs {
		rev := e.Kv.ModRevision
		if len(out) == 0 || out[len(out)-1].Revision != rev {
			out = append(out, store.Event{Revision: rev})
		}
		cur := &out[len(out)-1]
		k, err := s.parse(e.Kv.Key)
		if err != nil {
			slog.Warn("store: etcd watch: skipping a key", "err", err)
			continue
		}
		if e.Type == mvccpb.DELETE {
			cur.Deletes = append(cur.Deletes, k)
		} else {
			cur.Records = append(cur.Records, store.Record{Key: k, Value: e.Kv.Value, Revision: rev})
		}
	}
	return out
}

// pause marks the store unsynced and waits before the next try, doubling
// the wait up to five seconds.
func (s *Store) pause(ctx context.Context, backoff *time.Duration, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	slog.Warn("store: etcd "+what+" failed; retrying", "prefix", s.prefix, "err", err, "retry", *backoff)
	s.setHealth(err)
	select {
	case <-ctx.Done():
	case <-time.After(*backoff):
	}
	*backoff = min(*backoff*2, 5*time.Second)
}
