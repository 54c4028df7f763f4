package router

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

const benchHosts = 100_000

// benchPaths are the ten routes of every benchmark host: five exact paths and
// five prefixes of different lengths, as a typical site has.
var benchPaths = []PathMatch{
	{PathExact, "/"}, {PathExact, "/healthz"}, {PathExact, "/login"}, {PathExact, "/logout"}, {PathExact, "/api/status"},
	{PathPrefix, "/api/"}, {PathPrefix, "/api/v1/"}, {PathPrefix, "/static/"}, {PathPrefix, "/assets/img/"}, {PathPrefix, "/docs/"},
}

// benchRequests are request paths hitting each route above in turn.
var benchRequests = []string{
	"/", "/healthz", "/login", "/logout", "/api/status",
	"/api/orders", "/api/v1/users/42", "/static/app.js", "/assets/img/logo.png", "/docs/index.html",
}

type benchValue struct{ host, key string }

func benchHostName(i int) string { return fmt.Sprintf("app-%d.tenant-%d.example.com", i, i%977) }

func benchTable(tb testing.TB, host string) *HostTable[*benchValue] {
	entries := make([]Entry[*benchValue], len(benchPaths))
	for j, p := range benchPaths {
		k := fmt.Sprintf("bench/%s/%d", host, j)
		entries[j] = Entry[*benchValue]{Key: k, Path: p, Value: &benchValue{host, k}}
	}
	t, err := CompileHost(entries)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func benchRouter(tb testing.TB) (*Router[*benchValue], []string) {
	r := New[*benchValue]()
	hosts := make([]string, benchHosts)
	tables := make(map[string]*HostTable[*benchValue], benchHosts)
	for i := range hosts {
		hosts[i] = benchHostName(i)
		tables[hosts[i]] = benchTable(tb, hosts[i])
	}
	r.Apply(tables)
	return r, hosts
}

// BenchmarkMatch100kHosts matches random existing hosts and paths. "cold"
// draws from all hosts, more than the CPU caches hold, so it includes the
// cache misses a gateway with 100k busy hosts sees; "hot" cycles through 1024
// requests to show the cost of the code itself.
func BenchmarkMatch100kHosts(b *testing.B) {
	r, hosts := benchRouter(b)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.Logf("heap in use with %d hosts: %d MiB", len(hosts), ms.HeapInuse>>20)
	type sample struct{ host, path []byte }
	reqs := make([]sample, 1<<17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range reqs {
		reqs[i] = sample{[]byte(hosts[rng.IntN(len(hosts))]), []byte(benchRequests[rng.IntN(len(benchRequests))])}
	}
	for _, s := range reqs[:1000] {
		if v, ok := r.Match(s.host, s.path, nil); !ok || v.host != string(s.host) {
			b.Fatalf("Match(%s, %s) = %v, %v", s.host, s.path, v, ok)
		}
	}
	for _, bc := range []struct {
		name string
		n    int
	}{{"cold", len(reqs)}, {"hot", 1024}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			mask := bc.n - 1
			for i := 0; b.Loop(); i++ {
				s := &reqs[i&mask]
				r.Match(s.host, s.path, nil)
			}
		})
	}
}

// BenchmarkApplyOneHost replaces one host among 100k: the cost must be that
// of one shard copy, not of the whole index.
func BenchmarkApplyOneHost(b *testing.B) {
	r, hosts := benchRouter(b)
	tabs := make([]*HostTable[*benchValue], 64)
	for i := range tabs {
		tabs[i] = benchTable(b, hosts[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i % len(tabs)
		r.Apply(map[string]*HostTable[*benchValue]{hosts[j]: tabs[j]})
	}
}

// BenchmarkMatchSmall is one host matched over and over: the cost of the code
// with everything in cache, for the worst path of the benchmark table (the
// last prefix).
func BenchmarkMatchSmall(b *testing.B) {
	r := New[*benchValue]()
	r.Apply(map[string]*HostTable[*benchValue]{"a.example.com": benchTable(b, "a.example.com")})
	host, path := []byte("a.example.com"), []byte("/docs/index.html")
	b.ReportAllocs()
	for b.Loop() {
		r.Match(host, path, nil)
	}
}
