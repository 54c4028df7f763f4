// Package passcache remembers credentials that passed an expensive check
// (bcrypt, a signature), by a digest, so a client sending the same
// credentials again costs a lookup. Failures are never put in it. It is
// bounded: when full it is cleared, which costs the next requests one check
// each again.
package passcache

import "sync"

// Max bounds the entries of one cache.
const Max = 4096

// Cache maps a credential's digest to what its check found.
type Cache[V any] struct {
	mu sync.RWMutex
	m  map[[32]byte]V
}

// Get returns what was put for key.
func (c *Cache[V]) Get(key [32]byte) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	return v, ok
}

// Put remembers v for key, clearing the cache first when it is full.
func (c *Cache[V]) Put(key [32]byte, v V) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= Max {
		c.m = make(map[[32]byte]V)
	}
	c.m[key] = v
	c.mu.Unlock()
}

// Clear forgets everything (benchmarks of the uncached path).
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
