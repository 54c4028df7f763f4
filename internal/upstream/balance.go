package upstream

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// HashInput is what ConsistentHash reads from a request. The proxy's request
// context implements it over its own buffers; returning sub-slices of those
// keeps Pick allocation-free.
type HashInput interface {
	Header(name string) ([]byte, bool)
	Cookie(name string) ([]byte, bool)
	ClientIP() []byte
	Path() []byte
}

// snapshot is an immutable view of a pool's endpoints and balancing tables.
// Pick reads it through one atomic load; Update builds a new one and swaps it.
type snapshot struct {
	eps     []*Endpoint
	weights []int32
	policy  Policy
	hashOn  HashOn
	strict  bool

	sched []int32 // WeightedRoundRobin: one smooth-WRR cycle of endpoint indexes
	cum   []int64 // Random: cumulative weights, for weighted picks
	ring  ring    // ConsistentHash

	// tags is set when some endpoint has tags: the snapshot then also
	// holds one of the untagged endpoints and one per tag.
	tags *tagged
	// local is set when some of eps are near the gateway (and some not):
	// the tiers picks prefer (see locality).
	local *locality
}

type tagged struct {
	untagged *snapshot
	by       map[string]*snapshot
	fallback bool // TagFallback
}

// Tagged is what a HashInput implements when its request may carry a tag
// (the route's tag header): Tag returns it, or nil.
type Tagged interface{ Tag() []byte }

// maxSchedule bounds the precomputed smooth-WRR cycle; above it weights are
// scaled down proportionally (each keeping at least 1).
const maxSchedule = 1 << 16

func newSnapshot(cfg *Config, eps []*Endpoint, loc Locality) *snapshot {
	// Which endpoints are near is decided over the whole pool, as
	// kube-proxy decides over the whole Service; tagged subsets then
	// prefer their own near endpoints.
	place := placement(cfg, loc)
	s := newSubSnapshot(cfg, eps)
	s.local = localityOf(cfg, eps, place)
	if !slices.ContainsFunc(cfg.Endpoints, func(ec EndpointConfig) bool { return len(ec.Tags) > 0 }) {
		return s
	}
	var untagged []*Endpoint
	var untaggedPlace []uint8
	var by map[string][]*Endpoint
	var byPlace map[string][]uint8
	for i, e := range eps {
		var p uint8
		if place != nil {
			p = place[i]
		}
		if len(cfg.Endpoints[i].Tags) == 0 {
			untagged = append(untagged, e)
			untaggedPlace = append(untaggedPlace, p)
			continue
		}
		if by == nil {
			by, byPlace = map[string][]*Endpoint{}, map[string][]uint8{}
		}
		for _, t := range cfg.Endpoints[i].Tags {
			by[t] = append(by[t], e)
			byPlace[t] = append(byPlace[t], p)
		}
	}
	if by != nil {
		s.tags = &tagged{untagged: newSubSnapshot(cfg, untagged), by: make(map[string]*snapshot, len(by)), fallback: cfg.TagFallback}
		s.tags.untagged.local = localityOf(cfg, untagged, untaggedPlace)
		for t, tes := range by {
			ts := newSubSnapshot(cfg, tes)
			ts.local = localityOf(cfg, tes, byPlace[t])
			s.tags.by[t] = ts
		}
	}
	return s
}

// localityOf returns the tiers of eps, placed by place, or nil.
func localityOf(cfg *Config, eps []*Endpoint, place []uint8) *locality {
	if place == nil {
		return nil
	}
	return newLocality(cfg, eps, place, func(near []*Endpoint) *snapshot { return newSubSnapshot(cfg, near) })
}

func newSubSnapshot(cfg *Config, eps []*Endpoint) *snapshot {
	s := &snapshot{eps: eps, policy: cfg.Policy, hashOn: cfg.HashOn, strict: cfg.StrictHealth}
	s.weights = make([]int32, len(eps))
	for i, e := range eps {
		s.weights[i] = e.weight.Load()
		e.tracking.Store(cfg.Policy == EWMA)
	}
	switch cfg.Policy {
	case WeightedRoundRobin:
		s.sched = smoothSchedule(s.weights)
	case Random:
		s.cum = make([]int64, len(eps))
		var sum int64
		for i, w := range s.weights {
			sum += int64(w)
			s.cum[i] = sum
		}
	case ConsistentHash:
		s.ring = buildRing(eps, s.weights)
	}
	return s
}

// smoothSchedule runs nginx's smooth weighted round robin for one full cycle
// and records the choices. Doing it once per update lets Pick index the cycle
// with an atomic counter instead of updating shared current weights under a
// lock on every request.
func smoothSchedule(weights []int32) []int32 {
	g, total := int64(0), int64(0)
	for _, w := range weights {
		g = gcd(g, int64(w))
		total += int64(w)
	}
	if total == 0 {
		return nil
	}
	w := make([]int64, len(weights))
	sum := int64(0)
	for i, x := range weights {
		w[i] = int64(x) / g
		if total/g > maxSchedule {
			w[i] = max(1, int64(x)*maxSchedule/total)
		}
		sum += w[i]
	}
	cur := make([]int64, len(w))
	sched := make([]int32, sum)
	for n := range sched {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= sum
		sched[n] = int32(best)
	}
	return sched
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// filter says which endpoints a pick may return. It is a value, not a
// closure, so picking neither allocates nor calls indirectly.
type filter struct {
	exclude *Endpoint
	any     bool // ignore health (panic mode)
}

func (f filter) ok(e *Endpoint) bool { return e != f.exclude && (f.any || e.Healthy()) }

// pick chooses an endpoint that passes f, or returns nil. Every policy ends in a
// linear walk from its first choice, so a pick never fails while some
// endpoint qualifies.
func (s *snapshot) pick(rr *atomic.Uint64, in HashInput, f filter) *Endpoint {
	n := len(s.eps)
	switch s.policy {
	case WeightedRoundRobin:
		if len(s.sched) > 0 {
			i := rr.Add(1) % uint64(len(s.sched))
			// The next few slots keep the smooth spread when one endpoint is out;
			// beyond that fall back to a plain walk.
			for k := 0; k < n && k < len(s.sched); k++ {
				if e := s.eps[s.sched[(i+uint64(k))%uint64(len(s.sched))]]; f.ok(e) {
					return e
				}
			}
			return s.walk(int(s.sched[i]), f)
		}
	case LeastRequest, EWMA:
		return s.twoChoices(f)
	case ConsistentHash:
		if key, found := hashKey(in, s.hashOn); found && len(s.ring) > 0 {
			start := s.ring.search(hashBytes(key))
			for k := range s.ring {
				if e := s.eps[s.ring[(start+k)%len(s.ring)].idx]; f.ok(e) {
					return e
				}
			}
			return nil
		}
	case Random:
		r := rand.Int64N(s.cum[n-1])
		lo, hi := 0, n
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s.cum[m] <= r {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return s.walk(lo, f)
	}
	return s.walk(int(rr.Add(1)%uint64(n)), f)
}

func (s *snapshot) walk(start int, f filter) *Endpoint {
	n := len(s.eps)
	for k := range n {
		if e := s.eps[(start+k)%n]; f.ok(e) {
			return e
		}
	}
	return nil
}

// twoChoices samples two distinct endpoints and takes the better one: with
// fewer requests in flight per unit of weight, or for EWMA with the lower
// peak-EWMA latency times (requests in flight + 1) per unit of weight. Two
// random samples avoid the herd that "global least" causes when many
// proxies see the same counts.
func (s *snapshot) twoChoices(f filter) *Endpoint {
	n := len(s.eps)
	if n == 1 {
		return s.walk(0, f)
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := s.eps[i], s.eps[j]
	switch okA, okB := f.ok(a), f.ok(b); {
	case okA && okB:
		if s.prefers(i, j) {
			return a
		}
		return b
	case okA:
		return a
	case okB:
		return b
	}
	return s.walk(i, f)
}

// prefers reports whether endpoint i is at least as good a choice as j.
func (s *snapshot) prefers(i, j int) bool {
	a, b := s.eps[i], s.eps[j]
	if s.policy == EWMA {
		now := mono()
		ca := a.latency(now) * float64(a.inflight.Load()+1) / float64(max(s.weights[i], 1))
		cb := b.latency(now) * float64(b.inflight.Load()+1) / float64(max(s.weights[j], 1))
		if ca != cb { // equal: no samples on either; fewer in flight decides
			return ca < cb
		}
	}
	// Compare (inflight+1)/weight without division.
	return (a.inflight.Load()+1)*int64(s.weights[j]) <= (b.inflight.Load()+1)*int64(s.weights[i])
}

func hashKey(in HashInput, on HashOn) ([]byte, bool) {
	if in == nil {
		return nil, false
	}
	switch on.Kind {
	case HashHeader:
		return in.Header(on.Name)
	case HashCookie:
		return in.Cookie(on.Name)
	case HashClientIP:
		ip := in.ClientIP()
		return ip, len(ip) > 0
	case HashPath:
		p := in.Path()
		return p, len(p) > 0
	}
	return nil, false
}
