package bolt

import (
	"context"
	"log/slog"
	"sync"

	"pylon.io/pylon/internal/store"
)

// watcher is one Watch: committed events are queued for it without blocking
// Commit, and its goroutine hands them to the caller's channel. A watcher
// whose queue overflows drops the queue and gets a Reset instead.
type watcher struct {
	notify chan struct{} // capacity 1: something was queued

	mu    sync.Mutex
	queue []store.Event
	reset bool // send the full state before the queue
}

// Watch streams committed events after revision until ctx ends. A revision
// older than the current one cannot be replayed (a single node keeps no
// change log), so the first event is then a Reset with every object.
func (s *Store) Watch(ctx context.Context, revision int64) <-chan store.Event {
	out := make(chan store.Event)
	w := &watcher{notify: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(out)
		return out
	}
	w.reset = revision < s.rev
	s.watchers[w] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(ctx, w, revision, out)
	return out
}

func (s *Store) run(ctx context.Context, w *watcher, last int64, out chan<- store.Event) {
	defer s.wg.Done()
	defer close(out)
	defer func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}()
	send := func(ev store.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	for {
		w.mu.Lock()
		reset, queue := w.reset, w.queue
		w.reset, w.queue = false, nil
		w.mu.Unlock()
		if reset {
			// Events already queued were committed before this snapshot
			// and are skipped by revision below.
			ev, err := s.snapshot()
			if err != nil {
				slog.Error("store: watch: read full state", "path", s.path, "err", err)
				return
			}
			if !send(ev) {
				return
			}
			last = ev.Revision
		}
		for _, ev := range queue {
			if ev.Revision <= last {
				continue
			}
			if !send(ev) {
				return
			}
			last = ev.Revision
		}
		select {
		case <-w.notify:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// broadcast records rev as committed and queues ev for every watcher. The
// caller holds commitMu, so events are queued in revision order.
func (s *Store) broadcast(ev store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev = ev.Revision
	for w := range s.watchers {
		w.mu.Lock()
		if len(w.queue) >= s.opts.watchQueue {
			// Too slow to keep up: the Reset will include ev, which is
			// committed already.
			w.queue, w.reset = nil, true
		} else {
			w.queue = append(w.queue, ev)
		}
		w.mu.Unlock()
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}
