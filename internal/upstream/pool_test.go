package upstream

import (
	"strings"
	"testing"
	"time"
)

func TestUpdateKeepsEndpointState(t *testing.T) {
	r := testRegistry(t)
	a, b, c := newBackend(t), newBackend(t), newBackend(t)
	cfg := Config{Name: "svc", Endpoints: endpointsOf(a, b), Active: fastCheck("http"),
		Passive: PassiveCheck{ConsecutiveFailures: 1, EjectionTime: time.Hour}}
	p, err := r.Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ea, eb := p.Endpoints()[0], p.Endpoints()[1]
	a.failing.Store(true)
	waitFor(t, 2*time.Second, "a unhealthy", func() bool { return !ea.Healthy() })
	eb.ReportFailure() // b ejected for an hour
	send(t, eb)        // leaves a keep-alive connection open to b
	client := eb.Client()
	conns := client.ConnsCount()

	// Update: new policy, new active-check interval, c added, weights changed.
	cfg.Endpoints = []EndpointConfig{{Address: b.addr(), Weight: 3}, {Address: a.addr()}, {Address: c.addr()}}
	cfg.Policy = WeightedRoundRobin
	cfg.Active = fastCheck("http")
	cfg.Active.Interval = 30 * time.Millisecond
	if err := r.Update(cfg); err != nil {
		t.Fatal(err)
	}
	got := p.Endpoints()
	if got[0] != eb || got[1] != ea {
		t.Fatal("unchanged addresses did not keep their *Endpoint")
	}
	if ea.Healthy() || eb.Healthy() || !got[2].Healthy() {
		t.Errorf("health after update: a=%v b=%v c=%v, want false false true", ea.Healthy(), eb.Healthy(), got[2].Healthy())
	}
	if eb.Client() != client || client.ConnsCount() != conns || conns == 0 {
		t.Errorf("connections to b not kept: client same=%v conns %d -> %d", eb.Client() == client, conns, client.ConnsCount())
	}
	if eb.Weight() != 3 {
		t.Errorf("weight = %d, want 3", eb.Weight())
	}
	// The restarted checker still sees a as failing, then recovering.
	time.Sleep(100 * time.Millisecond)
	if ea.Healthy() {
		t.Error("a became healthy though its check still fails")
	}
	a.failing.Store(false)
	waitFor(t, 2*time.Second, "a healthy under the new checker", ea.Healthy)

	// Removing a endpoint: the pool forgets it, in-flight users keep working.
	cfg.Endpoints = cfg.Endpoints[:1]
	if err := r.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if len(p.Endpoints()) != 1 {
		t.Fatalf("endpoints after removal: %d", len(p.Endpoints()))
	}
	send(t, ea) // a removed endpoint's client still serves a request begun before
}

func TestUpdateTransportChangeReplacesClients(t *testing.T) {
	r := testRegistry(t)
	a := newBackend(t)
	cfg := Config{Name: "svc", Endpoints: endpointsOf(a)}
	p, _ := r.Acquire(cfg)
	e := p.Endpoints()[0]
	old := e.Client()
	cfg.MaxConnsPerEndpoint = 10
	if err := r.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if e.Client() == old || e.Client().MaxConns != 10 || p.Endpoints()[0] != e {
		t.Error("changed connection settings did not give the same endpoint a new client")
	}
}

func TestInvalidConfigKeepsLastGood(t *testing.T) {
	r := testRegistry(t)
	a := newBackend(t)
	p, err := r.Acquire(Config{Name: "svc", Endpoints: endpointsOf(a)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Update(Config{Name: "svc", Policy: ConsistentHash, HashOn: HashOn{Kind: HashHeader},
		Endpoints: []EndpointConfig{{Address: "nope"}, {Address: a.addr(), Weight: -1}}})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{`upstream: service "svc": endpoints[0] "nope"`, "weight -1", "hash_on"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := p.Pick(nil, nil); got == nil || got.Address() != a.addr() {
		t.Error("pool stopped serving its last good config")
	}
	if err := r.Update(Config{Name: "other"}); err == nil {
		t.Error("Update of an unknown pool succeeded")
	}
}

func TestRegistryEachAndSetEndpoints(t *testing.T) {
	r := testRegistry(t)
	a, b := newBackend(t), newBackend(t)
	for _, name := range []string{"z", "a"} {
		if _, err := r.Acquire(Config{Name: name, Endpoints: endpointsOf(a)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetEndpoints("a", endpointsOf(a, b)); err != nil {
		t.Fatal(err)
	}
	var names []string
	healthy := 0
	r.Each(func(p *Pool) {
		names = append(names, p.Name())
		for _, e := range p.Endpoints() {
			if e.Healthy() {
				healthy++
			}
		}
	})
	if strings.Join(names, ",") != "a,z" || healthy != 3 {
		t.Errorf("Each saw %v with %d healthy endpoints, want a,z with 3", names, healthy)
	}
}

// Pick, health reports and updates run concurrently in production; -race
// checks that they share nothing unguarded.
func TestConcurrentPickAndUpdate(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	cfg := Config{Name: "svc", Endpoints: endpointsOf(bs...), Policy: LeastRequest, Active: fastCheck("tcp"),
		Passive: PassiveCheck{ConsecutiveFailures: 2, EjectionTime: time.Millisecond}}
	p, err := r.Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			in := &keys{path: []byte("/x")}
			for {
				select {
				case <-done:
					return
				default:
				}
				if e := p.Pick(in, nil); e != nil {
					e.Begin()
					e.ReportFailure()
					e.End()
				}
			}
		}()
	}
	for i := range 50 {
		cfg.Policy = policies[i%len(policies)]
		cfg.HashOn = HashOn{Kind: HashPath}
		cfg.Endpoints = endpointsOf(bs[:1+i%3]...)
		cfg.MaxConnsPerEndpoint = 100 + i%2
		if i%7 == 0 {
			cfg.Active = nil
		} else {
			cfg.Active = fastCheck("tcp")
			cfg.Active.Interval = time.Duration(10+i%3) * time.Millisecond
		}
		if err := r.Update(cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
}
