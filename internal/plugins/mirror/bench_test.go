package mirror

import (
	"net/http"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

func benchRequest() *benchctx.Ctx {
	c := benchctx.New("/orders/7", "Content-Type", "application/json", "Accept", "*/*",
		"User-Agent", "bench/1.0", "X-Request-Id", "0123456789abcdef", "Cookie", "session=abcdef0123456789")
	c.MethodB = []byte("POST")
	c.BodyV, c.BodyBuffered, c.Length = []byte(strings.Repeat("x", 1024)), true, 1024
	return c
}

// BenchmarkUpstream is the cost on the request path: sampling, copying the
// request (5 headers, 1 KiB body) and queueing it. The workers have no
// target here, so they hand each copy back at once.
func BenchmarkUpstream(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  map[string]any
	}{
		{"copy-1KiB", map[string]any{"service": "shadow", "queueSize": 64}},
		{"sampled-out", map[string]any{"service": "shadow", "percent": 0}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, "", bc.cfg)
			c := benchRequest()
			b.ReportAllocs()
			for b.Loop() {
				h.r.Upstream(c)
			}
		})
	}
}

// BenchmarkUpstreamFull is the cost when the queue is full: the copy is
// made and dropped.
func BenchmarkUpstreamFull(b *testing.B) {
	release := make(chan struct{})
	addr, _ := target(b, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	h := newHarness(b, addr, map[string]any{"service": "shadow", "queueSize": 1, "workers": 1})
	c := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		h.r.Upstream(c)
	}
}

func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	// A short queue bounds the copies alive at once (queued, with a
	// worker, dropped), so the job pool covers them all once warm.
	h := newHarness(t, "", map[string]any{"service": "shadow", "queueSize": 16})
	c := benchRequest()
	for range 1000 { // warm the job pool
		h.r.Upstream(c)
	}
	if n := testing.AllocsPerRun(1000, func() { h.r.Upstream(c) }); n != 0 {
		t.Fatalf("%v allocations per copied request, want 0", n)
	}
}
