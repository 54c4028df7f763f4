package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/providers"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
	"pylon.io/pylon/internal/upstream"
)

// discoveryState holds the discovery providers of the config's discovery
// list and the Manager's watches, one per discovered service. The compile
// stage starts and ends watches as services come and go (compile.Discovery)
// and takes a discovered pool's endpoints from here on every recompile.
type discoveryState struct {
	list      []providers.Config
	providers map[string]discovery.Provider
	m         *discovery.Manager
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc

	mu      sync.Mutex
	watches map[string]*watch // by pool
}

type watch struct {
	d      ir.ServiceDiscovery
	cancel context.CancelFunc
	done   chan struct{}
}

// newDiscovery opens the providers of the config's discovery list. A
// registry that is down does not stop the start: the pools serve what is
// known and /readyz says which provider fails.
func newDiscovery(o Options, pools discovery.Pools) (*discoveryState, error) {
	var list []providers.Config
	if o.ConfigPath != "" {
		l, err := file.LoadDiscovery(o.ConfigPath)
		if err != nil {
			return nil, err
		}
		list = l
	}
	ps, err := providers.Open(list, o.Log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &discoveryState{list: list, providers: ps, m: discovery.NewManager(pools, ps, o.Log), log: o.Log,
		ctx: ctx, cancel: cancel, watches: map[string]*watch{}}, nil
}

// Check implements compile.Discovery.
func (s *discoveryState) Check(d *ir.ServiceDiscovery) error {
	return providers.CheckService(s.list, "discovery", d)
}

// Watch implements compile.Discovery: it starts the pool's watch, or
// restarts it when the service asks something else, and returns the
// endpoints known so far.
func (s *discoveryState) Watch(pool string, d *ir.ServiceDiscovery) []upstream.EndpointConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.watches[pool]; w != nil {
		if reflect.DeepEqual(w.d, *d) {
			return s.m.Endpoints(pool)
		}
		w.cancel()
		<-w.done
	}
	ctx, cancel := context.WithCancel(s.ctx)
	w := &watch{d: *d, cancel: cancel, done: make(chan struct{})}
	s.watches[pool] = w
	svc := discovery.Service{Pool: pool, Provider: d.Provider, Query: providers.Query(d), KeepLastKnown: d.KeepsLastKnown()}
	go func() {
		defer close(w.done)
		if err := s.m.Run(ctx, svc); err != nil && ctx.Err() == nil {
			s.log.Error("discovery: watch ended", "service", pool, "error", err.Error())
		}
	}()
	return s.m.Endpoints(pool)
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
	for _, p := range s.providers {
		p.Close()
	}
}
