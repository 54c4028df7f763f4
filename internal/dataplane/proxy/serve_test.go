package proxy

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/telemetry/tracing"
	"pylon.io/pylon/internal/upstream"
)

// startUpstream runs a real fasthttp server on loopback that reports which
// request headers it received.
func startUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/headers" {
			var b strings.Builder
			for k, v := range ctx.Request.Header.All() {
				b.WriteString(string(k) + ": " + string(v) + "\n")
			}
			ctx.SetBodyString(b.String())
			ctx.Response.Header.Set("Keep-Alive", "timeout=5")
			return
		}
		if string(ctx.Path()) == "/echo" {
			ctx.SetBody(ctx.Request.Body())
			return
		}
		ctx.SetStatusCode(200)
	}}
	go s.Serve(ln)
	tb.Cleanup(func() { s.Shutdown() })
	return ln.Addr().String()
}

func newTestProxy(tb testing.TB, upstreamAddr string) *Proxy {
	return newProxyFor(tb, upstream.Config{Name: "up", Endpoints: []upstream.EndpointConfig{{Address: upstreamAddr}}})
}

// newProxyFor serves every path of example.test from one pool of cfg.
func newProxyFor(tb testing.TB, cfg upstream.Config) *Proxy {
	tb.Helper()
	reg := upstream.NewRegistry()
	tb.Cleanup(reg.Close)
	pool, err := reg.Acquire(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	m := telemetry.NewMetrics()
	route := &Route{Key: "r", Name: "r", Backends: []Backend{{Service: cfg.Name, Pool: pool, Weight: 1, Stats: m.Route("r", cfg.Name), Errors: m.Upstream(cfg.Name)}}}
	route.Finish()
	rt := router.New[*Route]()
	table, err := router.CompileHost([]router.Entry[*Route]{{Key: "r", Path: router.PathMatch{Kind: router.PathPrefix, Value: "/"}, Value: route}})
	if err != nil {
		tb.Fatal(err)
	}
	rt.Apply(map[string]*router.HostTable[*Route]{"example.test": table})
	return New(rt, Options{Metrics: m, Log: slog.New(slog.DiscardHandler)})
}

func serve(p *Proxy, raw string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	if err := req.Read(bufioReader(raw)); err != nil {
		panic(err)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 5555}, nil)
	p.ServeFast(&ctx)
	return &ctx
}

func TestServeFastForwardingHeaders(t *testing.T) {
	p := newTestProxy(t, startUpstream(t))
	ctx := serve(p, "GET /headers HTTP/1.1\r\nHost: example.test\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: gzip\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n")
	body := string(ctx.Response.Body())
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), body)
	}
	for _, want := range []string{"X-Forwarded-For: 192.0.2.1, 10.0.0.9", "X-Forwarded-Proto: http", "X-Forwarded-Host: example.test", "X-Request-Id: "} {
		if !strings.Contains(body, want) {
			t.Errorf("upstream did not get %q:\n%s", want, body)
		}
	}
	for _, hop := range []string{"X-Hop", "Keep-Alive", "Te:", "TE:", "Connection"} {
		if strings.Contains(body, hop) {
			t.Errorf("hop-by-hop %q reached the upstream:\n%s", hop, body)
		}
	}
	if len(ctx.Response.Header.Peek("Keep-Alive")) != 0 {
		t.Error("upstream's Keep-Alive reached the client")
	}
	if !ctx.Response.ConnectionClose() {
		t.Error("the client's Connection: close was not honoured")
	}
}

func TestServeFastNoRoute(t *testing.T) {
	p := newTestProxy(t, startUpstream(t))
	ctx := serve(p, "GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
	if ctx.Response.StatusCode() != 404 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
}

// BenchmarkServeFast measures the HTTP/1.1 request path end to end (routing,
// header rewriting, pooled upstream round trip over loopback, metrics).
func BenchmarkServeFast(b *testing.B) {
	benchServeFast(b, newTestProxy(b, startUpstream(b)))
}

// BenchmarkServeFastWithPlugins is BenchmarkServeFast through a chain of an
// access hook that lets the request on and a log hook: the platform's own
// cost per request.
func BenchmarkServeFastWithPlugins(b *testing.B) {
	p, _ := newPluginProxy(b, startUpstream(b), plugin.Ref{Name: "p-deny", Config: map[string]any{"header": "X-Deny"}}, plugin.Ref{Name: "p-log"})
	benchServeFast(b, p)
}

func benchServeFast(b *testing.B, p *Proxy) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/bench")
	req.Header.SetHost("example.test")
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(&req, addr, nil)
		p.ServeFast(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
		ctx.Response.Reset()
		req.Header.Del("X-Forwarded-For")
		req.Header.Del("X-Request-Id")
	}
}

// TestServeFastAllocations pins the HTTP/1.1 request path's allocations.
// Pylon's own code allocates nothing per request; what remains is the
// engine's: RequestCtx.Init (one per request in this harness) and fasthttp's
// streamed upstream response (its reader wrappers: five), the price of
// passing server-sent events and large downloads through unbuffered. Six in
// all today; the half is slack for a sync.Pool refilled after a GC.
func TestServeFastAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (the suite also runs this test without it)")
	}
	t.Run("no plugins", func(t *testing.T) { checkServeFastAllocs(t, newTestProxy(t, startUpstream(t))) })
	// The plugin platform allocates nothing per request either: the chain,
	// its slots and the hooks' interface calls are precompiled.
	t.Run("plugin chain", func(t *testing.T) {
		p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "p-deny", Config: map[string]any{"header": "X-Deny"}}, plugin.Ref{Name: "p-log"})
		checkServeFastAllocs(t, p)
	})
	// Tracing on, the request not sampled (99 of 100 at the default
	// ratio): reading the trace context, deciding and writing Pylon's
	// traceparent upstream allocate nothing.
	t.Run("tracing, unsampled", func(t *testing.T) {
		p := newTestProxy(t, startUpstream(t))
		p.SetTracer(unsampledTracer(t))
		checkServeFastAllocs(t, p)
	})
}

// unsampledTracer is a tracer that keeps no new trace; its exporter's
// address is never dialled, as no span is ever sampled.
func unsampledTracer(tb testing.TB) *tracing.Tracer {
	tb.Helper()
	zero := 0.0
	cfg := tracing.Config{Endpoint: "127.0.0.1:1", SampleRatio: &zero}
	s, err := cfg.Resolve("tracing")
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := tracing.New(s, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr
}

func checkServeFastAllocs(t *testing.T, p *Proxy) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/bench")
	req.Header.SetHost("example.test")
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	serve := func() {
		ctx.Init(&req, addr, nil)
		p.ServeFast(&ctx)
		ctx.Response.Reset()
		req.Header.Del("X-Forwarded-For")
		req.Header.Del("X-Request-Id")
	}
	serve() // warm the pools and the upstream connection
	if n := testing.AllocsPerRun(200, serve); n > 6.5 {
		t.Fatalf("%.1f allocations per request, want 6 (see the comment)", n)
	}
}
