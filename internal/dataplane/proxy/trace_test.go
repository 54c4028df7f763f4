package proxy

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
	_ "pylon.io/pylon/internal/plugins/tracing" // the tracing plugin, for a route that turns tracing off
	"pylon.io/pylon/internal/telemetry/tracing"
)

func newTracer(tb testing.TB, ratio float64, propagators ...string) *tracing.Tracer {
	tb.Helper()
	cfg := tracing.Config{Endpoint: "127.0.0.1:1", SampleRatio: &ratio, Propagators: propagators}
	s, err := cfg.Resolve("tracing")
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := tracing.New(s, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Nothing listens at the endpoint: give up its spans at once.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		tr.Shutdown(ctx)
	})
	return tr
}

// upstreamHeader returns the value of name the upstream received ("" for
// none) from its /headers answer.
func upstreamHeader(t *testing.T, body, name string) []string {
	t.Helper()
	var vals []string
	for l := range strings.SplitSeq(body, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			vals = append(vals, v)
		}
	}
	return vals
}

func TestTracePropagation(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	up := startUpstream(t)
	p := newTestProxy(t, up)
	p.SetTracer(newTracer(t, 0))
	get := func(headers ...string) string {
		raw := "GET /headers HTTP/1.1\r\nHost: example.test\r\n"
		for _, h := range headers {
			raw += h + "\r\n"
		}
		ctx := serve(p, raw+"\r\n")
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
		return string(ctx.Response.Body())
	}

	// An unsampled parent: the same trace, Pylon's own span id, not sampled.
	body := get("Traceparent: 00-"+tid+"-"+sid+"-00", "Tracestate: a=1")
	tp := upstreamHeader(t, body, "Traceparent")
	if len(tp) != 1 || !strings.HasPrefix(tp[0], "00-"+tid+"-") || strings.Contains(tp[0], sid) || !strings.HasSuffix(tp[0], "-00") {
		t.Errorf("unsampled parent: upstream saw %q", tp)
	}
	if ts := upstreamHeader(t, body, "Tracestate"); len(ts) != 1 || ts[0] != "a=1" {
		t.Errorf("tracestate: %q", ts)
	}

	// No parent: a new trace. A malformed parent: a new trace too, and
	// neither it nor its tracestate goes upstream.
	for _, h := range [][]string{nil, {"Traceparent: 00-xyz-" + sid + "-01", "Tracestate: a=1"}} {
		body := get(h...)
		tp := upstreamHeader(t, body, "Traceparent")
		if len(tp) != 1 {
			t.Fatalf("%q: upstream saw traceparent %q", h, tp)
		}
		if _, ok := tracing.ParseTraceparent([]byte(tp[0])); !ok || strings.Contains(tp[0], tid) {
			t.Errorf("%q: upstream saw %q", h, tp[0])
		}
		if ts := upstreamHeader(t, body, "Tracestate"); len(ts) != 0 {
			t.Errorf("%q: tracestate %q passed on", h, ts)
		}
	}
}

func TestTracePropagationB3(t *testing.T) {
	const tid, sid = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
	p := newTestProxy(t, startUpstream(t))
	p.SetTracer(newTracer(t, 0, tracing.B3Multi, tracing.B3Single))
	ctx := serve(p, "GET /headers HTTP/1.1\r\nHost: example.test\r\nX-B3-TraceId: "+tid+"\r\nX-B3-SpanId: "+sid+"\r\nX-B3-Sampled: 0\r\n\r\n")
	body := string(ctx.Response.Body())
	if got := upstreamHeader(t, body, "X-B3-Traceid"); len(got) != 1 || got[0] != tid {
		t.Errorf("X-B3-TraceId %q", got)
	}
	if got := upstreamHeader(t, body, "X-B3-Spanid"); len(got) != 1 || got[0] == sid || len(got[0]) != 16 {
		t.Errorf("X-B3-SpanId %q: want Pylon's own", got)
	}
	if got := upstreamHeader(t, body, "X-B3-Sampled"); len(got) != 1 || got[0] != "0" {
		t.Errorf("X-B3-Sampled %q", got)
	}
	if got := upstreamHeader(t, body, "B3"); len(got) != 1 || !strings.HasPrefix(got[0], tid+"-") || !strings.HasSuffix(got[0], "-0") {
		t.Errorf("b3 %q", got)
	}
	if got := upstreamHeader(t, body, "Traceparent"); len(got) != 0 {
		t.Errorf("traceparent %q written without the tracecontext propagator", got)
	}
}

// A route whose tracing plugin turns tracing off passes the client's trace
// headers on as they came.
func TestTraceRouteOff(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "tracing", Config: map[string]any{"disabled": true}}, plugin.Ref{Name: "p-rewrite"})
	p.SetTracer(newTracer(t, 1))
	ctx := serve(p, "GET /x HTTP/1.1\r\nHost: example.test\r\nTraceparent: "+tp+"\r\nTracestate: a=1\r\n\r\n")
	body := string(ctx.Response.Body())
	if got := upstreamHeader(t, body, "Traceparent"); len(got) != 1 || got[0] != tp {
		t.Errorf("traceparent %q, want the client's", got)
	}
	if got := upstreamHeader(t, body, "Tracestate"); len(got) != 1 || got[0] != "a=1" {
		t.Errorf("tracestate %q", got)
	}
}

// A route's tracing plugin sets the share of its new traces that are
// sampled, over the telemetry config's.
func TestTraceRouteSampleRatio(t *testing.T) {
	for _, tc := range []struct {
		global, route float64
		flag          string
	}{{0, 1, "-01"}, {1, 0, "-00"}} {
		p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "tracing", Config: map[string]any{"sampleRatio": tc.route}}, plugin.Ref{Name: "p-rewrite"})
		p.SetTracer(newTracer(t, tc.global))
		for range 20 {
			ctx := serve(p, "GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n")
			got := upstreamHeader(t, string(ctx.Response.Body()), "Traceparent")
			if len(got) != 1 || !strings.HasSuffix(got[0], tc.flag) {
				t.Fatalf("global %v, route %v: upstream saw traceparent %q, want flags %s", tc.global, tc.route, got, tc.flag)
			}
		}
	}
}

// With a tracer, every propagator's header the client sent, spelled in any
// case, is taken off the request (Pylon writes its own), even those of
// propagators not configured: the presence set skips only lookups of
// headers the request does not hold.
func TestTraceHeadersStrippedInAnyCase(t *testing.T) {
	p := newTestProxy(t, startUpstream(t))
	p.SetTracer(newTracer(t, 0)) // tracecontext only
	for _, name := range traceHeaders {
		for _, spelled := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			ctx := serve(p, "GET /headers HTTP/1.1\r\nHost: example.test\r\n"+spelled+": forged\r\nX-Keep: yes\r\n\r\n")
			body := string(ctx.Response.Body())
			if got := upstreamHeader(t, body, name); name != tracing.HeaderTraceparent && len(got) != 0 {
				t.Errorf("%s: upstream saw %q", spelled, got)
			}
			if got := upstreamHeader(t, body, tracing.HeaderTraceparent); len(got) != 1 || got[0] == "forged" {
				t.Errorf("%s: traceparent %q, want Pylon's own", spelled, got)
			}
			if got := upstreamHeader(t, body, "X-Keep"); len(got) != 1 {
				t.Errorf("%s: X-Keep lost", spelled)
			}
		}
	}
}

// BenchmarkServeFastTrace compares the request path read off the wire
// with tracing off, on at 1% sampling (the unsampled path nearly always),
// and on for every request: the per-request price of each.
func BenchmarkServeFastTrace(b *testing.B) {
	const raw = "GET /bench HTTP/1.1\r\nHost: example.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
	for _, v := range []struct {
		name  string
		ratio float64
	}{{"off", -1}, {"1pct", 0.01}, {"all", 1}} {
		b.Run(v.name, func(b *testing.B) {
			p := newTestProxy(b, startUpstream(b))
			if v.ratio >= 0 {
				p.SetTracer(newTracer(b, v.ratio))
			}
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			br := bufio.NewReader(nil)
			sr := strings.NewReader(raw)
			addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
			b.ReportAllocs()
			for b.Loop() {
				sr.Reset(raw)
				br.Reset(sr)
				req.Reset()
				if err := req.Read(br); err != nil {
					b.Fatal(err)
				}
				ctx.Init(&req, addr, nil)
				p.ServeFast(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatal(ctx.Response.StatusCode())
				}
				ctx.Response.Reset()
			}
		})
	}
}
