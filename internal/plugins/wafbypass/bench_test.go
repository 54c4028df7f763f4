package wafbypass

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/upstream"
)

// BenchmarkHealthyWAF is what the bypass adds to a request with a healthy
// WAF on loopback (HTTP/1.1, kept-alive connections): the whole wait,
// copy and exchange included. It reports the p50 and p99 of one check
// next to ns/op; the WAF's own cost (a net/http server here) is in it.
//
//	go test -run '^$' -bench HealthyWAF -benchmem ./internal/plugins/wafbypass/
func BenchmarkHealthyWAF(b *testing.B) {
	addr, _ := startWAF(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	h := newHarness(b, addr, upstream.HTTP1, cfg("timeout", "1s"))
	c := plugintest.New()
	c.MethodV, c.PathV, c.QueryV = "POST", "/api/orders", "page=2"
	for _, kv := range [][2]string{{"Accept", "application/json"}, {"User-Agent", "bench/1"}, {"Cookie", "session=abc"},
		{"Content-Type", "application/json"}, {"X-Forwarded-For", "198.51.100.1"}} {
		c.ReqHeader.Set(kv[0], kv[1])
	}
	c.BodyV, c.BodyBuffered = make([]byte, 1024), true
	for range 100 { // warm the connections and pools
		h.do(c)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if !h.do(c) || len(c.Security) != 0 {
			b.Fatalf("check failed: %d %v", c.StatusV, c.Security)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkCircuitOpen is the cost of a request while the circuit is open:
// no exchange, the failure policy at once.
func BenchmarkCircuitOpen(b *testing.B) {
	h := newHarness(b, deadAddrB(b), upstream.HTTP1, cfg("breaker", map[string]any{"minRequests": 1, "openFor": "1h"}))
	c := plugintest.New()
	h.do(c) // connect refused: the circuit opens
	b.ReportAllocs()
	for b.Loop() {
		c.Security = c.Security[:0]
		h.do(c)
	}
}
