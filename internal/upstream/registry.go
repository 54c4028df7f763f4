package upstream

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
)

// Registry owns the pools of a process, keyed by service name and reference
// counted, so that pools (with their health state and connections) outlive
// the config generations that refer to them.
type Registry struct {
	log *slog.Logger
	loc atomic.Pointer[Locality]

	mu     sync.Mutex
	pools  map[string]*entry
	closed []*checker // stopped checkers, waited for by Close
}

type entry struct {
	pool *Pool
	refs int
}

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the logger for health transitions; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// NewRegistry returns an empty registry.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{log: slog.Default(), pools: map[string]*entry{}}
	r.loc.Store(&Locality{})
	for _, o := range opts {
		o(r)
	}
	r.log = r.log.With("component", "upstream")
	return r
}

// Acquire returns the pool for cfg.Name and takes one reference to it. An
// existing pool is updated in place to cfg; a new one is created. If cfg is
// invalid, nothing changes and no reference is taken.
func (r *Registry) Acquire(cfg Config) (*Pool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.pools[cfg.Name]; e != nil {
		if err := e.pool.update(cfg); err != nil {
			return nil, err
		}
		e.refs++
		return e.pool, nil
	}
	p, err := newPool(cfg, r.log, &r.loc)
	if err != nil {
		return nil, err
	}
	r.pools[cfg.Name] = &entry{pool: p, refs: 1}
	return p, nil
}

// Update applies cfg to the existing pool cfg.Name in place. Endpoints matched
// by address keep their *Endpoint, health and connections. On error the pool
// keeps its previous config.
func (r *Registry) Update(cfg Config) error {
	p := r.Get(cfg.Name)
	if p == nil {
		return fmt.Errorf("upstream: service %q: update: no such pool", cfg.Name)
	}
	return p.update(cfg)
}

// SetEndpoints replaces only the endpoints of pool name, for discovery, which
// feeds endpoints without going through config translation.
func (r *Registry) SetEndpoints(name string, eps []EndpointConfig) error {
	p := r.Get(name)
	if p == nil {
		return fmt.Errorf("upstream: service %q: set endpoints: no such pool", name)
	}
	return p.editEndpoints(eps)
}

// Release drops one reference to pool name. At zero the pool leaves the
// registry and is stopped: health checks end and idle connections close, while
// requests in flight on it finish.
func (r *Registry) Release(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.pools[name]
	if e == nil {
		return
	}
	if e.refs--; e.refs > 0 {
		return
	}
	delete(r.pools, name)
	r.closed = append(pruneExited(r.closed), e.pool.stop()...)
}

// SetLocality tells the pools where this gateway runs; each rebuilds its
// balancing tables in place (no endpoint, health state or connection is
// replaced). The zone may change while Pylon runs (its Node was relabelled).
func (r *Registry) SetLocality(l Locality) {
	if old := r.loc.Swap(&l); *old == l {
		return
	}
	r.log.Info("upstream: locality", "zone", l.Zone, "node", l.Node)
	r.Each(func(p *Pool) { p.relocate() })
}

// Locality returns where the pools take this gateway to run.
func (r *Registry) Locality() Locality { return *r.loc.Load() }

// Get returns the pool registered as name, or nil.
func (r *Registry) Get(name string) *Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.pools[name]; e != nil {
		return e.pool
	}
	return nil
}

// Each calls fn for every pool, in name order, for metrics. fn runs without the
// registry lock held, so it may call back into the registry.
func (r *Registry) Each(fn func(*Pool)) {
	r.mu.Lock()
	pools := make([]*Pool, 0, len(r.pools))
	for _, e := range r.pools {
		pools = append(pools, e.pool)
	}
	r.mu.Unlock()
	sort.Slice(pools, func(i, j int) bool { return pools[i].name < pools[j].name })
	for _, p := range pools {
		fn(p)
	}
}

// Close stops every pool regardless of references and waits for all health
// checkers to exit.
func (r *Registry) Close() {
	r.mu.Lock()
	for name, e := range r.pools {
		r.closed = append(r.closed, e.pool.stop()...)
		delete(r.pools, name)
	}
	closed := r.closed
	r.closed = nil
	r.mu.Unlock()
	for _, c := range closed {
		<-c.done
	}
}
