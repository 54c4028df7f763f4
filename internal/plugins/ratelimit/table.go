package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// shardCount splits the key table so concurrent requests for different
// keys rarely meet on a lock.
const shardCount = 64

// sweepEvery is how often a full shard may be swept for settled entries
// when a new key arrives; in between, one sampled entry makes room, so a
// flood of new keys costs O(1) per key rather than a scan each.
const sweepEvery = 100 * time.Millisecond

// table maps keys to per-key state. It holds at most max entries: a new key
// in a full shard first drops entries that have nothing left to remember
// (a full bucket, an ended window), then the sampled entry closest to that
// state. So a flood of distinct client addresses costs bounded memory, and
// what it evicts is the state least likely to matter.
type table[E any] struct {
	seed     maphash.Seed
	perShard int
	newEntry func(key string) *E
	// expiry returns when e will have nothing left to remember (a full
	// bucket, an ended window): from then on it can be dropped without
	// losing anything. When room is short, the smallest goes first.
	expiry func(e *E, now int64) int64
	shards [shardCount]shard[E]
}

type shard[E any] struct {
	mu        sync.RWMutex
	m         map[string]*E
	lastSweep int64
	_         [40]byte // keeps neighbouring shards' locks off one cache line
}

func newTable[E any](maxKeys int, newEntry func(string) *E, expiry func(*E, int64) int64) *table[E] {
	t := &table[E]{seed: maphash.MakeSeed(), perShard: max(1, maxKeys/shardCount),
		newEntry: newEntry, expiry: expiry}
	for i := range t.shards {
		t.shards[i].m = map[string]*E{}
	}
	return t
}

// get returns key's entry, creating it (which allocates) for a new key.
func (t *table[E]) get(key []byte, now int64) *E {
	s := &t.shards[maphash.Bytes(t.seed, key)&(shardCount-1)]
	s.mu.RLock()
	e := s.m[string(key)]
	s.mu.RUnlock()
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e = s.m[string(key)]; e != nil {
		return e
	}
	if len(s.m) >= t.perShard {
		t.makeRoom(s, now)
	}
	k := string(key)
	e = t.newEntry(k)
	s.m[k] = e
	return e
}

// makeRoom drops entries from a full shard. The caller holds s.mu.
func (t *table[E]) makeRoom(s *shard[E], now int64) {
	if now-s.lastSweep >= int64(sweepEvery) {
		s.lastSweep = now
		t.sweepShard(s, now)
		if len(s.m) < t.perShard {
			return
		}
	}
	// Map iteration starts at a random place: a cheap random sample.
	var victim string
	var best int64
	n := 0
	for k, e := range s.m {
		if x := t.expiry(e, now); n == 0 || x < best {
			victim, best = k, x
		}
		if n++; n == 8 {
			break
		}
	}
	delete(s.m, victim)
}

func (t *table[E]) sweepShard(s *shard[E], now int64) {
	for k, e := range s.m {
		if t.expiry(e, now) <= now {
			delete(s.m, k)
		}
	}
}

// sweep drops settled entries from every shard, giving back what a burst of
// keys took once they are idle.
func (t *table[E]) sweep(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.sweepShard(s, now)
		if len(s.m) == 0 {
			s.m = map[string]*E{} // a Go map keeps its buckets; a new one does not
		}
		s.mu.Unlock()
	}
}

// each calls fn for every entry, shard by shard, under the shard's lock.
func (t *table[E]) each(fn func(key string, e *E)) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			fn(k, e)
		}
		s.mu.RUnlock()
	}
}

// Len returns the number of entries.
func (t *table[E]) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
