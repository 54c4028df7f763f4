package upstream

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Locality is where this gateway runs: its availability zone and the name of
// its Kubernetes Node. A pool prefers the endpoints near it (see
// Distribution); empty fields match nothing.
type Locality struct {
	Zone string
	Node string
}

// Distribution is a pool's locality preference, after a Kubernetes Service's
// spec.trafficDistribution.
type Distribution uint8

const (
	// AnyEndpoint prefers nothing of its own; EndpointSlice hints that
	// cover every endpoint are still honoured, as kube-proxy does.
	AnyEndpoint Distribution = iota
	// PreferSameZone prefers the endpoints in the gateway's zone: those
	// whose zone hints name it, or, where no endpoint has a zone hint,
	// those whose Zone is the gateway's. Kubernetes' "PreferClose" is a
	// deprecated name of the same thing (KEP-3015) and maps here.
	PreferSameZone
	// PreferSameNode prefers the endpoints on the gateway's Node (by node
	// hints, or where no endpoint has one, by Node), then those in its zone
	// as PreferSameZone does.
	PreferSameNode
)

func (d Distribution) String() string {
	switch d {
	case AnyEndpoint:
		return "any"
	case PreferSameZone:
		return "PreferSameZone"
	case PreferSameNode:
		return "PreferSameNode"
	}
	return fmt.Sprintf("distribution(%d)", uint8(d))
}

// ZoneAware bounds how far a pool holds traffic to its near endpoints. A
// tier of near endpoints (same node, then same zone) is used while it is
// healthy and not overloaded; otherwise the next one, and at last every
// endpoint of the pool.
type ZoneAware struct {
	// MinHealthyShare is the share (0-1) of a tier's endpoints that must be
	// healthy for the tier to be used. 0: the tier is used while one of them
	// is healthy.
	MinHealthyShare float64
	// MaxLoadFactor spills over when the tier's requests in flight per
	// healthy endpoint exceed this many times those of the pool's other
	// healthy endpoints (counted as at least 1, so an idle remainder does not
	// make any load too much). 0: load never spills over.
	MaxLoadFactor float64
}

// The thresholds used when a pool's config leaves ZoneAware nil: spill over
// once fewer than half the near endpoints are healthy (the others would take
// more than twice their share), or once they hold more than twice the
// requests in flight each of the rest of the pool (with the rest idle: more
// than two each).
const (
	DefaultMinHealthyShare = 0.5
	DefaultMaxLoadFactor   = 2
	maxLoadFactor          = 1000
)

// localityRecheck is how long one decision about the tiers holds. Every
// request reads it with one atomic load; one request in each period counts
// health and load over the tiers again, so a tier of hundreds of endpoints
// costs the hot path nothing per request.
var localityRecheck = time.Millisecond

// locality is the near-endpoint part of a snapshot: sub-snapshots of the
// tiers, most preferred first, each never empty, and for each tier the rest
// of the snapshot's endpoints, whose load it is compared with.
type locality struct {
	tiers  []*snapshot
	kinds  []Tier // of each tier: TierNode or TierZone
	others [][]*Endpoint
	za     ZoneAware
	// state packs the time of the last decision (mono() >> 10, about
	// microseconds) above 8 bits of the decision: an index into tiers, or
	// len(tiers) for the whole snapshot.
	state atomic.Int64
}

// Where an endpoint is, relative to the gateway, for building tiers.
const (
	onNode uint8 = 1 << iota
	inZone
)

// Tier is where a pick of a pool with near endpoints came from, for
// pylon_upstream_locality_picks_total.
type Tier uint8

const (
	TierNode  Tier = iota // the endpoints on the gateway's node
	TierZone              // those in its zone
	TierOther             // the pool as a whole: nothing near was healthy and unloaded enough
	tiers
)

func (t Tier) String() string {
	switch t {
	case TierNode:
		return "node"
	case TierZone:
		return "zone"
	case TierOther:
		return "other"
	}
	return fmt.Sprintf("tier(%d)", uint8(t))
}

// placement decides which endpoints of cfg are on the gateway's node and in
// its zone, as kube-proxy decides which are topologically available
// (pkg/proxy/topology.go), plus Pylon's own use of Zone and Node where no
// hints exist:
//
//   - When every endpoint has a node hint and one names the gateway's node,
//     the node tier is the endpoints hinted for it. When only some have
//     node hints, or none names the node, node hints are ignored.
//   - The same for zone hints and the zone tier.
//   - When no endpoint has a hint of a kind, Distribution decides from the
//     endpoints' own Node (PreferSameNode) and Zone (PreferSameZone and
//     PreferSameNode).
//
// It returns nil when no endpoint is near: the pool then balances over all.
func placement(cfg *Config, loc Locality) []uint8 {
	eps := cfg.Endpoints
	if len(eps) == 0 {
		return nil
	}
	node := tier(eps, loc.Node, func(e *EndpointConfig) []string { return e.ForNodes },
		func(e *EndpointConfig) string { return e.Node }, cfg.Distribution >= PreferSameNode)
	zone := tier(eps, loc.Zone, func(e *EndpointConfig) []string { return e.ForZones },
		func(e *EndpointConfig) string { return e.Zone }, cfg.Distribution >= PreferSameZone)
	if node == nil && zone == nil {
		return nil
	}
	out := make([]uint8, len(eps))
	for i := range eps {
		if node != nil && node[i] {
			out[i] |= onNode
		}
		if zone != nil && zone[i] {
			out[i] |= inZone
		}
	}
	return out
}

// tier marks the endpoints near here by one kind of hint, or by the field
// when byField and no endpoint has a hint of that kind; nil when none is.
func tier(eps []EndpointConfig, here string, hints func(*EndpointConfig) []string, field func(*EndpointConfig) string, byField bool) []bool {
	if here == "" {
		return nil
	}
	all, some := true, false
	for i := range eps {
		if len(hints(&eps[i])) == 0 {
			all = false
		} else {
			some = true
		}
	}
	var near func(*EndpointConfig) bool
	switch {
	case all:
		near = func(e *EndpointConfig) bool { return slices.Contains(hints(e), here) }
	case some:
		return nil // as kube-proxy: hints that do not cover every endpoint are not used
	case byField:
		near = func(e *EndpointConfig) bool { return field(e) == here }
	default:
		return nil
	}
	out := make([]bool, len(eps))
	found := false
	for i := range eps {
		if near(&eps[i]) {
			out[i], found = true, true
		}
	}
	if !found {
		return nil
	}
	return out
}

// newLocality builds the tiers of one snapshot's endpoints eps (their
// placements in place) with build making each tier's sub-snapshot; nil
// when no endpoint is near or every one is (a tier of all is the snapshot).
func newLocality(cfg *Config, eps []*Endpoint, place []uint8, build func([]*Endpoint) *snapshot) *locality {
	l := &locality{za: ZoneAware{MinHealthyShare: DefaultMinHealthyShare, MaxLoadFactor: DefaultMaxLoadFactor}}
	if cfg.ZoneAware != nil {
		l.za = *cfg.ZoneAware
	}
	for k, bit := range []uint8{onNode, inZone} {
		var near, rest []*Endpoint
		for i, e := range eps {
			if place[i]&bit != 0 {
				near = append(near, e)
			} else {
				rest = append(rest, e)
			}
		}
		if len(near) == 0 || len(rest) == 0 {
			continue // nothing near, or nothing else to spill to
		}
		if n := len(l.tiers); n > 0 && slices.Equal(l.tiers[n-1].eps, near) {
			continue // the node holds the zone's only endpoints
		}
		l.tiers = append(l.tiers, build(near))
		l.kinds = append(l.kinds, Tier(k))
		l.others = append(l.others, rest)
	}
	if len(l.tiers) == 0 {
		return nil
	}
	now := mono()
	l.state.Store(now>>10<<8 | int64(l.decide(now)))
	return l
}

// choose returns the index of the tier to pick from, or len(l.tiers) for
// the whole snapshot. It takes no lock and does not allocate.
func (l *locality) choose() int {
	now := mono()
	v := l.state.Load()
	if now>>10-v>>8 >= int64(localityRecheck>>10) && l.state.CompareAndSwap(v, now>>10<<8|v&0xff) {
		// This request won the recheck; the others go on with the last
		// decision meanwhile.
		c := l.decide(now)
		l.state.Store(now>>10<<8 | int64(c))
		v = int64(c)
	}
	return int(v & 0xff)
}

// decide returns the first tier healthy and unloaded enough, or
// len(l.tiers) for none.
func (l *locality) decide(now int64) int {
	for i, t := range l.tiers {
		healthy, load := count(t.eps, now)
		if healthy == 0 || float64(healthy) < l.za.MinHealthyShare*float64(len(t.eps)) {
			continue
		}
		if l.za.MaxLoadFactor > 0 {
			oh, ol := count(l.others[i], now)
			if oh > 0 && float64(load)/float64(healthy) > l.za.MaxLoadFactor*max(float64(ol)/float64(oh), 1) {
				continue
			}
		}
		return i
	}
	return len(l.tiers)
}

// count returns how many of eps are healthy at now and their requests in
// flight. It reads the health fields directly, against one clock reading.
func count(eps []*Endpoint, now int64) (healthy int, inflight int64) {
	for _, e := range eps {
		if e.activeDown.Load() {
			continue
		}
		if until := e.ejectedUntil.Load(); until != 0 && now < until {
			continue
		}
		healthy++
		inflight += e.inflight.Load()
	}
	return healthy, inflight
}
