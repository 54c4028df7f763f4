// Package trafficsplit is the traffic-split plugin: canary and gray
// releases. Rules, tried in order, send a request to another service by
// header, cookie, a random percentage, or a stable percentage (a hash of a
// user's header or cookie, so a user never flips sides), and can tag it with
// a header that carries the decision on to the next services.
package trafficsplit

import (
	"math"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("traffic-split", "Canary and gray releases: sends requests to other services by header, cookie, weight or a stable per-user percentage, and tags them", build)
}

// buckets is the resolution of percentages: 0.01%.
const buckets = 10000

// Split is one traffic-split instance. It is read-only after build, so
// requests share it without locks.
type Split struct {
	rules    []rule
	def      *Tag
	fnv      bool
	services []string
	toDef    *plugin.Counter
}

type rule struct {
	service   string
	header    *ValueMatch
	cookie    *ValueMatch
	threshold uint64 // bucket < threshold takes the request; buckets = always
	hasWeight bool
	hashOn    *HashOn
	skipMiss  bool
	salt      uint64 // xxhash of the salt
	saltFNV   uint64 // FNV-1a of the salt: the state the key's hash continues from
	tag       *Tag
	taken     *plugin.Counter
}

var (
	_ plugin.UpstreamHandler = (*Split)(nil)
	_ plugin.ServiceUser     = (*Split)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Split, error) {
	s := &Split{def: cfg.DefaultTag, fnv: cfg.Hash == "fnv", services: cfg.Services(), toDef: env.Counter("default")}
	for _, r := range cfg.Rules {
		ru := rule{service: r.Service, header: r.Header, cookie: r.Cookie, tag: r.Tag, hashOn: r.HashOn,
			threshold: buckets, taken: env.Counter("to:" + r.Service)}
		if r.Weight != nil {
			ru.hasWeight = true
			ru.threshold = uint64(math.Round(*r.Weight * buckets / 100))
		}
		if h := r.HashOn; h != nil {
			salt := h.Salt
			if salt == "" {
				salt = r.Service
			}
			ru.saltFNV = fnv1a(fnvOffset, []byte(salt))
			ru.salt = xxhash.Sum64String(salt)
			ru.skipMiss = h.Missing == "skip"
		}
		s.rules = append(s.rules, ru)
	}
	return s, nil
}

// Services lists the services the rules send to (plugin.ServiceUser).
func (s *Split) Services() []string { return s.services }

// Upstream chooses the service: the first matching rule's, or the route's.
func (s *Split) Upstream(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	for i := range s.rules {
		r := &s.rules[i]
		if !r.matches(c, s.fnv) {
			continue
		}
		if c.SetService(r.service) {
			r.taken.Inc()
			if r.tag != nil {
				c.SetHeader(r.tag.Header, r.tag.Value)
			}
			return plugin.Continue
		}
	}
	s.toDef.Inc()
	if s.def != nil {
		c.SetHeader(s.def.Header, s.def.Value)
	}
	return plugin.Continue
}

func (r *rule) matches(c plugin.Ctx, fnv bool) bool {
	if r.header != nil {
		v, ok := c.Header(r.header.Name)
		if !r.header.match(v, ok) {
			return false
		}
	}
	if r.cookie != nil {
		v, ok := c.Cookie(r.cookie.Name)
		if !r.cookie.match(v, ok) {
			return false
		}
	}
	if !r.hasWeight {
		return true
	}
	if r.hashOn != nil {
		var key []byte
		var ok bool
		if r.hashOn.Header != "" {
			key, ok = c.Header(r.hashOn.Header)
		} else {
			key, ok = c.Cookie(r.hashOn.Cookie)
		}
		if ok && len(key) > 0 {
			return r.bucket(key, fnv) < r.threshold
		}
		if r.skipMiss {
			return false
		}
	}
	switch r.threshold {
	case 0:
		return false
	case buckets:
		return true
	}
	return rand.Uint64N(buckets) < r.threshold
}

// bucket maps a user's key to 0..buckets-1, the same on every node and
// every run.
func (r *rule) bucket(key []byte, fnv bool) uint64 {
	var h uint64
	if fnv {
		h = fnv1a(r.saltFNV, key)
	} else {
		h = mix(xxhash.Sum64(key) ^ r.salt)
	}
	return h % buckets
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a continues a 64-bit FNV-1a hash over b (hash/fnv would allocate its
// state behind an interface).
func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// mix is splitmix64's finalizer: it spreads the salted hash over all bits
// again, so the salt changes which users fall below the threshold.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func (m *ValueMatch) match(v []byte, present bool) bool {
	switch {
	case !present:
		return false
	case m.re != nil:
		return m.re.Match(v)
	case m.Exact != "":
		return string(v) == m.Exact
	}
	return true
}
