package upstream

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recheckEveryPick makes every Pick decide the tiers afresh, so a test sees
// a health or load change at once.
func recheckEveryPick(t *testing.T) {
	old := localityRecheck
	localityRecheck = 0
	t.Cleanup(func() { localityRecheck = old })
}

// ep is an endpoint config at a fake address (Pick never dials).
func ep(i int, zone, node string) EndpointConfig {
	return EndpointConfig{Address: fmt.Sprintf("10.1.0.%d:80", i), Zone: zone, Node: node}
}

// hinted adds the hints the EndpointSlice controller writes for
// trafficDistribution PreferSameZone (zone) or PreferSameNode (both).
func hinted(e EndpointConfig, node bool) EndpointConfig {
	e.ForZones = []string{e.Zone}
	if node {
		e.ForNodes = []string{e.Node}
	}
	return e
}

// picks counts n picks by endpoint address.
func picks(p *Pool, in HashInput, n int) map[string]int {
	got := map[string]int{}
	for range n {
		got[p.Pick(in, nil).Address()]++
	}
	return got
}

func only(got map[string]int, addrs ...string) string {
	var bad []string
	for a, n := range got {
		ok := false
		for _, w := range addrs {
			ok = ok || a == w
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s got %d", a, n))
		}
	}
	for _, w := range addrs {
		if got[w] == 0 {
			bad = append(bad, w+" got none")
		}
	}
	return strings.Join(bad, "; ")
}

// TestPlacement holds the choice of near endpoints to kube-proxy's rules
// (pkg/proxy/topology.go) where hints exist, and to the Service's
// trafficDistribution over the endpoints' own zone and node where none do.
func TestPlacement(t *testing.T) {
	here := Locality{Zone: "a", Node: "n1"}
	a1, a2, b3 := ep(1, "a", "n1"), ep(2, "a", "n2"), ep(3, "b", "n3")
	cases := []struct {
		name string
		dist Distribution
		loc  Locality
		eps  []EndpointConfig
		want string // per endpoint: "-" far, "z" in the zone tier, "n" node tier, "nz" both
	}{
		{"no hints, no preference", AnyEndpoint, here, []EndpointConfig{a1, a2, b3}, ""},
		{"no hints, PreferSameZone by zone", PreferSameZone, here, []EndpointConfig{a1, a2, b3}, "z z -"},
		{"no hints, PreferSameNode by node, then zone", PreferSameNode, here, []EndpointConfig{a1, a2, b3}, "nz z -"},
		{"zone hints on every endpoint are honoured without a preference", AnyEndpoint, here,
			[]EndpointConfig{hinted(a1, false), hinted(a2, false), hinted(b3, false)}, "z z -"},
		{"a hint beats the endpoint's own zone (topology-mode Auto)", PreferSameZone, here,
			[]EndpointConfig{hinted(a1, false), hinted(a2, false), {Address: b3.Address, Zone: "b", ForZones: []string{"a"}}}, "z z z"},
		{"hints on only some endpoints are ignored, as by kube-proxy", PreferSameZone, here,
			[]EndpointConfig{hinted(a1, false), a2, hinted(b3, false)}, ""},
		{"hints, none for this zone: no preference", PreferSameZone, Locality{Zone: "c", Node: "n9"},
			[]EndpointConfig{hinted(a1, false), hinted(a2, false), hinted(b3, false)}, ""},
		{"PreferSameNode hints", PreferSameNode, here,
			[]EndpointConfig{hinted(a1, true), hinted(a2, true), hinted(b3, true)}, "nz z -"},
		{"node hints, none for this node: the zone hints still count", PreferSameNode, Locality{Zone: "a", Node: "n9"},
			[]EndpointConfig{hinted(a1, true), hinted(a2, true), hinted(b3, true)}, "z z -"},
		{"PreferSameNode with zone hints only (an older controller): node by field", PreferSameNode, here,
			[]EndpointConfig{hinted(a1, false), hinted(a2, false), hinted(b3, false)}, "nz z -"},
		{"gateway zone unknown", PreferSameZone, Locality{}, []EndpointConfig{a1, a2, b3}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Distribution: c.dist, Endpoints: c.eps}
			var got []string
			if place := placement(&cfg, c.loc); place != nil {
				for _, p := range place {
					s := ""
					if p&onNode != 0 {
						s += "n"
					}
					if p&inZone != 0 {
						s += "z"
					}
					got = append(got, max(s, "-"))
				}
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("placement %q, want %q", g, c.want)
			}
		})
	}
}

// zonePool is a pool of two endpoints in zone a and two in zone b, with the
// gateway in zone a.
func zonePool(t testing.TB, r *Registry, name string, pol Policy, za *ZoneAware) *Pool {
	r.SetLocality(Locality{Zone: "a", Node: "n1"})
	p, err := r.Acquire(Config{Name: name, Policy: pol, HashOn: HashOn{Kind: HashHeader, Name: "X-User"},
		Distribution: PreferSameZone, ZoneAware: za,
		Endpoints: []EndpointConfig{ep(1, "a", "n1"), ep(2, "b", "n3"), ep(3, "a", "n2"), ep(4, "b", "n4")}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestZonePrefersLocalUnderEveryPolicy: each policy balances over the
// endpoints of the gateway's zone only, and spreads over all of them once
// the gateway's zone has none healthy.
func TestZonePrefersLocalUnderEveryPolicy(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	for _, pol := range policies {
		p := zonePool(t, r, "z-"+pol.String(), pol, nil)
		// Distinct keys, so consistent hashing reaches both local endpoints.
		got := map[string]int{}
		for i := range 400 {
			got[p.Pick(&keys{header: fmt.Appendf(nil, "user-%d", i)}, nil).Address()]++
		}
		if msg := only(got, "10.1.0.1:80", "10.1.0.3:80"); msg != "" {
			t.Errorf("%v: want the two zone-a endpoints only: %s", pol, msg)
		}
		eps := p.Endpoints()
		eps[0].activeDown.Store(true)
		eps[2].activeDown.Store(true)
		if msg := only(picks(p, &keys{header: []byte("k")}, 200), "10.1.0.2:80", "10.1.0.4:80"); msg != "" && pol != ConsistentHash {
			t.Errorf("%v: zone a down: want zone b: %s", pol, msg)
		}
		if got := picks(p, &keys{header: []byte("k")}, 50); got["10.1.0.1:80"]+got["10.1.0.3:80"] != 0 {
			t.Errorf("%v: zone a down, yet picked: %v", pol, got)
		}
		eps[0].activeDown.Store(false)
		eps[2].activeDown.Store(false)
	}
}

// TestZoneSpillsOnHealthyShare: below minHealthyShare of the zone's
// endpoints healthy, traffic spreads over every healthy endpoint of the
// pool, the zone's survivors included; at or above it, it stays.
func TestZoneSpillsOnHealthyShare(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	r.SetLocality(Locality{Zone: "a"})
	cfg := Config{Name: "share", Distribution: PreferSameZone, Endpoints: []EndpointConfig{
		ep(1, "a", ""), ep(2, "a", ""), ep(3, "a", ""), ep(4, "b", ""), ep(5, "b", "")}}
	p, err := r.Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eps := p.Endpoints()
	eps[1].activeDown.Store(true)
	// 2 of 3 healthy (0.67 >= 0.5): the zone keeps its traffic.
	if msg := only(picks(p, nil, 300), "10.1.0.1:80", "10.1.0.3:80"); msg != "" {
		t.Errorf("2 of 3 local healthy: %s", msg)
	}
	eps[0].activeDown.Store(true)
	// 1 of 3 (0.33 < 0.5): every healthy endpoint, the local survivor too.
	if msg := only(picks(p, nil, 300), "10.1.0.3:80", "10.1.0.4:80", "10.1.0.5:80"); msg != "" {
		t.Errorf("1 of 3 local healthy: want spill-over to all healthy: %s", msg)
	}
	cfg.ZoneAware = &ZoneAware{MinHealthyShare: 0.3, MaxLoadFactor: DefaultMaxLoadFactor}
	if err := r.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if p.Endpoints()[0] != eps[0] {
		t.Fatal("an update replaced the endpoints")
	}
	if msg := only(picks(p, nil, 300), "10.1.0.3:80"); msg != "" {
		t.Errorf("minHealthyShare 0.3, 1 of 3 healthy: want the local survivor only: %s", msg)
	}
	// Passive ejection counts as unhealthy too.
	cfg.Passive = PassiveCheck{ConsecutiveFailures: 1, EjectionTime: time.Hour}
	if err := r.Update(cfg); err != nil {
		t.Fatal(err)
	}
	eps[2].ReportFailure()
	if msg := only(picks(p, nil, 300), "10.1.0.4:80", "10.1.0.5:80"); msg != "" {
		t.Errorf("every local endpoint out: want zone b: %s", msg)
	}
}

// TestLocalityPicksByTier: pylon_upstream_locality_picks_total's counts
// follow where the picks went, node then zone then the whole pool, and a
// pool with nothing near counts nothing.
func TestLocalityPicksByTier(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	r.SetLocality(Locality{Zone: "a", Node: "n1"})
	p, err := r.Acquire(Config{Name: "tiers", Distribution: PreferSameNode,
		Endpoints: []EndpointConfig{ep(1, "a", "n1"), ep(2, "a", "n2"), ep(3, "b", "n3")}})
	if err != nil {
		t.Fatal(err)
	}
	eps := p.Endpoints()
	want := [tiers]uint64{}
	check := func(step string, n int, tier Tier) {
		t.Helper()
		picks(p, nil, n)
		want[tier] += uint64(n)
		if got, ok := p.LocalityPicks(); !ok || got != want {
			t.Errorf("%s: picks by tier %v (ok %v), want %v", step, got, ok, want)
		}
	}
	check("all healthy", 100, TierNode)
	eps[0].activeDown.Store(true)
	check("the node's endpoint down", 60, TierZone)
	eps[1].activeDown.Store(true)
	check("the zone down", 40, TierOther)
	eps[0].activeDown.Store(false)
	check("the node's endpoint back", 10, TierNode)

	far, err := r.Acquire(Config{Name: "far", Distribution: PreferSameZone,
		Endpoints: []EndpointConfig{ep(4, "b", ""), ep(5, "c", "")}})
	if err != nil {
		t.Fatal(err)
	}
	picks(far, nil, 50)
	if got, ok := far.LocalityPicks(); ok {
		t.Errorf("a pool with nothing near reports picks by tier: %v", got)
	}
}

// TestZoneSpillsOnLoad: local endpoints holding more than maxLoadFactor
// times the requests in flight of the rest (at least 1) spill over.
func TestZoneSpillsOnLoad(t *testing.T) {
	recheckEveryPick(t)
	for _, pol := range []Policy{RoundRobin, LeastRequest} {
		r := testRegistry(t)
		p := zonePool(t, r, "load", pol, nil) // default factor 2
		eps := p.Endpoints()
		local, remote := []*Endpoint{eps[0], eps[2]}, []*Endpoint{eps[1], eps[3]}
		begin := func(es []*Endpoint, n int) {
			for _, e := range es {
				for range n {
					e.Begin()
				}
			}
		}
		end := func(es []*Endpoint, n int) {
			for _, e := range es {
				for range n {
					e.End()
				}
			}
		}
		begin(local, 2) // 2 each: not more than 2 x max(0, 1)
		if msg := only(picks(p, nil, 200), "10.1.0.1:80", "10.1.0.3:80"); msg != "" {
			t.Errorf("%v: 2 in flight per local endpoint: want local only: %s", pol, msg)
		}
		begin(local, 1) // 3 each > 2
		got := picks(p, nil, 200)
		if got["10.1.0.2:80"]+got["10.1.0.4:80"] == 0 {
			t.Errorf("%v: 3 in flight per local endpoint, none remote: want spill-over, got %v", pol, got)
		}
		begin(remote, 2) // 3 each vs 2 each: within the factor again
		if msg := only(picks(p, nil, 200), "10.1.0.1:80", "10.1.0.3:80"); msg != "" {
			t.Errorf("%v: 3 local vs 2 remote in flight: want local only: %s", pol, msg)
		}
		end(remote, 2)
		cfg := Config{Name: "load", Policy: pol, Distribution: PreferSameZone, ZoneAware: &ZoneAware{MinHealthyShare: 0.5},
			Endpoints: []EndpointConfig{ep(1, "a", "n1"), ep(2, "b", "n3"), ep(3, "a", "n2"), ep(4, "b", "n4")}}
		if err := r.Update(cfg); err != nil {
			t.Fatal(err)
		}
		begin(local, 100)
		if msg := only(picks(p, nil, 200), "10.1.0.1:80", "10.1.0.3:80"); msg != "" {
			t.Errorf("%v: maxLoadFactor 0: load must not spill: %s", pol, msg)
		}
		end(local, 103)
	}
}

// TestTrafficDistributionBehaviours: with the hints the EndpointSlice
// controller writes, PreferSameNode keeps to the gateway's node, then its
// zone; PreferSameZone to its zone; no trafficDistribution (no hints)
// spreads over all. Each spills over in its own order.
func TestTrafficDistributionBehaviours(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	r.SetLocality(Locality{Zone: "a", Node: "n1"})
	e1, e2, e3 := ep(1, "a", "n1"), ep(2, "a", "n2"), ep(3, "b", "n3")
	node := []EndpointConfig{hinted(e1, true), hinted(e2, true), hinted(e3, true)}
	zone := []EndpointConfig{hinted(e1, false), hinted(e2, false), hinted(e3, false)}
	cases := []struct {
		name string
		dist Distribution
		eps  []EndpointConfig
		want [][]string // picked while 0, 1 and 2 of e1, e2 are down
	}{
		{"PreferSameNode", PreferSameNode, node, [][]string{{e1.Address}, {e2.Address}, {e3.Address}}},
		{"PreferSameZone", PreferSameZone, zone, [][]string{{e1.Address, e2.Address}, {e2.Address}, {e3.Address}}},
		{"none", AnyEndpoint, []EndpointConfig{e1, e2, e3}, [][]string{{e1.Address, e2.Address, e3.Address}, {e2.Address, e3.Address}, {e3.Address}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := r.Acquire(Config{Name: c.name, Distribution: c.dist, Endpoints: c.eps})
			if err != nil {
				t.Fatal(err)
			}
			eps := p.Endpoints()
			for down, want := range c.want {
				for i := range down {
					eps[i].activeDown.Store(true)
				}
				if msg := only(picks(p, nil, 300), want...); msg != "" {
					t.Errorf("%d of e1, e2 down: want %v: %s", down, want, msg)
				}
			}
		})
	}
}

// TestZoneComposesWithTags: a tagged request prefers the tagged endpoints
// of the gateway's zone, an untagged one the untagged endpoints of it; a
// tag with no endpoint in the zone uses its endpoints elsewhere.
func TestZoneComposesWithTags(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	r.SetLocality(Locality{Zone: "a"})
	gray := func(e EndpointConfig, tags ...string) EndpointConfig { e.Tags = tags; return e }
	p, err := r.Acquire(Config{Name: "tags", Policy: LeastRequest, Distribution: PreferSameZone, Endpoints: []EndpointConfig{
		gray(ep(1, "a", ""), "gray"), gray(ep(2, "b", ""), "gray"), ep(3, "a", ""), ep(4, "b", ""), gray(ep(5, "b", ""), "blue")}})
	if err != nil {
		t.Fatal(err)
	}
	if msg := only(picks(p, tagInput{[]byte("gray")}, 200), "10.1.0.1:80"); msg != "" {
		t.Errorf("gray: want the gray endpoint of zone a: %s", msg)
	}
	if msg := only(picks(p, tagInput{}, 200), "10.1.0.3:80"); msg != "" {
		t.Errorf("untagged: want the untagged endpoint of zone a: %s", msg)
	}
	if msg := only(picks(p, tagInput{[]byte("blue")}, 200), "10.1.0.5:80"); msg != "" {
		t.Errorf("blue, only in zone b: want it: %s", msg)
	}
	p.Endpoints()[0].activeDown.Store(true)
	if msg := only(picks(p, tagInput{[]byte("gray")}, 200), "10.1.0.2:80"); msg != "" {
		t.Errorf("gray, zone a's down: want zone b's gray endpoint: %s", msg)
	}
}

// TestSetLocalityKeepsEndpoints: a zone change moves the preference at once
// and keeps the endpoints (health, connections) as they were.
func TestSetLocalityKeepsEndpoints(t *testing.T) {
	recheckEveryPick(t)
	r := testRegistry(t)
	p := zonePool(t, r, "move", RoundRobin, nil)
	before := p.Endpoints()
	before[1].activeDown.Store(true)
	r.SetLocality(Locality{Zone: "b"})
	if msg := only(picks(p, nil, 100), "10.1.0.4:80"); msg != "" {
		t.Errorf("moved to zone b (one of its two down, share 0.5): %s", msg)
	}
	for i, e := range p.Endpoints() {
		if e != before[i] {
			t.Fatal("SetLocality replaced an endpoint")
		}
	}
	if !before[0].Healthy() || before[1].Healthy() {
		t.Error("SetLocality changed health")
	}
	r.SetLocality(Locality{})
	if got := picks(p, nil, 300); got["10.1.0.1:80"] == 0 || got["10.1.0.3:80"] == 0 || got["10.1.0.4:80"] == 0 {
		t.Errorf("zone unknown: want every healthy endpoint: %v", got)
	}
}

// TestZoneAwareValidation names the field that is out of range.
func TestZoneAwareValidation(t *testing.T) {
	for _, c := range []struct {
		za   ZoneAware
		want string
	}{
		{ZoneAware{MinHealthyShare: 1.5}, "zoneAware.minHealthyShare 1.5"},
		{ZoneAware{MinHealthyShare: -0.1}, "zoneAware.minHealthyShare -0.1"},
		{ZoneAware{MaxLoadFactor: 0.5}, "zoneAware.maxLoadFactor 0.5"},
		{ZoneAware{MaxLoadFactor: 1e9}, "zoneAware.maxLoadFactor"},
	} {
		err := Validate(Config{Name: "svc", ZoneAware: &c.za})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `service "svc"`) {
			t.Errorf("%+v: error %v, want one naming %q", c.za, err, c.want)
		}
	}
	if err := Validate(Config{Name: "svc", ZoneAware: &ZoneAware{MinHealthyShare: 1, MaxLoadFactor: 1}}); err != nil {
		t.Error(err)
	}
}

// TestZonePickDoesNotAllocate: the zone path (tiers chosen from the cached
// decision, and deciding afresh) allocates nothing, under every policy.
func TestZonePickDoesNotAllocate(t *testing.T) {
	for _, recheck := range []time.Duration{time.Hour, 0} {
		old := localityRecheck
		localityRecheck = recheck
		for _, pol := range policies {
			p := zonePool(t, testRegistry(t), "alloc", pol, nil)
			in := &keys{header: []byte("user-42")}
			eps := p.Endpoints()
			eps[2].activeDown.Store(true)
			if p.snap.Load().local == nil {
				t.Fatal("no tiers built")
			}
			if n := testing.AllocsPerRun(1000, func() { p.Pick(in, eps[0]) }); n > 0 {
				t.Errorf("%s (recheck %v): a zone-aware Pick allocates %.1f times per call", pol, recheck, n)
			}
		}
		localityRecheck = old
	}
}

func BenchmarkPickZone(b *testing.B) {
	for _, pol := range policies {
		b.Run(pol.String(), func(b *testing.B) {
			r := testRegistry(b)
			r.SetLocality(Locality{Zone: "z0"})
			eps := make([]EndpointConfig, 64)
			for i := range eps {
				eps[i] = EndpointConfig{Address: fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), Weight: 1 + i%3, Zone: fmt.Sprintf("z%d", i%3)}
			}
			p, err := r.Acquire(Config{Name: "bench", Policy: pol, HashOn: HashOn{Kind: HashHeader, Name: "X-User"}, Distribution: PreferSameZone, Endpoints: eps})
			if err != nil {
				b.Fatal(err)
			}
			in := &keys{header: []byte("user-42")}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if e := p.Pick(in, nil); e == nil {
						b.Fatal("nil endpoint")
					}
				}
			})
		})
	}
}

// Picks, zone changes, endpoint updates and health changes run at once in
// production; -race checks that the tiers share nothing unguarded.
func TestConcurrentZonePickAndRelocate(t *testing.T) {
	r := testRegistry(t)
	p := zonePool(t, r, "race", LeastRequest, nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if e := p.Pick(nil, nil); e != nil {
					e.Begin()
					e.ReportFailure()
					e.End()
				}
			}
		})
	}
	for i := range 200 {
		r.SetLocality(Locality{Zone: []string{"a", "b", ""}[i%3], Node: "n1"})
		eps := []EndpointConfig{ep(1, "a", "n1"), ep(2, "b", "n3"), ep(3, "a", "n2")}
		if i%2 == 0 {
			eps = append(eps, hinted(ep(4, "b", "n4"), true))
		}
		if err := r.SetEndpoints("race", eps); err != nil {
			t.Fatal(err)
		}
		p.Endpoints()[i%3].activeDown.Store(i%5 == 0)
	}
	close(done)
	wg.Wait()
}
