package concurrencylimit

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

type rig struct {
	rt *plugin.Runtime
	ch *plugin.Chain
}

func newRig(t testing.TB, cfg map[string]any) *rig {
	t.Helper()
	if _, err := plugin.DecodeConfig("concurrency-limit", cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	rt := plugin.NewRuntime(nil, nil)
	g := &rig{rt: rt, ch: rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "global"}, Name: "concurrency-limit", Config: cfg}})}
	t.Cleanup(func() { rt.Release(g.ch) })
	return g
}

// inflight is one request between its start and its log phase.
type inflight struct {
	r plugin.Runner
	c *plugintest.Ctx
}

// start runs a request's access and upstream phases; it returns the status
// when the plugin answered, or 0 when the request went on.
func (g *rig) start(route, service string) (*inflight, int) {
	f := &inflight{c: plugintest.New()}
	f.c.Route, f.c.ServiceList = route, []string{service}
	f.r.Reset(g.ch, "default", g.rt.Metrics(), nil)
	if f.r.Request(f.c) == plugin.Stop || f.r.Upstream(f.c) == plugin.Stop {
		f.r.Log(f.c, &plugin.Outcome{Status: f.c.StatusV})
		return f, f.c.StatusV
	}
	return f, 0
}

func (f *inflight) finish() { f.r.Log(f.c, &plugin.Outcome{Status: 200}) }

func TestPerRoute(t *testing.T) {
	g := newRig(t, map[string]any{"max": 2})
	a, _ := g.start("r1", "s")
	g.start("r1", "s")
	if _, s := g.start("r1", "s"); s != http.StatusServiceUnavailable {
		t.Fatalf("third in flight: status %d, want 503", s)
	}
	if _, s := g.start("r2", "s"); s != 0 {
		t.Fatalf("another route: status %d, want it to pass", s)
	}
	a.finish()
	if _, s := g.start("r1", "s"); s != 0 {
		t.Fatalf("after one finished: status %d, want it to pass", s)
	}
}

func TestPerServiceAndStatus(t *testing.T) {
	g := newRig(t, map[string]any{"max": 1, "per": "service", "status": 429, "body": "busy"})
	g.start("r1", "api")
	f, s := g.start("r2", "api") // another route, same service
	if s != 429 || string(f.c.RespBody) != "busy" {
		t.Fatalf("second request to the service: %d %q, want 429 busy", s, f.c.RespBody)
	}
	if _, s := g.start("r1", "web"); s != 0 {
		t.Fatalf("another service: status %d, want it to pass", s)
	}
}

// per: ip counts each client address on its own, across routes, and keeps
// an address only while it has requests in flight.
func TestPerClientAddress(t *testing.T) {
	g := newRig(t, map[string]any{"max": 2, "per": "ip"})
	from := func(ip, route string) (*inflight, int) {
		f := &inflight{c: plugintest.New()}
		f.c.Route, f.c.ClientIPV = route, ip
		f.r.Reset(g.ch, "default", g.rt.Metrics(), nil)
		if f.r.Request(f.c) == plugin.Stop {
			f.r.Log(f.c, &plugin.Outcome{Status: f.c.StatusV})
			return f, f.c.StatusV
		}
		return f, 0
	}
	a, _ := from("192.0.2.1", "r1")
	from("192.0.2.1", "r2")
	if _, s := from("192.0.2.1", "r3"); s != http.StatusServiceUnavailable {
		t.Fatalf("third from one address: status %d, want 503", s)
	}
	b, s := from("192.0.2.2", "r1")
	if s != 0 {
		t.Fatalf("another address: status %d, want it to pass", s)
	}
	a.finish()
	if _, s := from("192.0.2.1", "r1"); s != 0 {
		t.Fatalf("after one finished: status %d, want it to pass", s)
	}
	var l *Limiter
	g.ch.Each(func(_ string, v any) { l = v.(*Limiter) })
	b.finish()
	if n := l.InFlightFrom("192.0.2.2"); n != 0 {
		t.Fatalf("192.0.2.2 still has %d in flight", n)
	}
	// Idle addresses are swept once a shard is full: the table stays
	// bounded however many clients came and went.
	for i := range 20 * maxShard {
		f, s := from(fmt.Sprintf("198.51.%d.%d", i/256, i%256), "r1")
		if s != 0 {
			t.Fatalf("client %d refused", i)
		}
		f.finish()
	}
	for i := range l.clients.shards {
		if n := len(l.clients.shards[i].m); n > maxShard {
			t.Fatalf("shard %d holds %d entries, more than %d", i, n, maxShard)
		}
	}
	if n := l.InFlightFrom("192.0.2.1"); n != 2 {
		t.Fatalf("a busy address lost its count in a sweep: %d in flight, want 2", n)
	}
}

// A refused request never took a slot: its log phase must not give one back.
func TestRefusedDoesNotRelease(t *testing.T) {
	g := newRig(t, map[string]any{"max": 1})
	g.start("r", "s")
	for range 5 {
		g.start("r", "s") // refused, logged
	}
	if _, s := g.start("r", "s"); s != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: refusals released a slot they never took", s)
	}
}

// Requests admitted before a chain rebuild are released against the same
// count after it.
func TestStateSurvivesRebuild(t *testing.T) {
	rt := plugin.NewRuntime(nil, nil)
	ref := plugin.Ref{Scope: plugin.Scope{Kind: "global"}, Name: "concurrency-limit", Config: map[string]any{"max": 1}}
	g1 := &rig{rt: rt, ch: rt.Chain([]plugin.Ref{ref})}
	a, _ := g1.start("r", "s")
	// Another plugin added to the route: a new chain with the same instance.
	g2 := &rig{rt: rt, ch: rt.Chain([]plugin.Ref{ref, {Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "headers"}})}
	rt.Release(g1.ch)
	defer rt.Release(g2.ch)
	if _, s := g2.start("r", "s"); s != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: the rebuilt chain lost the count", s)
	}
	a.finish()
	if _, s := g2.start("r", "s"); s != 0 {
		t.Fatalf("status %d after release, want it to pass", s)
	}
}

func TestConcurrentNeverOverMax(t *testing.T) {
	g := newRig(t, map[string]any{"max": 3})
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				f, s := g.start("r", "s")
				if s != 0 {
					continue
				}
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				cur.Add(-1)
				f.finish()
			}
		})
	}
	wg.Wait()
	if peak.Load() > 3 {
		t.Fatalf("peak in flight %d, want <= 3", peak.Load())
	}
	if _, s := g.start("r", "s"); s != 0 {
		t.Fatalf("after all finished: status %d, want it to pass (every slot released)", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, field := range map[string]map[string]any{
		"max":    {},
		"per":    {"max": 1, "per": "host"},
		"status": {"max": 1, "status": 200},
	} {
		if _, err := plugin.DecodeConfig("concurrency-limit", field); err == nil || !strings.Contains(err.Error(), cfg+": ") {
			t.Errorf("%v: error %v does not name %s", field, err, cfg)
		}
	}
}

// nop stands in for another plugin on the route.
type nop struct{}

func init() {
	plugin.Register("headers", "test stand-in", func(*struct{}, *plugin.Env) (*nop, error) { return &nop{}, nil })
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g := newRig(t, map[string]any{"max": 100})
	c := plugintest.New()
	var r plugin.Runner
	o := &plugin.Outcome{}
	run := func() {
		r.Reset(g.ch, "default", nil, nil)
		r.Request(c)
		r.Upstream(c)
		r.Log(c, o)
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%.1f allocations per request, want 0", n)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	g := newRig(b, map[string]any{"max": 1 << 30})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := plugintest.New()
		var r plugin.Runner
		o := &plugin.Outcome{}
		for pb.Next() {
			r.Reset(g.ch, "default", nil, nil)
			r.Request(c)
			r.Upstream(c)
			r.Log(c, o)
		}
	})
}

// BenchmarkPerClientAddress: a returning client's request takes and gives
// back its slot without allocating.
func BenchmarkPerClientAddress(b *testing.B) {
	rt := plugin.NewRuntime(nil, nil)
	ch := rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "global"}, Name: "concurrency-limit", Config: map[string]any{"max": 10, "per": "ip"}}})
	defer rt.Release(ch)
	var l *Limiter
	ch.Each(func(_ string, v any) { l = v.(*Limiter) })
	c := benchctx.New("/")
	c.IPB = []byte("203.0.113.9")
	var s plugin.Slot
	o := &plugin.Outcome{}
	b.ReportAllocs()
	for b.Loop() {
		if l.Access(c, &s) != plugin.Continue {
			b.Fatal("refused")
		}
		l.Log(c, &s, o)
	}
}
