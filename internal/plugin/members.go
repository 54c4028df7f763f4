package plugin

import (
	"sync"
)

// Members is a Membership whose source is set once it is known: a node
// joins its cluster after its plugins are built (and may never, when
// standalone). Until then, and without a source, it counts one node.
type Members struct {
	mu      sync.Mutex
	src     Membership
	changed chan struct{}
	stop    chan struct{}
}

// NewMembers returns a membership of one node until Set is called.
func NewMembers() *Members {
	return &Members{changed: make(chan struct{}), stop: make(chan struct{})}
}

// Set makes src the source of the count (nil: back to one node) and tells
// watchers.
func (m *Members) Set(src Membership) {
	m.mu.Lock()
	m.src = src
	close(m.stop)
	m.stop = make(chan struct{})
	stop := m.stop
	m.mu.Unlock()
	m.notify()
	if src == nil {
		return
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-src.Changed():
				m.notify()
			}
		}
	}()
}

// notify wakes every watcher: the current channel is closed and replaced.
func (m *Members) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Live returns the number of live nodes, at least 1.
func (m *Members) Live() int {
	m.mu.Lock()
	src := m.src
	m.mu.Unlock()
	if src == nil {
		return 1
	}
	return max(src.Live(), 1)
}

// Changed returns a channel closed when Live may have changed; call it again
// for the next change. Every watcher is woken.
func (m *Members) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}
