package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// routesYAML returns a config with one service and n routes, each with its
// own host, a prefix match and one backend.
func routesYAML(n int) []byte {
	var b strings.Builder
	b.WriteString("services:\n  - name: echo\n    endpoints: [\"127.0.0.1:9001\"]\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: route-%d\n    hosts: [\"h%d.example.com\"]\n    match: { path: { prefix: /api/%d } }\n    backends: [{ service: echo, weight: 100 }]\n", i, i, i)
	}
	return []byte(b.String())
}

func BenchmarkLoad100kRoutes(b *testing.B) {
	path := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, routesYAML(100_000), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		entries, errs := Load(path)
		if len(errs) > 0 || len(entries) != 100_001 {
			b.Fatalf("got %d entries, errors %v", len(entries), errs)
		}
	}
	// CPU time is reported too because wall time on a shared machine says
	// more about the neighbours than about this code.
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
