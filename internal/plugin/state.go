package plugin

import (
	"io"
	"sync"
)

// StateStore holds state that must outlive config generations (counters,
// breaker state, queues), keyed and reference counted: a chain rebuilt for
// an unrelated change takes the same entry again, so nothing resets. An
// entry is dropped (and closed, if it is an io.Closer) when its last user
// releases it.
type StateStore struct {
	mu sync.Mutex
	m  map[string]*stateEntry
}

type stateEntry struct {
	v    any
	refs int
}

// NewStateStore returns an empty store.
func NewStateStore() *StateStore { return &StateStore{m: map[string]*stateEntry{}} }

// Acquire returns the entry under key, creating it with create when there
// is none, and a release function to call once the caller no longer uses it.
func (s *StateStore) Acquire(key string, create func() any) (v any, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		e = &stateEntry{v: create()}
		s.m[key] = e
	}
	e.refs++
	var once sync.Once
	return e.v, func() { once.Do(func() { s.release(key, e) }) }
}

func (s *StateStore) release(key string, e *stateEntry) {
	s.mu.Lock()
	e.refs--
	drop := e.refs == 0 && s.m[key] == e
	if drop {
		delete(s.m, key)
	}
	s.mu.Unlock()
	if c, ok := e.v.(io.Closer); ok && drop {
		_ = c.Close()
	}
}

// Len returns the number of live entries.
func (s *StateStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
