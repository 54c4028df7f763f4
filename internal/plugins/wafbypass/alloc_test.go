package wafbypass

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugins/internal/benchctx"
	"pylon.io/pylon/internal/upstream"
)

// fastWAF is a WAF that allocates nothing per request of its own, so an
// allocation count in the same process is the plugin's.
func fastWAF(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) }}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().String()
}

func benchRequest() *benchctx.Ctx {
	c := benchctx.New("/api/orders", "Accept", "application/json", "User-Agent", "bench/1", "Cookie", "session=abc",
		"Content-Type", "application/json", "X-Forwarded-For", "198.51.100.1")
	c.MethodB, c.QueryB = []byte("POST"), []byte("page=2")
	c.RequestIDV = ""
	c.BodyV, c.BodyBuffered = make([]byte, 1024), true
	return c
}

// A checked request costs a handful of allocations once the pools are
// warm, not one per header or body byte: the exchange's goroutine closure
// (ours), and four in the upstream client's streamed-response path
// (fasthttp's transport, its close reader, a bytes.Reader). An open
// circuit costs none.
func TestCheckAllocations(t *testing.T) {
	if benchctx.RaceEnabled {
		t.Skip("the race detector allocates")
	}
	h := newHarness(t, fastWAF(t), upstream.HTTP1, cfg("timeout", "1s"))
	c := benchRequest()
	for range 100 {
		h.do(c)
	}
	if n := testing.AllocsPerRun(500, func() {
		if !h.do(c) {
			t.Fatal("refused")
		}
	}); n > 5 {
		t.Fatalf("a check with a healthy WAF: %v allocations, want at most 5", n)
	}
	h = newHarness(t, deadAddrB(t), upstream.HTTP1, cfg("breaker", map[string]any{"minRequests": 1, "openFor": "1h"}))
	h.do(c)
	if n := h.count("pylon_waf_bypass_circuit_total", "opened"); n != 1 {
		t.Fatalf("opened %d, want 1", n)
	}
	if n := testing.AllocsPerRun(500, func() { c.Security = c.Security[:0]; h.do(c) }); n != 0 {
		t.Fatalf("an open circuit: %v allocations, want 0", n)
	}
}
