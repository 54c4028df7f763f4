package circuitbreaker

import (
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

func benchHarness(b testing.TB, kv ...any) (*harness, *plugintest.Ctx) {
	h := newHarness(b, cfg(kv...))
	c := plugintest.New()
	c.ServiceList = []string{"api"}
	return h, c
}

// BenchmarkClosed is the cost a closed breaker adds to a request: the
// upstream decision and the outcome's record.
func BenchmarkClosed(b *testing.B) {
	h, c := benchHarness(b)
	o := &plugin.Outcome{Status: 200, UpstreamStatus: 200, Service: "api"}
	b.ReportAllocs()
	for b.Loop() {
		h.r.Reset(h.ch, "default", nil, nil)
		h.r.Upstream(c)
		h.r.Log(c, o)
	}
}

// BenchmarkOpen is the cost of refusing a request with the fallback.
func BenchmarkOpen(b *testing.B) {
	h, c := benchHarness(b, "minRequests", 1, "openFor", "1h")
	h.do("api", failed())
	o := &plugin.Outcome{Status: 503, Service: "api"}
	b.ReportAllocs()
	for b.Loop() {
		h.r.Reset(h.ch, "default", nil, nil)
		c.Answered = false
		h.r.Upstream(c)
		h.r.Log(c, o)
	}
}

// BenchmarkClosedParallel shows the shared counters under contention.
func BenchmarkClosedParallel(b *testing.B) {
	h, _ := benchHarness(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := plugintest.New()
		c.ServiceList = []string{"api"}
		o := &plugin.Outcome{Status: 200, UpstreamStatus: 200, Service: "api"}
		var r plugin.Runner
		for pb.Next() {
			r.Reset(h.ch, "default", nil, nil)
			r.Upstream(c)
			r.Log(c, o)
		}
	})
}

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	h, c := benchHarness(t)
	o := &plugin.Outcome{Status: 200, UpstreamStatus: 200, Service: "api"}
	h.r.Reset(h.ch, "default", nil, nil)
	h.r.Upstream(c) // first use takes the service's state
	if n := testing.AllocsPerRun(1000, func() {
		h.r.Reset(h.ch, "default", nil, nil)
		h.r.Upstream(c)
		h.r.Log(c, o)
	}); n != 0 {
		t.Fatalf("closed breaker: %v allocations per request, want 0", n)
	}
	h2, c2 := benchHarness(t, "minRequests", 1, "openFor", "1h")
	h2.do("api", failed())
	if n := testing.AllocsPerRun(1000, func() {
		h2.r.Reset(h2.ch, "default", nil, nil)
		c2.Answered = false
		h2.r.Upstream(c2)
	}); n != 0 {
		t.Fatalf("open breaker: %v allocations per request, want 0", n)
	}
}
