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
	"pylon.io/pylon/internal/source/file"
	"pylon.io/pylon/internal/upstream"
)

// discoveryState holds the discovery providers of the config's discovery
// list and the Manager's watches, one per discovered service. The compile
// stage starts and ends watches as services come and go (compile.Discovery)
// and takes a discovered pool's endpoints from here on every recompile.
type discoveryState struct {
	path   string // the config file or directory holding the list
	m      *discovery.Manager
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	list      []providers.Config
	providers map[string]discovery.Provider
	// retired are providers a reload took out of the list that watches
	// still use; each is closed when its last watch ends.
	retired map[string]discovery.Provider
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
	return &discoveryState{path: o.ConfigPath, list: list, providers: ps, m: discovery.NewManager(pools, maps.Clone(ps), o.Log), log: o.Log,
		ctx: ctx, cancel: cancel, retired: map[string]discovery.Provider{}, watches: map[string]*watch{}}, nil
}

// Check implements compile.Discovery.
func (s *discoveryState) Check(d *ir.ServiceDiscovery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return providers.CheckService(s.list, "discovery", d)
}

// reload reads the discovery list again (SIGHUP) and applies what changed,
// before the config files are re-read so that services may name the new
// providers: a new entry is opened, a changed one is opened anew and the
// watches on it restart over the new connection (their pools keep serving
// meanwhile), and a removed one is closed once no service uses it. A list
// that does not load or open changes nothing.
func (s *discoveryState) reload() error {
	if s.path == "" {
		return nil
	}
	list, err := file.LoadDiscovery(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]providers.Config{}
	for _, c := range s.list {
		old[c.Name] = c
	}
	var fresh []providers.Config
	for _, c := range list {
		if o, ok := old[c.Name]; !ok || !reflect.DeepEqual(o, c) {
			fresh = append(fresh, c)
		}
	}
	opened, err := providers.Open(fresh, s.log)
	if err != nil {
		return err
	}
	next := map[string]discovery.Provider{}
	for _, c := range list {
		if p := opened[c.Name]; p != nil {
			next[c.Name] = p
		} else {
			next[c.Name] = s.providers[c.Name]
		}
	}
	var replaced []discovery.Provider
	for name, p := range s.providers {
		switch {
		case opened[name] != nil:
			replaced = append(replaced, p)
		case next[name] == nil:
			s.retired[name] = p
		}
	}
	s.list, s.providers = list, next
	s.m.SetProviders(maps.Clone(next))
	for pool, w := range s.watches {
		if opened[w.d.Provider] != nil {
			s.start(pool, w.d)
		}
	}
	for _, p := range replaced {
		p.Close()
	}
	s.closeRetired()
	s.log.Info("SIGHUP: discovery list applied", "providers", len(list), "opened", len(opened), "removed", len(s.retired))
	return nil
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
