package compile

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
)

// BenchmarkInitialLoad100k measures compiling 100,000 routes (each on its own
// host) from nothing to live.
func BenchmarkInitialLoad100k(b *testing.B) {
	ch := manyRoutes(100_000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f := newFixture(b)
		b.StartTimer()
		mustAccept(b, f.c.Apply(ch))
	}
}

// BenchmarkChangeOneRoute100k measures compile + publish of one route change
// with 100,000 routes live, and reports the p99 over all iterations.
func BenchmarkChangeOneRoute100k(b *testing.B) {
	f := newFixture(b)
	mustAccept(b, f.c.Apply(manyRoutes(100_000)))
	var took []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r := route(fmt.Sprintf("r%d", i%100_000), fmt.Sprintf("h%d.example.com", i%100_000), fmt.Sprintf("/v%d", i), "echo")
		start := time.Now()
		res := f.c.Apply(upserts(r))
		took = append(took, time.Since(start))
		if len(res.Rejected) > 0 {
			b.Fatal(res.Rejected)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
}

// BenchmarkChangeOneRoute100kWithPlugins is BenchmarkChangeOneRoute100k with
// a global plugin and a plugin on every route: each change builds one
// route's chain, and the 100,000 routes share their chains' instances.
func BenchmarkChangeOneRoute100kWithPlugins(b *testing.B) {
	f := newFixture(b)
	ch := manyRoutes(100_000)
	for i := range ch.Upserts {
		if r, ok := ch.Upserts[i].Resource.(*ir.Route); ok {
			r.Plugins = []ir.PluginRef{limit(100)}
			ch.Upserts[i] = obj(r)
		}
	}
	ch.Upserts = append(ch.Upserts, obj(&ir.GlobalPlugin{Name: "c-side", Config: map[string]any{"service": "echo"}}))
	mustAccept(b, f.c.Apply(ch))
	var took []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r := route(fmt.Sprintf("r%d", i%100_000), fmt.Sprintf("h%d.example.com", i%100_000), fmt.Sprintf("/v%d", i), "echo")
		r.Plugins = []ir.PluginRef{limit(100 + i%2)}
		start := time.Now()
		res := f.c.Apply(upserts(r))
		took = append(took, time.Since(start))
		if len(res.Rejected) > 0 {
			b.Fatal(res.Rejected)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(f.plugins.Instances()), "instances")
}
