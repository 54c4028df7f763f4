package discovery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"pylon.io/pylon/internal/upstream"
)

// testProvider is a Provider the test drives: sets sent to watchers, and
// what Resolve answers.
type testProvider struct {
	mu      sync.Mutex
	watch   chan Set // nil: the watch stalls (sends nothing)
	resolve func() (Set, error)
	polls   int
}

func (p *testProvider) Watch(ctx context.Context, q Query, update func(Set)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-p.watch:
			update(s)
		}
	}
}

func (p *testProvider) Resolve(ctx context.Context, q Query) (Set, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	return p.resolve()
}

func (p *testProvider) Close() error { return nil }

type testPools struct {
	mu   sync.Mutex
	sets [][]upstream.EndpointConfig
}

func (p *testPools) SetEndpoints(pool string, eps []upstream.EndpointConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sets = append(p.sets, eps)
	return nil
}

func (p *testPools) last() (int, []upstream.EndpointConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sets) == 0 {
		return 0, nil
	}
	return len(p.sets), p.sets[len(p.sets)-1]
}

func set(addrs ...string) Set {
	var s Set
	for _, a := range addrs {
		s.Instances = append(s.Instances, Instance{Address: a, Healthy: true, Tags: []string{"gray", "bad tag"}})
	}
	return s
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out waiting: " + what)
}

func start(t *testing.T, p *testProvider, keep bool) (*Manager, *testPools) {
	pools := &testPools{}
	m := NewManager(pools, map[string]Provider{"p": p}, nil)
	m.StallAfter, m.FirstWait = 50*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go m.Run(ctx, Service{Pool: "api", Provider: "p", KeepLastKnown: keep})
	return m, pools
}

func TestManagerVersionsAndKeepLastKnown(t *testing.T) {
	for _, keep := range []bool{true, false} {
		p := &testProvider{watch: make(chan Set), resolve: func() (Set, error) { return Set{}, errors.New("down") }}
		m, pools := start(t, p, keep)
		// A set waiting while a newer one arrives is dropped (the newest
		// wins), so each set the test counts is awaited before the next.
		p.watch <- set("127.0.0.2:80")
		eventually(t, "the first set", func() bool { n, _ := pools.last(); return n == 1 })
		p.watch <- set("127.0.0.2:80") // unchanged: no new version
		p.watch <- set("127.0.0.2:80", "127.0.0.3:80")
		eventually(t, "two sets", func() bool { n, _ := pools.last(); return n == 2 })
		_, eps := pools.last()
		if len(eps) != 2 || len(eps[0].Tags) != 1 || eps[0].Tags[0] != "gray" || eps[0].Weight != 1 {
			t.Fatalf("endpoints %+v", eps)
		}
		if st := status(m); st.Version != 2 || st.Applied != 2 {
			t.Fatalf("status %+v", st)
		}
		p.watch <- Set{}
		if keep {
			eventually(t, "empty set kept out", func() bool { return status(m).EmptyKept == 1 })
			if n, eps := pools.last(); n != 2 || len(eps) != 2 {
				t.Fatalf("keepLastKnown let an empty set through: %d %v", n, eps)
			}
		} else {
			eventually(t, "empty set applied", func() bool { n, eps := pools.last(); return n == 3 && len(eps) == 0 })
		}
	}
}

func TestManagerPollsStalledWatchAndBacksOff(t *testing.T) {
	var mu sync.Mutex
	down := true
	p := &testProvider{resolve: func() (Set, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return Set{}, errors.New("connection refused")
		}
		return set("127.0.0.9:80"), nil
	}}
	m, pools := start(t, p, true)
	eventually(t, "error in status", func() bool { st := status(m); return st.Errors >= 1 && st.Err == "connection refused" })
	time.Sleep(1500 * time.Millisecond)
	p.mu.Lock()
	polls := p.polls
	p.mu.Unlock()
	if polls > 3 { // 20ms, then 1s backoff: not a busy loop
		t.Fatalf("%d polls in 1.5s while down: no backoff", polls)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, "set from poll", func() bool { n, eps := pools.last(); return n == 1 && eps[0].Address == "127.0.0.9:80" })
	if st := status(m); st.Err != "" || st.Version != 1 {
		t.Fatalf("status after recovery %+v", st)
	}
	want := `
# HELP pylon_discovery_endpoints Endpoints in the service's current set.
# TYPE pylon_discovery_endpoints gauge
pylon_discovery_endpoints{provider="p",service="api"} 1
# HELP pylon_discovery_provider_up 1 when the last poll or watch of the service succeeded, 0 while its provider is unreachable.
# TYPE pylon_discovery_provider_up gauge
pylon_discovery_provider_up{provider="p",service="api"} 1
`
	if err := testutil.CollectAndCompare(NewCollector(m), strings.NewReader(want), "pylon_discovery_endpoints", "pylon_discovery_provider_up"); err != nil {
		t.Fatal(err)
	}

}

func status(m *Manager) Status {
	if s := m.Statuses(); len(s) > 0 {
		return s[0]
	}
	return Status{}
}

// TestManagerStalledWatchFallsBackToPolling: a watch that sent once and
// then went quiet is backed up by Resolve, whose newer set reaches the pool.
func TestManagerStalledWatchFallsBackToPolling(t *testing.T) {
	p := &testProvider{watch: make(chan Set), resolve: func() (Set, error) { return set("127.0.0.2:80", "127.0.0.3:80"), nil }}
	m, pools := start(t, p, true)
	p.watch <- set("127.0.0.2:80")
	eventually(t, "set from the poll after the watch stalled", func() bool { n, eps := pools.last(); return n == 2 && len(eps) == 2 })
	if st := status(m); st.Version != 2 {
		t.Fatalf("status %+v", st)
	}
}

// TestManagerForgetsEndedWatch: once a service's watch ends (the service
// was removed), it is no longer in Statuses.
func TestManagerForgetsEndedWatch(t *testing.T) {
	p := &testProvider{watch: make(chan Set, 1)}
	m := NewManager(&testPools{}, map[string]Provider{"p": p}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, Service{Pool: "api", Provider: "p"}) }()
	p.watch <- set("127.0.0.1:1")
	eventually(t, "a status for api", func() bool { return len(m.Statuses()) == 1 })
	cancel()
	<-done
	if st := m.Statuses(); len(st) != 0 {
		t.Fatalf("statuses after the watch ended: %+v", st)
	}
}

// TestManagerCarriesZones: an instance's zone reaches its pool endpoint; a
// zone change alone is a new set (the pool's preference moves); a zone a
// pool cannot hold is dropped, the instance kept.
func TestManagerCarriesZones(t *testing.T) {
	p := &testProvider{watch: make(chan Set), resolve: func() (Set, error) { return Set{}, errors.New("down") }}
	m, pools := start(t, p, true)
	zoned := func(zone string) Set {
		return Set{Instances: []Instance{{Address: "127.0.0.2:80", Healthy: true, Zone: zone}, {Address: "127.0.0.3:80", Healthy: true, Zone: "eu-1b"}}}
	}
	p.watch <- zoned("eu-1a")
	eventually(t, "the first set", func() bool { n, _ := pools.last(); return n == 1 })
	if _, eps := pools.last(); eps[0].Zone != "eu-1a" || eps[1].Zone != "eu-1b" {
		t.Fatalf("zones not carried: %+v", eps)
	}
	p.watch <- zoned("eu-1c")
	eventually(t, "a set differing only in a zone", func() bool { n, _ := pools.last(); return n == 2 })
	if _, eps := pools.last(); eps[0].Zone != "eu-1c" || status(m).Version != 2 {
		t.Fatalf("zone change: %+v, version %d", eps, status(m).Version)
	}
	p.watch <- zoned("eu 1a")
	eventually(t, "a set with a bad zone", func() bool { n, _ := pools.last(); return n == 3 })
	if _, eps := pools.last(); len(eps) != 2 || eps[0].Zone != "" {
		t.Fatalf("a zone with a space: %+v, want the instance without it", eps)
	}
}

// TestManagerDropsDuplicateAddresses: a registry that lists one address
// twice (two registrations of one host:port) gives the pool one endpoint,
// not a set the pool refuses.
func TestManagerDropsDuplicateAddresses(t *testing.T) {
	p := &testProvider{watch: make(chan Set), resolve: func() (Set, error) { return Set{}, errors.New("down") }}
	_, pools := start(t, p, true)
	p.watch <- Set{Instances: []Instance{{Address: "127.0.0.3:80", Healthy: true}, {Address: "127.0.0.2:80", Healthy: true, Weight: 5}, {Address: "127.0.0.3:80", Healthy: true, Weight: 2}}}
	eventually(t, "the set", func() bool { n, _ := pools.last(); return n == 1 })
	if _, eps := pools.last(); len(eps) != 2 || eps[0].Address != "127.0.0.2:80" || eps[1].Address != "127.0.0.3:80" {
		t.Fatalf("endpoints %+v, want 127.0.0.2:80 and 127.0.0.3:80 once each", eps)
	}
}
