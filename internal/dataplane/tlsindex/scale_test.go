package tlsindex

import (
	"crypto/tls"
	"fmt"
	"runtime"
	"testing"
)

// loadMany parses and applies n certificates, each with two names, in
// batches the way a resync would, and returns the heap growth per
// certificate. The generated PEM is dropped after Parse so that only what
// the index keeps is counted.
func loadMany(tb testing.TB, x *Index, n int) float64 {
	before := heapInUse()
	const batch = 1000
	entries := make([]*Entry, 0, batch)
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("host-%d.example.com", i)
		c := genCert(tb, "", host, "*."+host)
		entries = append(entries, mustParse(tb, "file/default/"+host, c))
		if len(entries) == batch || i == n-1 {
			x.Apply(entries, nil)
			entries = entries[:0]
		}
	}
	after := heapInUse()
	if x.Len() != n {
		tb.Fatalf("Len = %d, want %d", x.Len(), n)
	}
	return float64(after-before) / float64(n)
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestMemoryPerCertificate loads 10,000 certificates and reports the heap
// they cost; BenchmarkLoad100k does the same at full scale.
func TestMemoryPerCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 10,000 certificates")
	}
	x := New()
	per := loadMany(t, x, 10_000)
	t.Logf("10,000 certificates, unparsed: %.0f heap bytes per certificate", per)
	// The PEM alone is ~800 bytes for an ECDSA P-256 leaf and key; the
	// bound catches an accidental eager parse (several KiB each).
	if per > 3000 {
		t.Errorf("%.0f bytes per certificate, want under 3000", per)
	}
	before := heapInUse()
	for i := 0; i < 1000; i++ {
		if _, err := x.GetCertificate(&tls.ClientHelloInfo{ServerName: fmt.Sprintf("host-%d.example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("after the first handshake: +%.0f heap bytes per parsed certificate", float64(heapInUse()-before)/1000)
	runtime.KeepAlive(x)
}

func BenchmarkLoad100k(b *testing.B) {
	for b.Loop() {
		x := New()
		per := loadMany(b, x, 100_000)
		b.ReportMetric(per, "heapB/cert")
		runtime.KeepAlive(x)
	}
}

// BenchmarkApplyOne measures replacing one certificate among 100,000: the
// cost must stay O(change), not O(certificates).
func BenchmarkApplyOne(b *testing.B) {
	x := New()
	loadMany(b, x, 100_000)
	e := mustParse(b, "file/default/host-5.example.com", genCert(b, "", "host-5.example.com", "*.host-5.example.com"))
	b.ReportAllocs()
	for b.Loop() {
		x.Apply([]*Entry{e}, nil)
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	x := New()
	loadMany(b, x, 10_000)
	for _, n := range []string{"host-42.example.com", "API.host-42.example.com"} {
		b.Run(n, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: n}
			if _, err := x.GetCertificate(hello); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.GetCertificate(hello)
			}
		})
	}
}
