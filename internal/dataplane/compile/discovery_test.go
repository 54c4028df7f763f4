package compile

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// setDiscovery plays the discovery Manager's part: it keeps the last set
// it put into each pool (with Registry.SetEndpoints, as the Manager does)
// and hands it back when the compile stage asks.
type setDiscovery struct {
	mu      sync.Mutex
	sets    map[string][]upstream.EndpointConfig
	watched map[string]*ir.ServiceDiscovery
}

func (d *setDiscovery) Watch(pool string, q *ir.ServiceDiscovery) []upstream.EndpointConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watched[pool] = q
	return slices.Clone(d.sets[pool])
}

func (d *setDiscovery) Check(q *ir.ServiceDiscovery) error {
	if q.Provider != "local-dns" {
		return fmt.Errorf("discovery.provider: unknown provider %q", q.Provider)
	}
	return nil
}

func (d *setDiscovery) Forget(pool string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.watched, pool)
}

func (d *setDiscovery) set(t *testing.T, pools *upstream.Registry, pool string, eps ...string) {
	t.Helper()
	var cfg []upstream.EndpointConfig
	for _, e := range eps {
		cfg = append(cfg, upstream.EndpointConfig{Address: e, Weight: 1})
	}
	d.mu.Lock()
	d.sets[pool] = cfg
	d.mu.Unlock()
	if err := pools.SetEndpoints(pool, cfg); err != nil {
		t.Fatal(err)
	}
}

func addresses(p *upstream.Pool) []string {
	var out []string
	for _, e := range p.Endpoints() {
		out = append(out, e.Address())
	}
	slices.Sort(out)
	return out
}

// TestDiscoveredPoolSurvivesRecompile: a discovered service's pool keeps
// the endpoints discovery put there when the service itself, or anything
// else, is recompiled; the config's (empty) list never replaces them.
func TestDiscoveredPoolSurvivesRecompile(t *testing.T) {
	f := newFixture(t)
	d := &setDiscovery{sets: map[string][]upstream.EndpointConfig{}, watched: map[string]*ir.ServiceDiscovery{}}
	f.c.d.Discovery = d
	api := &ir.Service{Name: "api", Discovery: &ir.ServiceDiscovery{Provider: "local-dns", Name: "api.service.test", Port: 8080}}
	if res := f.c.Apply(upserts(api, route("r", "a.test", "/", "api"))); len(res.Rejected) > 0 {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	if d.watched["default/api"] == nil && d.watched["api"] == nil {
		t.Fatalf("no watch started for the service; watched: %v", d.watched)
	}
	pool := ""
	for k := range d.watched {
		pool = k
	}
	d.set(t, f.pools, pool, "127.0.0.2:8080", "127.0.0.3:8080")

	// An unrelated route, then the service itself with another setting.
	f.c.Apply(upserts(route("other", "b.test", "/", "api")))
	api2 := *api
	api2.ConnectTimeout = ir.Duration(3e9)
	if res := f.c.Apply(upserts(&api2)); len(res.Rejected) > 0 {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	if got := addresses(f.pools.Get(pool)); !slices.Equal(got, []string{"127.0.0.2:8080", "127.0.0.3:8080"}) {
		t.Fatalf("after recompiling the service, pool endpoints = %v; want the discovered two", got)
	}

	bad := &ir.Service{Name: "bad", Discovery: &ir.ServiceDiscovery{Provider: "x", Name: "a.test", Port: 1}}
	if res := f.c.Apply(upserts(bad)); res.Rejected[key(ir.KindService, "bad")] == nil {
		t.Fatalf("a service naming an unknown provider was accepted: %v", res.Rejected)
	}

	f.c.Apply(ir.Change{Deletes: []ir.Key{key(ir.KindRoute, "r"), key(ir.KindRoute, "other"), key(ir.KindService, "api")}})
	if d.watched[pool] != nil {
		t.Fatal("the watch of a deleted service was not forgotten")
	}
}
