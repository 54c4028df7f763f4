package compile

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

type limitConfig struct {
	Limit int `json:"limit"`
}

func (c *limitConfig) Validate() error {
	if c.Limit <= 0 {
		return plugin.Errorf("limit", "must be > 0")
	}
	return nil
}

type sideConfig struct {
	Service string `json:"service"`
}

func (c *sideConfig) Services() []string { return []string{c.Service} }

// stateful keeps a pointer to its state, so tests can see whether a change
// kept it.
type stateful struct{ state *int }

func (s *stateful) Access(plugin.Ctx, *plugin.Slot) plugin.Action { return plugin.Continue }

func init() {
	plugin.RegisterTesting("c-limit", func(cfg *limitConfig, env *plugin.Env) (*stateful, error) {
		return &stateful{state: env.State("", func() any { return new(int) }).(*int)}, nil
	})
	plugin.RegisterTesting("c-side", func(cfg *sideConfig, env *plugin.Env) (*stateful, error) {
		return &stateful{}, nil
	})
}

func withPlugins(r *ir.Route, refs ...ir.PluginRef) *ir.Route {
	r.Plugins = refs
	return r
}

func limit(n int) ir.PluginRef {
	return ir.PluginRef{Name: "c-limit", Config: map[string]any{"limit": n}}
}

func chainNames(f *fixture, host, path string) []string {
	r := f.served(host, path)
	if r == nil {
		return []string{"<no route>"}
	}
	return r.Plugins.Names()
}

func TestPluginConfigErrorsNameRouteFieldAndPlugin(t *testing.T) {
	f := newFixture(t)
	res := f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		withPlugins(route("bad", "a.example.com", "/", "s"), limit(0)),
		withPlugins(route("unknown", "b.example.com", "/", "s"), ir.PluginRef{Name: "no-such"})))
	for name, want := range map[string]string{
		"bad":     `route "bad": plugins[0].config.limit: c-limit: must be > 0`,
		"unknown": `route "unknown": plugins[0].name: no-such: unknown plugin "no-such"`,
	} {
		err := res.Rejected[key(ir.KindRoute, name)]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	if f.match("a.example.com", "/") != "" {
		t.Error("a rejected route is served")
	}
}

func TestHostPolicyAndGlobalScopes(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		route("a", "a.example.com", "/", "s"),
		route("b", "b.example.com", "/", "s"),
		route("w", "x.wild.example.com", "/", "s"),
		&ir.HostPolicy{Name: "pa", Hosts: []string{"a.example.com", "*.wild.example.com"}, Plugins: []ir.PluginRef{limit(1)}})))
	if got := chainNames(f, "a.example.com", "/"); !slices.Equal(got, []string{"c-limit"}) {
		t.Errorf("a: %v", got)
	}
	if got := chainNames(f, "x.wild.example.com", "/"); !slices.Equal(got, []string{"c-limit"}) {
		t.Errorf("wildcard policy: %v", got)
	}
	if got := chainNames(f, "b.example.com", "/"); len(got) != 0 {
		t.Errorf("b has plugins: %v", got)
	}
	mustAccept(t, f.c.Apply(upserts(&ir.GlobalPlugin{Name: "c-side", Config: map[string]any{"service": "s"}})))
	if got := chainNames(f, "b.example.com", "/"); !slices.Equal(got, []string{"c-side"}) {
		t.Errorf("global on b: %v", got)
	}
	mustAccept(t, f.c.Apply(ir.Change{Deletes: []ir.Key{key(ir.KindHostPolicy, "pa"), key(ir.KindGlobalPlugin, "c-side")}}))
	if got := chainNames(f, "a.example.com", "/"); len(got) != 0 {
		t.Errorf("a after deletes: %v", got)
	}
	if f.plugins.Instances() != 0 {
		t.Errorf("%d plugin instances left", f.plugins.Instances())
	}
}

func TestRouteDisablesInheritedPlugin(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		&ir.GlobalPlugin{Name: "c-limit", Config: map[string]any{"limit": 5}},
		withPlugins(route("off", "a.example.com", "/", "s"), ir.PluginRef{Name: "c-limit", Disabled: true}),
		route("on", "b.example.com", "/", "s"))))
	if got := chainNames(f, "a.example.com", "/"); len(got) != 0 {
		t.Errorf("disabled: %v", got)
	}
	if got := chainNames(f, "b.example.com", "/"); !slices.Equal(got, []string{"c-limit"}) {
		t.Errorf("inherited: %v", got)
	}
}

// An edit elsewhere must not reset a limit: the instance (and its state)
// of an unchanged plugin config survives the recompile.
func TestUnrelatedChangesKeepPluginState(t *testing.T) {
	f := newFixture(t)
	mustAccept(t, f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		withPlugins(route("a", "a.example.com", "/", "s"), limit(3)),
		&ir.GlobalPlugin{Name: "c-side", Config: map[string]any{"service": "s"}})))
	first := f.plugins.State().Len()
	ptr := limitState(t, f)
	// Another route, a global change, and a timeout change on the route itself.
	mustAccept(t, f.c.Apply(upserts(route("b", "b.example.com", "/", "s"))))
	mustAccept(t, f.c.Apply(upserts(&ir.GlobalPlugin{Name: "c-side", Config: map[string]any{"service": "s"}, Disabled: true})))
	r := withPlugins(route("a", "a.example.com", "/", "s"), limit(3))
	r.Timeouts.Request = ir.Duration(5e9)
	mustAccept(t, f.c.Apply(upserts(r)))
	if got := limitState(t, f); got != ptr {
		t.Fatal("the limit's state was replaced by unrelated changes")
	}
	if f.plugins.State().Len() != first {
		t.Errorf("state entries %d, want %d", f.plugins.State().Len(), first)
	}
	// Changing the plugin's own config gives it new state.
	mustAccept(t, f.c.Apply(upserts(withPlugins(route("a", "a.example.com", "/", "s"), limit(4)))))
	if limitState(t, f) == ptr {
		t.Fatal("a new config kept the old state")
	}
}

func TestPluginServicesMustExistAndStay(t *testing.T) {
	f := newFixture(t)
	side := ir.PluginRef{Name: "c-side", Config: map[string]any{"service": "canary"}}
	res := f.c.Apply(upserts(svc("s", "127.0.0.1:1"), withPlugins(route("a", "a.example.com", "/", "s"), side)))
	if err := res.Rejected[key(ir.KindRoute, "a")]; err == nil || !strings.Contains(err.Error(), `unknown service "canary"`) {
		t.Fatalf("got %v", err)
	}
	mustAccept(t, f.c.Apply(upserts(svc("canary", "127.0.0.1:2"))))
	if f.served("a.example.com", "/") == nil {
		t.Fatal("route not retried once its plugin's service arrived")
	}
	r := f.served("a.example.com", "/")
	if got := r.Backends; len(got) != 2 || got[1].Ref != "canary" || got[1].Weight != 0 || got[1].Pool == nil {
		t.Fatalf("backends: %+v", got)
	}
	res = f.c.Apply(ir.Change{Deletes: []ir.Key{key(ir.KindService, "canary")}})
	if err := res.Rejected[key(ir.KindService, "canary")]; err == nil {
		t.Fatal("deleted a service a plugin still sends to")
	}
}

func limitState(t *testing.T, f *fixture) *int {
	t.Helper()
	r := f.served("a.example.com", "/")
	if r == nil || r.Plugins == nil {
		t.Fatal("no chain")
	}
	var found *int
	r.Plugins.Each(func(name string, inst any) {
		if s, ok := inst.(*stateful); ok && name == "c-limit" {
			found = s.state
		}
	})
	if found == nil {
		t.Fatal("no c-limit in chain")
	}
	return found
}

// poolSeen records whether the plugin found its service's pool at build.
type poolSeen struct{ found bool }

func (p *poolSeen) Access(plugin.Ctx, *plugin.Slot) plugin.Action { return plugin.Continue }

func init() {
	plugin.RegisterTesting("c-pool", func(cfg *sideConfig, env *plugin.Env) (*poolSeen, error) {
		return &poolSeen{found: env.Pool(cfg.Service) != nil}, nil
	})
}

// A plugin names a service as a route does, in its owner's namespace: the
// pool it gets is that namespace's (pools outside "default" are ns/name).
func TestPluginPoolsResolveInTheOwnersNamespace(t *testing.T) {
	f := newFixture(t)
	ns := func(r ir.Resource) ir.Object { return ir.NewObject("kubernetes", "shop", r) }
	r := withPlugins(route("r", "shop.example.com", "/", "s"), ir.PluginRef{Name: "c-pool", Config: map[string]any{"service": "errors"}})
	mustAccept(t, f.c.Apply(ir.Change{Upserts: []ir.Object{ns(svc("s", "127.0.0.1:1")), ns(svc("errors", "127.0.0.1:2")), ns(r)}}))
	found := false
	f.served("shop.example.com", "/").Plugins.Each(func(name string, inst any) {
		if p, ok := inst.(*poolSeen); ok {
			found = p.found
		}
	})
	if !found {
		t.Fatal("the plugin did not find shop/errors")
	}
}

func TestConsumersAreCheckedPublishedAndReleased(t *testing.T) {
	f := newFixture(t)
	res := f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		&ir.Consumer{Name: "bad-config", Plugins: []ir.PluginRef{limit(0)}},
		&ir.Consumer{Name: "sends", Plugins: []ir.PluginRef{{Name: "c-side", Config: map[string]any{"service": "s"}}}},
		&ir.Consumer{Name: "alice@example.com", Plugins: []ir.PluginRef{limit(3)}}))
	for name, want := range map[string]string{
		"bad-config": `consumer "bad-config": plugins[0].config.limit: c-limit: must be > 0`,
		"sends":      `consumer "sends": plugins[0].name: c-side sends requests to services`,
	} {
		if err := res.Rejected[key(ir.KindConsumer, name)]; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	if err := res.Rejected[key(ir.KindConsumer, "alice@example.com")]; err != nil {
		t.Fatalf("alice: %v", err)
	}
	cs := f.plugins.Consumer("default", "alice@example.com")
	if cs == nil || !slices.Equal(cs.Chain().Names(), []string{"c-limit"}) {
		t.Fatalf("published consumer: %+v", cs)
	}
	// An edit replaces it; the old one's instance goes, a delete leaves none.
	mustAccept(t, f.c.Apply(upserts(&ir.Consumer{Name: "alice@example.com", Plugins: []ir.PluginRef{limit(4)}})))
	if f.plugins.Consumer("default", "alice@example.com") == cs || f.plugins.Instances() != 1 {
		t.Fatalf("after edit: same consumer %v, %d instances", f.plugins.Consumer("default", "alice@example.com") == cs, f.plugins.Instances())
	}
	mustAccept(t, f.c.Apply(ir.Change{Deletes: []ir.Key{key(ir.KindConsumer, "alice@example.com")}}))
	if f.plugins.Consumer("default", "alice@example.com") != nil || f.plugins.Instances() != 0 {
		t.Fatalf("after delete: %d instances", f.plugins.Instances())
	}
}

// Route plugins naming the same instance share it (and its state); without
// one each route has its own. Only route plugins may name one.
func TestSharedInstancesAcrossRoutes(t *testing.T) {
	f := newFixture(t)
	shared := func(name string) ir.PluginRef {
		r := limit(5)
		r.Instance = name
		return r
	}
	mustAccept(t, f.c.Apply(upserts(svc("s", "127.0.0.1:1"),
		withPlugins(route("a", "a.example.com", "/", "s"), shared("ingress/shop/web")),
		withPlugins(route("b", "b.example.com", "/", "s"), shared("ingress/shop/web")),
		withPlugins(route("c", "c.example.com", "/", "s"), limit(5)),
		withPlugins(route("d", "d.example.com", "/", "s"), limit(5)))))
	if n := f.plugins.Instances(); n != 3 {
		t.Fatalf("%d instances; want 3 (a and b share one, c and d one each)", n)
	}
	res := f.c.Apply(upserts(&ir.HostPolicy{Name: "p", Hosts: []string{"a.example.com"}, Plugins: []ir.PluginRef{shared("x")}}))
	if err := res.Rejected[key(ir.KindHostPolicy, "p")]; err == nil || !strings.Contains(err.Error(), "plugins[0].instance: only a route's plugins name shared instances") {
		t.Errorf("instance on a host policy: %v", err)
	}
}

// TestBigChangeWithPlugins loads enough routes with plugins for their host
// tables to be compiled on several cores: every route gets its own chain, the
// routes without a plugin of their own share the global one, and replacing
// every route keeps the instance count (the old chains are released).
func TestBigChangeWithPlugins(t *testing.T) {
	f := newFixture(t)
	const n = 5 * hostsPerWorker
	load := func(limitBase int) ir.Change {
		ch := manyRoutes(n)
		for i := range ch.Upserts {
			if r, ok := ch.Upserts[i].Resource.(*ir.Route); ok && i%2 == 0 {
				ch.Upserts[i] = obj(withPlugins(r, limit(limitBase+i)))
			}
		}
		ch.Upserts = append(ch.Upserts, obj(&ir.GlobalPlugin{Name: "c-side", Config: map[string]any{"service": "echo"}}))
		return ch
	}
	mustAccept(t, f.c.Apply(load(1)))
	check := func() {
		t.Helper()
		for i := 0; i < n; i++ {
			want := []string{"c-side"}
			if (i+1)%2 == 0 { // Upserts[0] is the service
				want = []string{"c-limit", "c-side"}
			}
			if got := chainNames(f, fmt.Sprintf("h%d.example.com", i), "/"); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
				t.Fatalf("h%d.example.com runs %v, want %v", i, got, want)
			}
		}
		if got, want := f.plugins.Instances(), n/2+1; got != want {
			t.Fatalf("%d plugin instances, want %d", got, want)
		}
	}
	check()
	mustAccept(t, f.c.Apply(load(2)))
	check()
}
