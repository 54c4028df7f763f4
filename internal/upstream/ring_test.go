package upstream

import (
	"fmt"
	"testing"
)

func hashPool(t *testing.T, r *Registry, bs []*backend) *Pool {
	t.Helper()
	p, err := r.Acquire(Config{Name: "hash", Policy: ConsistentHash, HashOn: HashOn{Kind: HashCookie, Name: "sid"},
		Endpoints: endpointsOf(bs...), Passive: PassiveCheck{ConsecutiveFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mapping(p *Pool, n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		k := fmt.Sprintf("session-%d", i)
		m[k] = p.Pick(&keys{cookie: []byte(k)}, nil).Address()
	}
	return m
}

func moved(a, b map[string]string) int {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	return n
}

func TestConsistentHashSticky(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	p := hashPool(t, r, bs)
	for i := range 50 {
		k := &keys{cookie: fmt.Appendf(nil, "user-%d", i)}
		first := p.Pick(k, nil)
		for range 5 {
			// The request really reaches the same server each time.
			if got := send(t, p.Pick(k, nil)); got != first.Address() {
				t.Fatalf("key %s went to %s, then %s", k.cookie, first.Address(), got)
			}
		}
	}
	// Keys spread over all endpoints, roughly evenly.
	counts := map[string]int{}
	for _, v := range mapping(p, 6000) {
		counts[v]++
	}
	for _, b := range bs {
		if c := counts[b.addr()]; c < 1400 || c > 2600 {
			t.Errorf("endpoint %s owns %d of 6000 keys, want about 2000", b.addr(), c)
		}
	}
	// A request without the cookie still gets an endpoint.
	if p.Pick(&keys{}, nil) == nil {
		t.Error("request without hash key got no endpoint")
	}
}

func TestConsistentHashRingStable(t *testing.T) {
	r := testRegistry(t)
	var bs []*backend
	for range 10 {
		bs = append(bs, newBackend(t))
	}
	p := hashPool(t, r, bs)
	const keysN = 20000
	before := mapping(p, keysN)

	// Adding an 11th endpoint should move about 1/11 of the keys, all to it.
	extra := newBackend(t)
	p = hashPool(t, r, append(bs[:10:10], extra))
	after := mapping(p, keysN)
	n := moved(before, after)
	if frac := float64(n) / keysN; frac < 0.05 || frac > 0.14 {
		t.Errorf("adding 1 of 11 endpoints moved %.3f of keys, want ~0.091", frac)
	}
	for k, v := range after {
		if before[k] != v && v != extra.addr() {
			t.Fatalf("key %s moved between old endpoints %s -> %s", k, before[k], v)
		}
	}

	// Removing one endpoint moves only the keys it owned.
	p = hashPool(t, r, bs[1:])
	removed := mapping(p, keysN)
	for k, v := range removed {
		if before[k] != v && before[k] != bs[0].addr() {
			t.Fatalf("key %s moved %s -> %s though its endpoint stayed", k, before[k], v)
		}
	}
}

func TestConsistentHashSkipsUnhealthy(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t), newBackend(t)}
	p := hashPool(t, r, bs)
	before := mapping(p, 4000)
	down := p.Endpoints()[1]
	down.ReportFailure() // ejected
	during := mapping(p, 4000)
	for k, v := range during {
		switch {
		case v == down.Address():
			t.Fatalf("key %s still sent to ejected %s", k, v)
		case before[k] != down.Address() && before[k] != v:
			t.Fatalf("key %s moved %s -> %s though its endpoint is healthy", k, before[k], v)
		}
	}
	down.ReportSuccess()
	down.ejectedUntil.Store(0) // end the ejection early
	if n := moved(before, mapping(p, 4000)); n != 0 {
		t.Errorf("%d keys did not return after the endpoint recovered", n)
	}
}
