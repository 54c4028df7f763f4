package ratelimit

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/test/testenv"
)

// fastCtx answers what the limiter reads from fixed slices and drops the
// response headers, so allocation counts and timings are the plugin's own
// (plugintest.Ctx converts strings on every call).
type fastCtx struct {
	*plugintest.Ctx
	ip, apiKey []byte
	status     int
	headers    int
}

func newFastCtx(ip string) *fastCtx {
	return &fastCtx{Ctx: plugintest.New(), ip: []byte(ip), apiKey: []byte("key-0123456789")}
}

func (c *fastCtx) ClientIP() []byte { return c.ip }
func (c *fastCtx) Header(name string) ([]byte, bool) {
	if name == "X-Api-Key" {
		return c.apiKey, true
	}
	return nil, false
}
func (c *fastCtx) SetResponseHeader(string, string) { c.headers++ }
func (c *fastCtx) Respond(status int, _ []byte)     { c.status = status }
func (c *fastCtx) Status() int                      { return c.status }

// runOne runs the access phase for c through r.
func runOne(g *rig, r *plugin.Runner, c *fastCtx) bool {
	r.Reset(g.ch, "default", nil, nil)
	c.status = 0
	return r.Request(c) == plugin.Continue
}

// The hot path (a local token bucket keyed by client address, with the
// RateLimit headers) must not allocate once the key exists.
func TestHotPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, cfg := range []map[string]any{
		{"rate": 9000, "period": "1ms"},
		{"rate": 1, "period": "1h"}, // refused: the 429 path
		{"rate": 9000, "period": "1ms", "algorithm": "fixed-window", "key": "route+header:X-Api-Key"},
	} {
		g := newRig(t, cfg, nil)
		var r plugin.Runner
		c := newFastCtx("10.1.2.3")
		runOne(g, &r, c)
		if n := testing.AllocsPerRun(1000, func() { runOne(g, &r, c) }); n != 0 {
			t.Errorf("%v: %.1f allocations per request, want 0", cfg, n)
		}
	}
}

func benchLimiter(b *testing.B, cfg map[string]any, ips int) {
	g := newRig(b, cfg, nil)
	ctxs := make([]*fastCtx, ips)
	for i := range ctxs {
		ctxs[i] = newFastCtx("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var r plugin.Runner
		i := 0
		for pb.Next() {
			runOne(g, &r, ctxs[i%len(ctxs)])
			i++
		}
	})
}

func BenchmarkTokenBucketIP(b *testing.B) {
	benchLimiter(b, map[string]any{"rate": 9000, "period": "1ms"}, 1024)
}

func BenchmarkTokenBucketIPRefused(b *testing.B) {
	benchLimiter(b, map[string]any{"rate": 1, "period": "1h"}, 1024)
}

func BenchmarkFixedWindowHeader(b *testing.B) {
	benchLimiter(b, map[string]any{"rate": 9000, "period": "1ms", "algorithm": "fixed-window", "key": "header:X-Api-Key"}, 1)
}

func BenchmarkClusterDivided(b *testing.B) {
	benchLimiter(b, map[string]any{"rate": 9000, "period": "1ms", "mode": "cluster"}, 1024)
}

// BenchmarkRedisAccess is the request path of a global limit against a
// real Redis, with reservations running in the background; it reports the
// per-request latency's p50 and p99, to compare with BenchmarkLocalAccess.
func BenchmarkRedisAccess(b *testing.B) {
	rd := testenv.StartRedis(b)
	benchLatency(b, map[string]any{"rate": 5_000_000, "mode": "redis", "key": "ip", "rateLimitHeaders": false,
		"redis": map[string]any{"addresses": []any{rd.Addr()}}})
}

// BenchmarkLocalAccess is BenchmarkRedisAccess's baseline: a local fixed
// window with the same key and rate.
func BenchmarkLocalAccess(b *testing.B) {
	benchLatency(b, map[string]any{"rate": 5_000_000, "algorithm": "fixed-window", "key": "ip", "rateLimitHeaders": false})
}

func benchLatency(b *testing.B, cfg map[string]any) {
	g := newRig(b, cfg, nil)
	ctxs := make([]*fastCtx, 1000)
	for i := range ctxs {
		ctxs[i] = newFastCtx("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	var r plugin.Runner
	lat := make([]time.Duration, 0, min(b.N, 1<<22))
	refused := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := ctxs[i%len(ctxs)]
		t0 := time.Now()
		ok := runOne(g, &r, c)
		d := time.Since(t0)
		if len(lat) < cap(lat) {
			lat = append(lat, d)
		}
		if !ok && c.status != http.StatusOK {
			refused++
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
	}
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
}
