package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// Pools is where the Manager puts endpoint sets: the upstream Registry.
type Pools interface {
	SetEndpoints(pool string, eps []upstream.EndpointConfig) error
}

// Service is one discovered service: the pool it feeds and what it asks.
type Service struct {
	Pool     string
	Provider string
	Query    Query
	// KeepLastKnown keeps the last non-empty set when a provider that had
	// endpoints answers with none (a registry hiccup must not empty a
	// pool); false: empty means empty.
	KeepLastKnown bool
}

// Status is what the Manager knows of one service, for /readyz and metrics.
type Status struct {
	Pool, Provider string
	Version        uint64 // of the last set applied; 0: none yet
	Endpoints      int
	Applied        uint64 // sets applied
	EmptyKept      uint64 // empty sets refused by KeepLastKnown
	Errors         uint64 // failed polls
	Err            string // the last poll error, until a set arrives
}

// maxBackoff bounds the wait between polls of a provider that is down.
const maxBackoff = 30 * time.Second

// Manager runs one watch per discovered service and feeds the pools.
type Manager struct {
	pools     Pools
	providers map[string]Provider
	log       *slog.Logger
	// StallAfter is how long a watch may send nothing before the Manager
	// polls with Resolve; FirstWait the same before the first set.
	StallAfter, FirstWait time.Duration

	mu     sync.Mutex
	states map[string]*state
}

type state struct {
	svc     Service
	st      Status
	last    []upstream.EndpointConfig
	pending bool // the pool refused the last set (not live yet)
}

// NewManager returns a Manager over the named providers.
func NewManager(pools Pools, providers map[string]Provider, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{pools: pools, providers: providers, log: log.With("component", "discovery"),
		StallAfter: PollEvery, FirstWait: 2 * time.Second, states: map[string]*state{}}
}

// SetProviders replaces the providers by name, for a reloaded discovery
// list. Watches running keep the provider they started with; the caller
// restarts those whose provider changed.
func (m *Manager) SetProviders(providers map[string]Provider) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.providers = providers
}

// Run watches svc until ctx ends.
func (m *Manager) Run(ctx context.Context, svc Service) error {
	m.mu.Lock()
	p := m.providers[svc.Provider]
	m.mu.Unlock()
	if p == nil {
		return fmt.Errorf("discovery: service %q: unknown provider %q", svc.Pool, svc.Provider)
	}
	s := &state{svc: svc, st: Status{Pool: svc.Pool, Provider: svc.Provider}}
	m.mu.Lock()
	m.states[svc.Pool] = s
	m.mu.Unlock()
	defer func() { // a service that is gone leaves Statuses and the metrics
		m.mu.Lock()
		if m.states[svc.Pool] == s {
			delete(m.states, svc.Pool)
		}
		m.mu.Unlock()
	}()
	updates := make(chan Set, 1)
	go func() {
		err := p.Watch(ctx, svc.Query, func(set Set) {
			select { // the newest set wins; update is never concurrent
			case <-updates:
			default:
			}
			updates <- set
		})
		if err != nil && ctx.Err() == nil {
			m.log.Error("discovery: watch ended", "service", svc.Pool, "provider", svc.Provider, "error", err.Error())
		}
	}()
	timer := time.NewTimer(m.FirstWait)
	defer timer.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case set := <-updates:
			m.apply(s, set)
			backoff = time.Second
			timer.Reset(m.StallAfter)
		case <-timer.C:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			set, err := p.Resolve(rctx, svc.Query)
			cancel()
			if err != nil {
				m.mu.Lock()
				s.st.Errors++
				s.st.Err = err.Error()
				m.mu.Unlock()
				m.log.Warn("discovery: provider unreachable; serving what is known", "service", svc.Pool, "provider", svc.Provider, "retry", backoff.String(), "error", err.Error())
				timer.Reset(backoff)
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			m.apply(s, set)
			backoff = time.Second
			timer.Reset(m.StallAfter)
		}
	}
}

// apply converts set and hands it to the pool, unless it is unchanged or
// an empty set KeepLastKnown refuses.
func (m *Manager) apply(s *state, set Set) {
	eps := m.endpoints(s.svc.Pool, set)
	m.mu.Lock()
	defer m.mu.Unlock()
	s.st.Err = ""
	if len(eps) == 0 && len(s.last) > 0 && s.svc.KeepLastKnown {
		s.st.EmptyKept++
		m.log.Warn("discovery: empty set kept out; serving the last known endpoints (keepLastKnown)", "service", s.svc.Pool, "provider", s.svc.Provider, "endpoints", len(s.last))
		return
	}
	if s.st.Version > 0 && !s.pending && slices.EqualFunc(eps, s.last, sameEndpoint) {
		return
	}
	if s.st.Version == 0 || !slices.EqualFunc(eps, s.last, sameEndpoint) {
		s.st.Version++
	}
	s.last, s.st.Endpoints = eps, len(eps)
	if err := m.pools.SetEndpoints(s.svc.Pool, eps); err != nil {
		s.pending = true // the service is not live yet; it takes Endpoints when applied
		m.log.Debug("discovery: endpoints not set", "service", s.svc.Pool, "error", err.Error())
		return
	}
	s.pending = false
	s.st.Applied++
	m.log.Info("discovery: endpoints", "service", s.svc.Pool, "provider", s.svc.Provider, "version", s.st.Version, "count", len(eps))
}

func sameEndpoint(a, b upstream.EndpointConfig) bool {
	return a.Address == b.Address && a.Weight == b.Weight && slices.Equal(a.Tags, b.Tags) && a.Zone == b.Zone
}

// endpoints maps a set onto pool endpoints: unhealthy instances stay out,
// weights are bounded, tags and zones that a pool cannot hold and metadata
// that is not UTF-8 are dropped with a message. The zone goes with the
// endpoint, for services that prefer their gateway's zone.
func (m *Manager) endpoints(pool string, set Set) []upstream.EndpointConfig {
	var out []upstream.EndpointConfig
	for _, in := range set.Instances {
		if !in.Healthy {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(in.Metadata)) {
			if !utf8.ValidString(k) || !utf8.ValidString(in.Metadata[k]) {
				m.log.Warn("discovery: instance metadata is not valid UTF-8; dropped", "service", pool, "instance", in.Address, "key", fmt.Sprintf("%q", k))
			}
		}
		e := upstream.EndpointConfig{Address: in.Address, Weight: min(max(in.Weight, 1), 1_000_000)}
		for _, t := range in.Tags {
			if !ir.ValidTag(t) {
				m.log.Warn("discovery: tag dropped: must be 1-63 printable ASCII characters without spaces or commas", "service", pool, "instance", in.Address, "tag", fmt.Sprintf("%q", t))
				continue
			}
			e.Tags = append(e.Tags, t)
		}
		switch z := in.Zone; {
		case z == "":
		case len(z) > 63 || strings.ContainsFunc(z, func(r rune) bool { return r <= ' ' || r > '~' }):
			m.log.Warn("discovery: zone dropped: must be 1-63 printable ASCII characters without spaces", "service", pool, "instance", in.Address, "zone", fmt.Sprintf("%q", z))
		default:
			e.Zone = z
		}
		if len(out) == MaxInstances {
			m.log.Warn("discovery: set cut to the instance bound", "service", pool, "kept", MaxInstances)
			break
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b upstream.EndpointConfig) int { return strings.Compare(a.Address, b.Address) })
	// A registry may list one host:port twice (two registrations of one
	// instance): the pool takes each address once, the first listed.
	if n := len(out); n > 1 {
		out = slices.CompactFunc(out, func(a, b upstream.EndpointConfig) bool { return a.Address == b.Address })
		if len(out) < n {
			m.log.Warn("discovery: duplicate addresses in the set; each is used once", "service", pool, "dropped", n-len(out))
		}
	}
	return out
}

// Endpoints returns the last set known for pool, for a source that sends
// the service (so a config change carries the discovered endpoints).
func (m *Manager) Endpoints(pool string) []upstream.EndpointConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.states[pool]; s != nil {
		return slices.Clone(s.last)
	}
	return nil
}

// ProviderWatches returns, for each provider that shares its watches
// (Share), how many run.
func (m *Manager) ProviderWatches() map[string]int {
	m.mu.Lock()
	ps := maps.Clone(m.providers)
	m.mu.Unlock()
	out := map[string]int{}
	for name, p := range ps {
		if s, ok := p.(*Shared); ok {
			out[name] = s.Watches()
		}
	}
	return out
}

// Statuses returns every service's status, by pool name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.states))
	for _, s := range m.states {
		out = append(out, s.st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Pool, b.Pool) })
	return out
}
