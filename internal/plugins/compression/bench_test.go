package compression

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

// benchBody is about 16 KB of JSON records, varied like an API's answer
// (a body of one repeated line would flatter every codec).
var benchBody = func() []byte {
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango")
	var b bytes.Buffer
	b.WriteString("[")
	x := uint32(12345)
	for i := 0; b.Len() < 16<<10; i++ {
		x = x*1664525 + 1013904223
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"%s %s","score":%d.%02d,"tags":["%s","%s"],"active":%t}`,
			x%100000, words[x%20], words[(x>>8)%20], x%1000, (x>>4)%100, words[(x>>12)%20], words[(x>>16)%20], x%3 == 0)
	}
	b.WriteString("]")
	return b.Bytes()
}()

// benchResponse runs one 16 KB JSON response through the plugin.
func benchResponse(r *plugin.Runner, c *benchctx.Ctx) {
	c.Reset()
	r.Response(c)
	if bw, ok := r.Body(c, io.Discard); ok {
		bw.Write(benchBody)
		bw.Close()
	}
}

func newBench(tb testing.TB, enc string) (*plugin.Runner, *benchctx.Ctx) {
	r := plugintest.Build(tb, "compression", map[string]any{"encodings": []any{enc}}, nil)
	c := benchctx.New("/", "Accept-Encoding", "gzip, deflate, br, zstd")
	c.Response(200, "Content-Type", "application/json", "Content-Length", "16400", "Vary", "Origin",
		"Accept-Ranges", "bytes")
	return r, c
}

func BenchmarkCompress(b *testing.B) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			r, c := newBench(b, enc)
			b.ReportAllocs()
			b.SetBytes(int64(len(benchBody)))
			for b.Loop() {
				benchResponse(r, c)
			}
			b.ReportMetric(float64(compressedLen(enc)), "out-bytes")
		})
	}
}

// BenchmarkDecision is the cost for a response that is not compressed (an
// image): the header checks alone.
func BenchmarkDecision(b *testing.B) {
	r := plugintest.Build(b, "compression", map[string]any{}, nil)
	c := benchctx.New("/", "Accept-Encoding", "gzip, deflate, br, zstd")
	c.Response(200, "Content-Type", "image/png", "Content-Length", "5100")
	b.ReportAllocs()
	for b.Loop() {
		benchResponse(r, c)
	}
}

func BenchmarkNegotiate(b *testing.B) {
	h := []byte("gzip, deflate, br;q=0.9, zstd;q=0.8, *;q=0.1")
	prefs := []coding{zstdC, brotliC, gzipC}
	b.ReportAllocs()
	for b.Loop() {
		negotiate(h, prefs)
	}
}

// TestNoAllocations pins the steady state: pooled encoders mean a
// compressed response allocates nothing in the plugin (the ETag rewrite,
// absent here, is the one exception). The plugin's hooks are called
// directly: the chain's own body plumbing is the platform's to measure.
func TestNoAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		var cfg Config
		cfg.Default()
		cfg.Encodings = []string{enc}
		p, _ := build(&cfg, nil)
		_, c := newBench(t, enc)
		var s plugin.Slot
		run := func() {
			c.Reset()
			s = plugin.Slot{}
			p.Response(c, &s)
			w := p.ResponseBody(c, &s, io.Discard)
			w.Write(benchBody)
			w.Close()
		}
		run() // fill the pool
		if n := testing.AllocsPerRun(50, run); n > 0 {
			t.Errorf("%s: %.1f allocations per response, want 0", enc, n)
		}
	}
}

// compressedLen is the size benchBody compresses to with enc's default level.
func compressedLen(enc string) int {
	var cfg Config
	cfg.Default()
	p, _ := build(&cfg, nil)
	c, _ := codingOf(enc)
	var out bytes.Buffer
	w := p.ResponseBody(nil, &plugin.Slot{N: int64(c)}, &out)
	w.Write(benchBody)
	w.Close()
	return out.Len()
}
