package router

import (
	"hash/maphash"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// numShards splits the host index so that replacing one host copies one
// shard (about 400 hosts at 100k) instead of the whole index.
const numShards = 256

// Router maps a request's host and path to the value of the route that
// matches. Matching reads an immutable snapshot through one atomic load and
// never locks or allocates; Apply builds the next snapshot copy-on-write.
type Router[T any] struct {
	mu   sync.Mutex // serializes writers; readers never take it
	idx  atomic.Pointer[index[T]]
	seed maphash.Seed
}

// index is one published generation of the host index. Its shard maps are
// never written after publication; Apply copies the shards it touches and
// shares the rest with the previous generation.
type index[T any] struct {
	exact [numShards]*shard[T]
	// wild is keyed by the suffix after "*.", e.g. "example.com".
	wild  [numShards]*shard[T]
	def   *HostTable[T]
	nwild int
	n     int
}

// New returns an empty Router.
func New[T any]() *Router[T] {
	r := &Router[T]{seed: maphash.MakeSeed()}
	r.idx.Store(&index[T]{})
	return r
}

// Apply replaces and removes many hosts and publishes them together with one
// atomic store, so a reader sees all of the batch or none of it. A nil table
// removes the host. Keys are exact hosts ("a.example.com", IPv6 literals in
// brackets), wildcards ("*.example.com") or "*" for the default host; they
// are lowercased and a trailing dot is dropped. Hosts not named keep their
// *HostTable and their shard untouched.
func (r *Router[T]) Apply(tables map[string]*HostTable[T]) {
	if len(tables) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.idx.Load()
	next := *old // copies the shard arrays (maps are shared until touched)
	var touched [2][numShards]bool
	for key, t := range tables {
		k := normalizeKey(key)
		if k == "*" {
			next.n += count(t) - count(next.def)
			next.def = t
			continue
		}
		shards, kind := &next.exact, 0
		if suffix, ok := strings.CutPrefix(k, "*."); ok {
			shards, kind, k = &next.wild, 1, suffix
		}
		s := r.shard(k)
		if !touched[kind][s] {
			touched[kind][s] = true
			shards[s] = shards[s].clone()
		}
		d := shards[s].set(k, t)
		next.n += d
		if kind == 1 {
			next.nwild += d
		}
	}
	r.idx.Store(&next)
}

// inlineHost is the longest host kept inside its map key. An array key is
// compared in the map's own memory, where a string key costs one more cache
// miss to reach its bytes; with 100k hosts that miss is a third of a lookup.
const inlineHost = 63

type hostKey struct {
	n uint8
	b [inlineHost]byte
}

// shard is one immutable part of the host index. Apply clones the shards it
// touches; a nil shard is empty.
type shard[T any] struct {
	short map[hostKey]*HostTable[T]
	long  map[string]*HostTable[T] // hosts longer than inlineHost
}

func (s *shard[T]) get(h []byte) *HostTable[T] {
	if s == nil {
		return nil
	}
	if len(h) <= inlineHost {
		k := hostKey{n: uint8(len(h))}
		copy(k.b[:], h)
		return s.short[k]
	}
	return s.long[string(h)]
}

func (s *shard[T]) clone() *shard[T] {
	if s == nil {
		return &shard[T]{short: map[hostKey]*HostTable[T]{}, long: map[string]*HostTable[T]{}}
	}
	return &shard[T]{short: maps.Clone(s.short), long: maps.Clone(s.long)}
}

// set stores or, for a nil t, deletes a host in a shard that is not yet
// published, and returns the change in the number of hosts.
func (s *shard[T]) set(h string, t *HostTable[T]) int {
	prev := s.get([]byte(h))
	switch {
	case len(h) > inlineHost && t == nil:
		delete(s.long, h)
	case len(h) > inlineHost:
		s.long[h] = t
	default:
		k := hostKey{n: uint8(len(h))}
		copy(k.b[:], h)
		if t == nil {
			delete(s.short, k)
		} else {
			s.short[k] = t
		}
	}
	return count(t) - count(prev)
}

func count[T any](t *HostTable[T]) int {
	if t == nil {
		return 0
	}
	return 1
}

// Table returns the live table stored under key (normalized as in Apply), or
// nil. Unlike Match it does not fall back to wildcards or the default host.
func (r *Router[T]) Table(key string) *HostTable[T] {
	ix := r.idx.Load()
	k := normalizeKey(key)
	if k == "*" {
		return ix.def
	}
	if suffix, ok := strings.CutPrefix(k, "*."); ok {
		return ix.wild[r.shard(suffix)].get([]byte(suffix))
	}
	return ix.exact[r.shard(k)].get([]byte(k))
}

// Len returns the number of hosts, counting wildcards and the default host.
func (r *Router[T]) Len() int { return r.idx.Load().n }

// Match finds the host table for host and returns the value of its first
// route matching path and req. Host is the Host header or :authority as
// received (any case, with or without port or trailing dot); path is the raw
// path without the query string. Only the most specific host table is
// consulted, as nginx picks one server block: exact host, then the longest
// matching wildcard, then the default host.
func (r *Router[T]) Match(host, path []byte, req Request) (T, bool) {
	if t := r.lookupHost(host); t != nil {
		if v := t.lookup(path, req); v != nil {
			return *v, true
		}
	}
	var zero T
	return zero, false
}

func (r *Router[T]) lookupHost(host []byte) *HostTable[T] {
	ix := r.idx.Load()
	var buf [hostBufSize]byte
	h, ip := normalizeHost(&buf, host)
	if t := ix.exact[r.shardBytes(h)].get(h); t != nil {
		return t
	}
	if ix.nwild > 0 && !ip {
		// Scanning dots left to right tries the longest suffix first, so
		// "*.b.example.com" beats "*.example.com". A wildcard needs a
		// non-empty label in front, so "*.example.com" misses "example.com".
		for i := 1; i < len(h); i++ {
			if h[i] != '.' {
				continue
			}
			s := h[i+1:]
			if t := ix.wild[r.shardBytes(s)].get(s); t != nil {
				return t
			}
		}
	}
	return ix.def
}

func (r *Router[T]) shard(k string) int {
	return int(maphash.String(r.seed, k) % numShards)
}

// shardBytes equals shard(string(b)); maphash guarantees Bytes and String
// agree on equal contents.
func (r *Router[T]) shardBytes(b []byte) int {
	return int(maphash.Bytes(r.seed, b) % numShards)
}
