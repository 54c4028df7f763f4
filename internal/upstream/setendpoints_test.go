package upstream

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// rollingSet returns n endpoints where the first replaced of them have
// moved to new addresses (generation gen), as a rolling update leaves them,
// sorted by address as discovery and Kubernetes send them.
func rollingSet(n, replaced, gen int) []EndpointConfig {
	eps := make([]EndpointConfig, n)
	for i := range eps {
		g := 0
		if i < replaced {
			g = gen
		}
		// Loopback addresses on the discard port: the health check's first
		// round dials them, and nothing but this machine may be dialled.
		eps[i] = EndpointConfig{Address: fmt.Sprintf("127.%d.%d.%d:9", g%200+1, i/250, i%250+1), Weight: 1}
	}
	slices.SortFunc(eps, func(a, b EndpointConfig) int { return strings.Compare(a.Address, b.Address) })
	return eps
}

// BenchmarkSetEndpoints2000 is the cost discovery pays per endpoint set at
// 2,000 endpoints, on a pool with an active health check (which must not
// restart): one endpoint replaced (a step of a rolling update), all of
// them replaced, and an unchanged set.
func BenchmarkSetEndpoints2000(b *testing.B) {
	const n = 2000
	for _, c := range []struct {
		name     string
		replaced int
	}{{"one-replaced", 1}, {"all-replaced", n}, {"unchanged", 0}} {
		b.Run(c.name, func(b *testing.B) {
			r := testRegistry(b)
			p, err := r.Acquire(Config{Name: "svc", Endpoints: rollingSet(n, 0, 0),
				Active: activeFor(b)})
			if err != nil {
				b.Fatal(err)
			}
			checker := p.checker
			sets := [2][]EndpointConfig{rollingSet(n, c.replaced, 1), rollingSet(n, c.replaced, 2)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.SetEndpoints("svc", sets[i%2]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if p.checker != checker || len(p.Endpoints()) != n {
				b.Fatalf("the set rebuilt the health checker or lost endpoints (%d)", len(p.Endpoints()))
			}
		})
	}
}

// activeFor is the benchmark's health check: a TCP check whose first round
// runs at start; NOACTIVE=1 leaves it out, to profile the set alone.
func activeFor(b *testing.B) *ActiveCheck {
	if os.Getenv("NOACTIVE") == "1" {
		return nil
	}
	return &ActiveCheck{Type: "tcp", Interval: time.Hour}
}

// TestSetEndpointsMatchesByAddress: a new set keeps the *Endpoint of every
// address it still holds and drops the others, whether it comes sorted by
// address (matched side by side) or not (matched by lookup), and a
// duplicate address is refused either way.
func TestSetEndpointsMatchesByAddress(t *testing.T) {
	for _, sorted := range []bool{true, false} {
		r := testRegistry(t)
		name := fmt.Sprint("svc-", sorted)
		set := func(addrs ...string) []EndpointConfig {
			eps := make([]EndpointConfig, len(addrs))
			for i, a := range addrs {
				eps[i] = EndpointConfig{Address: a}
			}
			if !sorted {
				slices.Reverse(eps)
			}
			return eps
		}
		p, err := r.Acquire(Config{Name: name, Endpoints: set("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4")})
		if err != nil {
			t.Fatal(err)
		}
		before := map[string]*Endpoint{}
		for _, e := range p.Endpoints() {
			before[e.Address()] = e
		}
		if err := r.SetEndpoints(name, set("127.0.0.1:0", "127.0.0.1:2", "127.0.0.1:4", "127.0.0.1:5")); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Endpoints() {
			got = append(got, e.Address())
			if old := before[e.Address()]; old != nil && old != e {
				t.Errorf("sorted=%v: %s got a new *Endpoint", sorted, e.Address())
			}
		}
		slices.Sort(got)
		if want := []string{"127.0.0.1:0", "127.0.0.1:2", "127.0.0.1:4", "127.0.0.1:5"}; !slices.Equal(got, want) {
			t.Errorf("sorted=%v: endpoints %v, want %v", sorted, got, want)
		}
		if len(p.byAddr) != 4 || p.byAddr["127.0.0.1:1"] != nil || p.byAddr["127.0.0.1:5"] == nil {
			t.Errorf("sorted=%v: the address index holds %d entries: %v", sorted, len(p.byAddr), p.byAddr)
		}
		if err := r.SetEndpoints(name, set("127.0.0.1:2", "127.0.0.1:2")); err == nil || !strings.Contains(err.Error(), "duplicate address") {
			t.Errorf("sorted=%v: a duplicate address: %v", sorted, err)
		}
	}
}
