package compile

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// setDiscovery plays the discovery Manager's part: it keeps the last set
// it put into each pool (with Registry.SetEndpoints, as the Manager does)
// and hands it back when the compile stage asks.
type setDiscovery struct {
	mu        sync.Mutex
	sets      map[string][]upstream.EndpointConfig
	watched   map[string]*ir.ServiceDiscovery
	providers map[string]*ir.DiscoveryProvider // open
}

func newSetDiscovery() *setDiscovery {
	return &setDiscovery{sets: map[string][]upstream.EndpointConfig{}, watched: map[string]*ir.ServiceDiscovery{}, providers: map[string]*ir.DiscoveryProvider{}}
}

var localDNS = &ir.DiscoveryProvider{Name: "local-dns", DNS: map[string]any{"servers": []any{"127.0.0.1:5353"}}}

func (d *setDiscovery) Watch(pool string, q *ir.ServiceDiscovery) []upstream.EndpointConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watched[pool] = q
	return slices.Clone(d.sets[pool])
}

func (d *setDiscovery) CheckProvider(p *ir.DiscoveryProvider) error {
	if p.DNS["servers"] == nil {
		return fmt.Errorf("dns.servers: required")
	}
	return nil
}

func (d *setDiscovery) Check(q *ir.ServiceDiscovery, p *ir.DiscoveryProvider) error {
	if q.Port == 0 && q.SRV == "" {
		return fmt.Errorf("dns: port is required with name")
	}
	return nil
}

func (d *setDiscovery) SetProvider(p *ir.DiscoveryProvider) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.providers[p.Name] = p
}

func (d *setDiscovery) DropProvider(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.providers, name)
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
	d := newSetDiscovery()
	f.c.d.Discovery = d
	api := &ir.Service{Name: "api", Discovery: &ir.ServiceDiscovery{Provider: "local-dns", Name: "api.service.test", Port: 8080}}
	if res := f.c.Apply(upserts(localDNS, api, route("r", "a.test", "/", "api"))); len(res.Rejected) > 0 {
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

// TestDiscoveryProviderObjects: a service naming a provider that is not
// there waits for it (and is accepted when it comes), a provider its
// package refuses is rejected, and a provider a service still names is not
// deleted; once the service stops naming it, the provider can go and is
// closed, and the service's watch ends.
func TestDiscoveryProviderObjects(t *testing.T) {
	f := newFixture(t)
	d := newSetDiscovery()
	f.c.d.Discovery = d
	api := &ir.Service{Name: "api", Discovery: &ir.ServiceDiscovery{Provider: "local-dns", Name: "api.service.test", Port: 8080}}
	res := f.c.Apply(upserts(api))
	if err := res.Rejected[key(ir.KindService, "api")]; err == nil || err.Error() != `service "api": discovery.provider: unknown discovery provider "local-dns"` {
		t.Fatalf("a service before its provider: %v", err)
	}
	if res := f.c.Apply(upserts(localDNS)); len(res.Rejected) > 0 {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	if d.providers["local-dns"] == nil || d.watched["api"] == nil {
		t.Fatalf("the provider did not open or the waiting service did not start its watch: %v %v", d.providers, d.watched)
	}

	bad := &ir.DiscoveryProvider{Name: "bad", DNS: map[string]any{}}
	if err := f.c.Apply(upserts(bad)).Rejected[key(ir.KindDiscoveryProvider, "bad")]; err == nil || err.Error() != "dns.servers: required" {
		t.Fatalf("a provider its package refuses: %v", err)
	}
	two := &ir.DiscoveryProvider{Name: "two", DNS: map[string]any{"servers": []any{"127.0.0.1:53"}}, Consul: map[string]any{}}
	if err := f.c.Apply(upserts(two)).Rejected[key(ir.KindDiscoveryProvider, "two")]; err == nil || !strings.Contains(err.Error(), "exactly one provider block") {
		t.Fatalf("a provider with two blocks: %v", err)
	}
	noPort := &ir.Service{Name: "np", Discovery: &ir.ServiceDiscovery{Provider: "local-dns", Name: "a.test"}}
	if err := f.c.Apply(upserts(noPort)).Rejected[key(ir.KindService, "np")]; err == nil || err.Error() != `service "np": discovery: dns: port is required with name` {
		t.Fatalf("a query the provider cannot answer: %v", err)
	}

	del := ir.Change{Deletes: []ir.Key{key(ir.KindDiscoveryProvider, "local-dns")}}
	if err := f.c.Apply(del).Rejected[key(ir.KindDiscoveryProvider, "local-dns")]; err == nil || !strings.Contains(err.Error(), `still used by service "api"`) {
		t.Fatalf("deleting a provider in use: %v", err)
	}
	if d.providers["local-dns"] == nil {
		t.Fatal("a provider whose delete was refused was closed")
	}
	// The service turns to fixed endpoints in the change that deletes the
	// provider: its watch ends (or it would keep overwriting the fixed
	// endpoints) and the provider goes.
	static := &ir.Service{Name: "api", Endpoints: []ir.Endpoint{{Address: "127.0.0.1:9"}}}
	ch := upserts(static)
	ch.Deletes = del.Deletes
	if res := f.c.Apply(ch); len(res.Rejected) > 0 {
		t.Fatalf("a service leaving the provider and the provider's delete together: %v", res.Rejected)
	}
	if d.providers["local-dns"] != nil || d.watched["api"] != nil {
		t.Fatalf("provider or watch left: %v %v", d.providers, d.watched)
	}
	if got := addresses(f.pools.Get("api")); !slices.Equal(got, []string{"127.0.0.1:9"}) {
		t.Fatalf("pool endpoints = %v", got)
	}
}
