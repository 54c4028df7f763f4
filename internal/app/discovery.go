package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"sync"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/providers"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// discoveryState holds the open discovery providers, one per
// DiscoveryProvider object (from the files' discovery list or the admin
// API), and the Manager's watches, one per discovered service. The compile
// stage opens and closes providers as their objects come and go, starts and
// ends watches as services do (compile.Discovery), and takes a discovered
// pool's endpoints from here on every recompile.
type discoveryState struct {
	providerChecks
	m      *discovery.Manager
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	providers map[string]discovery.Provider
	// retired are providers whose object went that watches still use;
	// each is closed when its last watch ends.
	retired map[string]discovery.Provider
	watches map[string]*watch // by pool
}

type watch struct {
	d      ir.ServiceDiscovery
	cancel context.CancelFunc
	done   chan struct{}
}

// newDiscovery starts with no provider: they arrive as objects.
func newDiscovery(o Options, pools discovery.Pools) (*discoveryState, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &discoveryState{m: discovery.NewManager(pools, map[string]discovery.Provider{}, o.Log), log: o.Log,
		ctx: ctx, cancel: cancel, providers: map[string]discovery.Provider{},
		retired: map[string]discovery.Provider{}, watches: map[string]*watch{}}, nil
}

// providerChecks are the checks of compile.Discovery; they need no open
// provider, so `pylon validate` runs them too.
type providerChecks struct{}

// CheckProvider implements compile.Discovery.
func (providerChecks) CheckProvider(p *ir.DiscoveryProvider) error {
	_, err := providers.FromObject(p)
	return err
}

// Check implements compile.Discovery.
func (providerChecks) Check(d *ir.ServiceDiscovery, p *ir.DiscoveryProvider) error {
	return providers.CheckQuery(p, d)
}

// checkOnly is the compile.Discovery of `pylon validate`: it checks and
// never publishes (Check does not).
type checkOnly struct{ providerChecks }

func (checkOnly) SetProvider(*ir.DiscoveryProvider) {}
func (checkOnly) DropProvider(string)               {}
func (checkOnly) Watch(string, *ir.ServiceDiscovery) []upstream.EndpointConfig {
	return nil
}
func (checkOnly) Forget(string) {}

// SetProvider implements compile.Discovery: a new provider is opened; a
// changed one (the compile stage sends a provider only when its object's
// hash changed) is opened anew and the watches on it restart over the new
// connection (their pools keep serving meanwhile) before the old one is
// closed. A provider that does not open (it cannot: providers reconnect by
// themselves) is logged and the previous connection, if any, stays.
func (s *discoveryState) SetProvider(p *ir.DiscoveryProvider) {
	c, err := providers.FromObject(p)
	if err != nil {
		s.log.Error("discovery: a checked provider does not read", "provider", p.Name, "error", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	opened, err := providers.OpenOne(c, s.log)
	if err != nil {
		s.log.Error("discovery: provider not opened; its previous connection stays", "provider", p.Name, "error", err.Error())
		return
	}
	// Services asking the same thing (the pools of every Ingress using one
	// annotated Service) share one watch of the registry.
	np := discovery.Share(opened)
	old := s.providers[p.Name]
	if r := s.retired[p.Name]; r != nil {
		old = r // dropped and added again: its watches move to the new one
		delete(s.retired, p.Name)
	}
	s.providers[p.Name] = np
	s.m.SetProviders(maps.Clone(s.providers))
	for pool, w := range s.watches {
		if w.d.Provider == p.Name {
			s.start(pool, w.d)
		}
	}
	if old != nil {
		old.Close()
	}
	kind, _ := p.Block()
	s.log.Info("discovery: provider opened", "provider", p.Name, "kind", kind, "replaced", old != nil)
}

// DropProvider implements compile.Discovery.
func (s *discoveryState) DropProvider(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.providers[name]
	if p == nil {
		return
	}
	delete(s.providers, name)
	s.retired[name] = p
	s.m.SetProviders(maps.Clone(s.providers))
	s.closeRetired()
}

// closeRetired closes the retired providers no watch uses any more; the
// caller holds mu.
func (s *discoveryState) closeRetired() {
	for name, p := range s.retired {
		used := false
		for _, w := range s.watches {
			used = used || w.d.Provider == name
		}
		if !used {
			p.Close()
			delete(s.retired, name)
		}
	}
}

// Watch implements compile.Discovery: it starts the pool's watch, or
// restarts it when the service asks something else, and returns the
// endpoints known so far.
func (s *discoveryState) Watch(pool string, d *ir.ServiceDiscovery) []upstream.EndpointConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.watches[pool]; w != nil && reflect.DeepEqual(w.d, *d) {
		return s.m.Endpoints(pool)
	}
	s.start(pool, *d)
	s.closeRetired()
	return s.m.Endpoints(pool)
}

// start (re)starts the watch of pool; the caller holds mu. A watch that
// restarts ends first, so the pool never hears the old one's sets after
// the new one's.
func (s *discoveryState) start(pool string, d ir.ServiceDiscovery) {
	if w := s.watches[pool]; w != nil {
		w.cancel()
		<-w.done
	}
	ctx, cancel := context.WithCancel(s.ctx)
	w := &watch{d: d, cancel: cancel, done: make(chan struct{})}
	s.watches[pool] = w
	svc := discovery.Service{Pool: pool, Provider: d.Provider, Query: providers.Query(&d), KeepLastKnown: d.KeepsLastKnown()}
	go func() {
		defer close(w.done)
		if err := s.m.Run(ctx, svc); err != nil && ctx.Err() == nil {
			s.log.Error("discovery: watch ended", "service", pool, "error", err.Error())
		}
	}()
}

// Forget implements compile.Discovery.
func (s *discoveryState) Forget(pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.watches[pool]; w != nil {
		w.cancel()
		<-w.done // a service added again must not meet the old watch's sets
		delete(s.watches, pool)
	}
	s.closeRetired()
}

// detail is /readyz's word on discovery: each service whose provider
// fails, and why. Pylon stays ready: it serves what it knows.
func (s *discoveryState) detail() string {
	var b strings.Builder
	for _, st := range s.m.Statuses() {
		if st.Err != "" {
			fmt.Fprintf(&b, "discovery: service %q: provider %q unreachable (%d endpoints known): %s\n", st.Pool, st.Provider, st.Endpoints, st.Err)
		}
	}
	return b.String()
}

// close ends every watch and closes the providers.
func (s *discoveryState) close() {
	s.cancel()
	s.mu.Lock()
	ws := s.watches
	s.watches = map[string]*watch{}
	s.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.providers {
		p.Close()
	}
	for _, p := range s.retired {
		p.Close()
	}
}
