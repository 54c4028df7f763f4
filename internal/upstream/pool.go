package upstream

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
)

// Pool is the long-lived set of endpoints of one service. All methods are safe
// for concurrent use; Pick and the accessors never block.
type Pool struct {
	name string
	log  *slog.Logger
	snap atomic.Pointer[snapshot]
	tr   atomic.Pointer[transport]
	rr   atomic.Uint64 // shared cursor for the round-robin style policies
	// picks counts, in a pool with near endpoints, where each pick came
	// from (by Tier); the pools without any count nothing.
	picks [tiers]atomic.Uint64
	// loc is the gateway's locality, shared by the registry's pools.
	loc *atomic.Pointer[Locality]
	// budget bounds the retries in flight; it outlasts config changes.
	budget RetryBudget

	writeMu sync.Mutex // serializes config writers (update, editEndpoints) across their read-modify-write
	mu      sync.Mutex // serializes update and stop
	cfg     Config
	byAddr  map[string]*Endpoint
	checker *checker
	retired []*checker // stopped checkers whose goroutine may still be finishing
	stopped bool
}

func newPool(cfg Config, log *slog.Logger, loc *atomic.Pointer[Locality]) (*Pool, error) {
	p := &Pool{name: cfg.Name, log: log.With("service", cfg.Name), byAddr: map[string]*Endpoint{}, loc: loc}
	if err := p.update(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// update applies cfg in place. On error nothing changes: the last good config
// keeps serving. Endpoints whose address is unchanged keep their identity,
// health and connections; their connections are replaced only if the
// connection settings (protocol, TLS, timeouts, limits) changed.
func (p *Pool) update(cfg Config) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return p.updateNow(cfg)
}

// editEndpoints replaces only the endpoints, as one read-modify-write: a
// concurrent update cannot slip between the read and the write and be
// undone by it.
func (p *Pool) editEndpoints(eps []EndpointConfig) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	cfg.Endpoints = eps
	return p.updateNow(cfg)
}

// updateNow applies cfg; the caller holds writeMu.
func (p *Pool) updateNow(cfg Config) error {
	cfg, err := normalize(cfg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()

	oldTr := p.tr.Load()
	tr := oldTr
	if tr == nil || tr.key != keyOf(&cfg) {
		if tr, err = newTransport(&cfg); err != nil {
			return err
		}
	}
	var old []*Endpoint
	if s := p.snap.Load(); s != nil {
		old = s.eps
	}
	eps, gone := p.match(old, cfg.Endpoints)
	for i, ec := range cfg.Endpoints {
		e := eps[i]
		if e == nil {
			e = newEndpoint(cfg.Name, ec, tr)
			eps[i] = e
			p.byAddr[ec.Address] = e
		} else {
			e.weight.Store(weightOf(ec))
			if tr != oldTr {
				e.setTransport(tr)
			}
		}
		e.setPassive(cfg.Passive)
	}
	p.tr.Store(tr)
	p.budget.set(cfg.RetryBudgetPercent, cfg.RetryBudgetMin)
	p.snap.Store(newSnapshot(&cfg, eps, *p.loc.Load()))
	for _, e := range gone {
		delete(p.byAddr, e.addr)
		// Requests already on it finish on their own connections.
		e.Client().CloseIdleConnections()
	}
	if oldTr != nil && tr != oldTr {
		oldTr.close()
	}

	if !activeEqual(p.cfg.Active, cfg.Active) {
		if p.checker != nil {
			p.checker.stop()
			p.retired = append(pruneExited(p.retired), p.checker)
			p.checker = nil
		}
		if cfg.Active == nil {
			// Without active checks nothing would ever mark these healthy again.
			for _, e := range eps {
				e.activeDown.Store(false)
			}
		} else if !p.stopped {
			p.checker = startChecker(p, *cfg.Active)
		}
	}
	p.cfg = cfg
	return nil
}

// match pairs each endpoint of eps with the pool's endpoint of that address
// (nil for a new one) and lists the old endpoints no longer in eps. When
// both lists are sorted by address, as discovery and Kubernetes send them,
// it walks them side by side: a set of 2,000 endpoints of which one moved
// costs no map operation but that one's. Otherwise it looks each one up.
func (p *Pool) match(old []*Endpoint, eps []EndpointConfig) (matched, gone []*Endpoint) {
	matched = make([]*Endpoint, len(eps))
	sorted := slices.IsSortedFunc(eps, func(a, b EndpointConfig) int { return strings.Compare(a.Address, b.Address) }) &&
		slices.IsSortedFunc(old, func(a, b *Endpoint) int { return strings.Compare(a.addr, b.addr) })
	if !sorted {
		keep := make(map[*Endpoint]bool, len(eps))
		for i := range eps {
			if e := p.byAddr[eps[i].Address]; e != nil {
				matched[i] = e
				keep[e] = true
			}
		}
		for _, e := range p.byAddr {
			if !keep[e] {
				gone = append(gone, e)
			}
		}
		return matched, gone
	}
	i, j := 0, 0
	for i < len(eps) && j < len(old) {
		switch c := strings.Compare(eps[i].Address, old[j].addr); {
		case c == 0:
			matched[i] = old[j]
			i++
			j++
		case c < 0:
			i++
		default:
			gone = append(gone, old[j])
			j++
		}
	}
	return matched, append(gone, old[j:]...)
}

// relocate rebuilds the pool's tables for a new gateway locality: the
// endpoints, their health and connections, and the checker stay.
func (p *Pool) relocate() {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.snap.Store(newSnapshot(&p.cfg, p.snap.Load().eps, *p.loc.Load()))
}

// pruneExited drops checkers whose goroutine has already ended, so a pool
// whose checks are reconfigured often does not accumulate them.
func pruneExited(cs []*checker) []*checker {
	live := cs[:0]
	for _, c := range cs {
		select {
		case <-c.done:
		default:
			live = append(live, c)
		}
	}
	return live
}

func activeEqual(a, b *ActiveCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && a.Path == b.Path && a.Host == b.Host &&
		a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.HealthyThreshold == b.HealthyThreshold && a.UnhealthyThreshold == b.UnhealthyThreshold &&
		slices.Equal(a.ExpectedStatuses, b.ExpectedStatuses)
}

// stop ends health checking and closes idle connections, and returns the
// checkers to wait for. The pool still answers Pick, so requests routed by a
// table that has not yet been replaced keep working; their connections are
// closed when they go idle.
func (p *Pool) stop() []*checker {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.checker != nil {
		p.checker.stop()
		p.retired = append(p.retired, p.checker)
		p.checker = nil
	}
	cs := p.retired
	p.retired = nil
	for _, e := range p.byAddr {
		e.Client().CloseIdleConnections()
	}
	p.tr.Load().close()
	return cs
}

// Pick returns the endpoint for the next request, or nil when there is none.
// exclude is the endpoint a retry already tried; it is avoided unless it is the
// only healthy one. When no endpoint is healthy, Pick returns one anyway (panic
// mode) unless the pool's config sets StrictHealth. in may be nil when the
// policy is not ConsistentHash. Pick takes no lock and does not allocate.
//
// A pool whose endpoints are partly near the gateway (see Distribution)
// picks among the near ones while they are healthy and not overloaded
// (see ZoneAware), then among all; this composes with the tags below,
// each tag's endpoints preferring their own near ones.
//
// In a pool with tagged endpoints, a request whose input is Tagged and
// names a tag of the pool goes to the healthy endpoints with that tag;
// one without a tag, with a tag the pool does not have, or whose tagged
// endpoints are all unhealthy goes to the untagged ones, and reaches a
// tagged one only with TagFallback, when no untagged one is healthy.
func (p *Pool) Pick(in HashInput, exclude *Endpoint) *Endpoint {
	s := p.snap.Load()
	if t := s.tags; t != nil {
		if tg, ok := in.(Tagged); ok {
			if tag := tg.Tag(); len(tag) > 0 {
				if ts := t.by[string(tag)]; ts != nil {
					if e := p.pickNear(ts, in, exclude); e != nil {
						return e
					}
				}
			}
		}
		if t.fallback && !anyHealthy(t.untagged.eps) {
			return p.pickFrom(s, in, exclude)
		}
		s = t.untagged
	}
	return p.pickFrom(s, in, exclude)
}

func anyHealthy(eps []*Endpoint) bool {
	for _, e := range eps {
		if e.Healthy() {
			return true
		}
	}
	return false
}

// pickNear picks a healthy endpoint of s other than exclude, from the
// tier of near endpoints its locality chooses first, or nil.
func (p *Pool) pickNear(s *snapshot, in HashInput, exclude *Endpoint) *Endpoint {
	l := s.local
	if l == nil {
		return s.pick(&p.rr, in, filter{exclude: exclude})
	}
	if i := l.choose(); i < len(l.tiers) {
		if e := l.tiers[i].pick(&p.rr, in, filter{exclude: exclude}); e != nil {
			p.picks[l.kinds[i]].Add(1)
			return e
		}
	}
	e := s.pick(&p.rr, in, filter{exclude: exclude})
	if e != nil {
		p.picks[TierOther].Add(1)
	}
	return e
}

// LocalityPicks returns how many picks came from each Tier since the pool
// was made, and false for a pool that has never had near endpoints.
func (p *Pool) LocalityPicks() (picks [tiers]uint64, ok bool) {
	for i := range p.picks {
		picks[i] = p.picks[i].Load()
		ok = ok || picks[i] > 0
	}
	return picks, ok || p.snap.Load().local != nil
}

// pickFrom is Pick over one snapshot, with the locality, exclusion and
// panic-mode rules.
func (p *Pool) pickFrom(s *snapshot, in HashInput, exclude *Endpoint) *Endpoint {
	if len(s.eps) == 0 {
		return nil
	}
	if e := p.pickNear(s, in, exclude); e != nil {
		return e
	}
	member := exclude != nil && slices.Contains(s.eps, exclude)
	if member && exclude.Healthy() {
		return exclude
	}
	if s.strict {
		return nil
	}
	if e := s.pick(&p.rr, in, filter{exclude: exclude, any: true}); e != nil {
		return e
	}
	if member {
		return exclude
	}
	return nil
}

// Budget returns the pool's retry budget.
func (p *Pool) Budget() *RetryBudget { return &p.budget }

// Name returns the service name the pool is registered under.
func (p *Pool) Name() string { return p.name }

// Protocol returns how the proxy must talk to this pool's endpoints.
func (p *Pool) Protocol() Protocol { return p.tr.Load().key.protocol }

// H2Transport returns the pool's shared HTTP/2 transport for HTTP2 and H2C
// pools, nil for HTTP1 pools. Requests address an endpoint by putting its
// Address in the URL host. The transport is replaced when the connection
// settings change, so fetch it per request.
func (p *Pool) H2Transport() *http2.Transport { return p.tr.Load().h2 }

// Endpoints returns the pool's current endpoints in config order. The slice is
// a copy; the endpoints are live.
func (p *Pool) Endpoints() []*Endpoint { return slices.Clone(p.snap.Load().eps) }

// IsTLS reports whether connections to the endpoints use TLS (always for
// HTTP2, when Config.TLS is set for HTTP1), so the proxy can pick the URL scheme.
func (p *Pool) IsTLS() bool { return p.tr.Load().key.tls }
