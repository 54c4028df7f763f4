package kubernetes

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// loadedWatcher is a watcher whose informer stores hold n Ingresses (over
// 100 Services), applied to a real compiler. The informers are never
// started: the stores are filled directly, so this measures the source and
// the compile stage alone.
func loadedWatcher(b *testing.B, n int) *watcher {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pools := upstream.NewRegistry(upstream.WithLogger(log))
	b.Cleanup(pools.Close)
	comp := compile.New(compile.Deps{Router: router.New[*proxy.Route](), Pools: pools, Certs: tlsindex.New(), Metrics: telemetry.NewMetrics(), Log: log})
	s := NewWithClient(Options{Log: log}, nil, pools)
	w := newWatcher(s, comp)
	s.w = w
	w.in = w.newInformers()
	for i := 0; i < 100; i++ {
		_ = w.in.services.GetStore().Add(service("bench", fmt.Sprintf("svc%d", i)))
	}
	keys := map[qkey]struct{}{}
	for i := 0; i < n; i++ {
		ing := testIngress("bench", fmt.Sprintf("ing%d", i), fmt.Sprintf("h%d.bench", i), fmt.Sprintf("svc%d", i%100))
		ing.CreationTimestamp = metav1.Unix(int64(i), 0)
		_ = w.in.ingresses.GetStore().Add(ing)
		keys[qkey{kind: kIngress, ns: "bench", name: ing.Name}] = struct{}{}
	}
	w.process(keys)
	if got := comp.Counts()["route"]; got != n {
		b.Fatalf("routes: %d, want %d", got, n)
	}
	return w
}

// BenchmarkChangeOneIngress100k: one Ingress edited among 100,000, from
// the queued key to live (translation, conflict check, compile, publish).
func BenchmarkChangeOneIngress100k(b *testing.B) {
	w := loadedWatcher(b, 100_000)
	store := w.in.ingresses.GetStore()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		cur := testIngress("bench", "ing500", fmt.Sprintf("v%d.bench", i), "svc0")
		cur.CreationTimestamp = metav1.Unix(500, 0)
		_ = store.Update(cur)
		w.process(map[qkey]struct{}{{kind: kIngress, ns: "bench", name: "ing500"}: {}})
	}
}
