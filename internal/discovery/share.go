package discovery

import (
	"context"
	"encoding/json"
	"sync"
)

// Shared is a Provider whose watches of one query share one watch of the
// provider underneath: each Ingress that uses a Service annotated with the
// same discovery block has its own pool, and every such pool then takes its
// sets from one registry watch instead of opening one each. A watch that
// joins gets the last set at once; the watch underneath ends with the last
// one that uses it.
type Shared struct {
	Provider
	mu    sync.Mutex
	feeds map[string]*feed // by query
}

// feed is one watch of the provider and the watches that share it.
type feed struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the provider's Watch returned
	err    error         // what it returned, once done
	last   *Set
	subs   map[chan Set]struct{}
}

// Share returns p with its watches shared by query.
func Share(p Provider) *Shared {
	return &Shared{Provider: p, feeds: map[string]*feed{}}
}

// Watches returns how many watches of the provider run underneath, for
// pylon_discovery_provider_watches.
func (s *Shared) Watches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.feeds)
}

// Watch implements Provider. The sets it sends are shared with the other
// watches of q: update must not modify them.
func (s *Shared) Watch(ctx context.Context, q Query, update func(Set)) error {
	key := queryKey(q)
	sub := make(chan Set, 1)
	s.mu.Lock()
	f := s.feeds[key]
	if f == nil {
		f = s.start(key, q)
	}
	f.subs[sub] = struct{}{}
	if f.last != nil {
		sub <- *f.last
	}
	s.mu.Unlock()
	defer s.leave(key, f, sub)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case set := <-sub:
			update(set)
		case <-f.done:
			return f.err // the query can never be answered
		}
	}
}

// start begins the provider's watch of q; the caller holds mu.
func (s *Shared) start(key string, q Query) *feed {
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{cancel: cancel, done: make(chan struct{}), subs: map[chan Set]struct{}{}}
	s.feeds[key] = f
	go func() {
		err := s.Provider.Watch(ctx, q, func(set Set) {
			s.mu.Lock()
			defer s.mu.Unlock()
			f.last = &set
			for sub := range f.subs {
				select { // the newest set wins; only senders hold mu
				case <-sub:
				default:
				}
				sub <- set
			}
		})
		s.mu.Lock()
		f.err = err
		if s.feeds[key] == f {
			delete(s.feeds, key) // a later watch of q starts afresh
		}
		s.mu.Unlock()
		close(f.done)
	}()
	return f
}

// leave removes sub from f, and ends f's watch when it was the last.
func (s *Shared) leave(key string, f *feed, sub chan Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(f.subs, sub)
	if len(f.subs) == 0 {
		f.cancel()
		if s.feeds[key] == f {
			delete(s.feeds, key)
		}
	}
}

// queryKey identifies a query; two services asking the same thing share.
func queryKey(q Query) string {
	b, _ := json.Marshal(q) // a Query of strings, ints and string slices always marshals
	return string(b)
}
