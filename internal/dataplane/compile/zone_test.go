package compile

import (
	"testing"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// TestTrafficDistributionReachesThePool: a service's trafficDistribution,
// zoneAware and its endpoints' zone, node and hints decide what its pool
// picks. PreferClose and PreferSameZone pick the same (Kubernetes defines
// them as one); PreferSameNode picks differently; no preference spreads.
func TestTrafficDistributionReachesThePool(t *testing.T) {
	f := newFixture(t)
	f.pools.SetLocality(upstream.Locality{Zone: "a", Node: "n1"})
	eps := []ir.Endpoint{
		{Address: "10.0.0.1:80", Zone: "a", Node: "n1"},
		{Address: "10.0.0.2:80", Zone: "a", Node: "n2"},
		{Address: "10.0.0.3:80", Zone: "b", Node: "n3"},
	}
	share := 0.0
	cases := []struct {
		name string
		s    ir.Service
		want []string
	}{
		{"none", ir.Service{}, []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}},
		{"PreferClose", ir.Service{TrafficDistribution: ir.TrafficPreferClose}, []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"PreferSameZone", ir.Service{TrafficDistribution: ir.TrafficPreferSameZone}, []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"PreferSameNode", ir.Service{TrafficDistribution: ir.TrafficPreferSameNode}, []string{"10.0.0.1:80"}},
		{"zoneAware-alone", ir.Service{ZoneAware: &ir.ZoneAware{MinHealthyShare: &share}}, []string{"10.0.0.1:80", "10.0.0.2:80"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.s
			s.Name, s.Endpoints = c.name, eps
			mustAccept(t, f.c.Apply(upserts(&s)))
			p := f.pools.Get(c.name)
			got := map[string]bool{}
			for range 300 {
				got[p.Pick(nil, nil).Address()] = true
			}
			if len(got) != len(c.want) {
				t.Errorf("picked %v, want %v", got, c.want)
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("picked %v, want %v", got, c.want)
				}
			}
		})
	}
	_, za := locality(&ir.Service{ZoneAware: &ir.ZoneAware{MinHealthyShare: &share}})
	if za.MinHealthyShare != 0 || za.MaxLoadFactor != upstream.DefaultMaxLoadFactor {
		t.Errorf("zoneAware with only minHealthyShare 0: %+v, want it and the default factor", za)
	}
}
