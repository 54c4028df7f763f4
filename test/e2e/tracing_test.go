package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// tracingConfig is a gateway traced to Jaeger at ratio, its access log in
// logPath, with an echo route and a route over a flaky backend that is
// retried on 500.
func tracingConfig(listen, echo, flaky, jaegerGRPC, logPath string, ratio float64, propagators string) string {
	return fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: echo
    endpoints: [%q]
  - name: flaky
    endpoints: [%q]
routes:
  - name: echo
    hosts: ["echo.trace.test"]
    backends: [{ service: echo }]
  - name: flaky
    hosts: ["flaky.trace.test"]
    backends: [{ service: flaky }]
    retries: { attempts: 3, on: [500] }
telemetry:
  tracing: { exporter: otlp-grpc, endpoint: %q, sampleRatio: %v, propagators: [%s], batchTimeout: 100ms }
  accessLog:
    format: json
    sinks: [{ file: { path: %q } }]
`, listen, echo, flaky, jaegerGRPC, ratio, propagators, logPath)
}

// accessTraceIDs reads the access log's lines: path → trace_id.
func accessTraceIDs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Path    string `json:"path"`
			TraceID string `json:"trace_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		out[e.Path] = e.TraceID
	}
	return out
}

// TestTracingToJaeger: a request that comes with a sampled traceparent
// is in Jaeger as a server span whose parent is the caller's span, with a
// client span per upstream try (a retry shows as a second one); the
// upstream sees Pylon's try span as its parent; the access log line
// carries the trace id. A malformed traceparent is never passed on: a new
// trace starts.
func TestTracingToJaeger(t *testing.T) {
	t.Parallel()
	j := testenv.StartJaeger(t)
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	flaky := backends.StartFlaky(t, "flaky")
	flaky.SetFailPercent(50) // the 2nd, 4th, ... requests answer 500
	logPath := filepath.Join(t.TempDir(), "access.log")
	startGateway(t, tracingConfig(listen, echo, flaky.Addr, j.OTLPGRPC, logPath, 0, "tracecontext"))
	c := newClient()

	const tid, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := do(t, c, "GET", "http://"+listen+"/traced", "echo.trace.test",
		"Traceparent: 00-"+tid+"-"+callerSpan+"-01", "Tracestate: vendor=opaque")
	if r.Status != 200 {
		t.Fatalf("traced request: %d", r.Status)
	}
	seen := r.echo(t).Headers
	tp := strings.Join(seen["Traceparent"], ",")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != tid || parts[3] != "01" || parts[2] == callerSpan {
		t.Fatalf("upstream saw traceparent %q; want trace %s, sampled, with Pylon's span as parent", tp, tid)
	}
	if ts := strings.Join(seen["Tracestate"], ","); ts != "vendor=opaque" {
		t.Errorf("upstream saw tracestate %q", ts)
	}
	spans := j.WaitTrace(tid, 2, 20*time.Second)
	var server, try *testenv.JaegerSpan
	for i := range spans {
		switch spans[i].Tag("span.kind") {
		case "server":
			server = &spans[i]
		case "client":
			try = &spans[i]
		}
	}
	if server == nil || try == nil {
		t.Fatalf("trace %s: want a server and a client span, got %+v", tid, spans)
	}
	if server.Parent() != callerSpan {
		t.Errorf("server span's parent is %q, want the caller's %s", server.Parent(), callerSpan)
	}
	if try.Parent() != server.SpanID || try.SpanID != parts[2] {
		t.Errorf("try span %s (parent %s): want the span the upstream saw (%s), child of the server span %s", try.SpanID, try.Parent(), parts[2], server.SpanID)
	}
	if got := server.Tag("pylon.route"); got != "echo" {
		t.Errorf("server span route %q", got)
	}
	if got := server.Tag("http.response.status_code"); got != "200" {
		t.Errorf("server span status %q", got)
	}

	// A retry: the flaky backend answers the 1st request, fails the 2nd
	// (500) and answers its retry.
	const retryTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	do(t, c, "GET", "http://"+listen+"/first", "flaky.trace.test")
	r = do(t, c, "GET", "http://"+listen+"/retried", "flaky.trace.test", "Traceparent: 00-"+retryTrace+"-"+callerSpan+"-01")
	if r.Status != 200 {
		t.Fatalf("retried request: %d", r.Status)
	}
	spans = j.WaitTrace(retryTrace, 3, 20*time.Second)
	var tries []testenv.JaegerSpan
	var srv string
	for _, s := range spans {
		if s.Tag("span.kind") == "server" {
			srv = s.SpanID
		}
	}
	for _, s := range spans {
		if s.Tag("span.kind") == "client" && s.Parent() == srv {
			tries = append(tries, s)
		}
	}
	if len(tries) != 2 {
		t.Fatalf("retried request: %d try spans under the server span, want 2: %+v", len(tries), spans)
	}
	codes := map[string]bool{}
	for _, s := range tries {
		codes[s.Tag("http.response.status_code")+"/"+s.Tag("pylon.try")] = true
	}
	if !codes["500/1"] || !codes["200/2"] {
		t.Errorf("try spans: %v, want the 1st answered 500 and the 2nd 200", codes)
	}

	// A malformed traceparent starts a new trace and is never passed on.
	const bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
	r = do(t, c, "GET", "http://"+listen+"/malformed", "echo.trace.test", "Traceparent: "+bad, "Tracestate: vendor=x")
	seen = r.echo(t).Headers
	got := strings.Join(seen["Traceparent"], ",")
	if got == bad || strings.Contains(strings.ToLower(got), strings.ToLower(tid)) || len(strings.Split(got, "-")) != 4 {
		t.Errorf("malformed traceparent: upstream saw %q", got)
	}
	if ts := seen["Tracestate"]; len(ts) != 0 {
		t.Errorf("tracestate of a malformed traceparent passed on: %q", ts)
	}

	// The access log names each request's trace.
	eventually(t, 5*time.Second, "three access log lines", func() (bool, string) {
		ids := accessTraceIDs(t, logPath)
		return len(ids) >= 4, fmt.Sprint(ids)
	})
	ids := accessTraceIDs(t, logPath)
	if ids["/traced"] != tid || ids["/retried"] != retryTrace {
		t.Errorf("access log trace ids: %v", ids)
	}
	if newID := ids["/malformed"]; len(newID) != 32 || !strings.Contains(got, newID) {
		t.Errorf("malformed request logged trace %q, upstream saw %q", newID, got)
	}
}

// TestTracingSampling: at sampleRatio 0.1 new traces are kept 10% ± 2%
// of the time over 10,000 requests (the upstream sees the decision in the
// traceparent flags), and a sampled parent is always kept.
func TestTracingSampling(t *testing.T) {
	t.Parallel()
	j := testenv.StartJaeger(t)
	listen := testenv.FreeAddr(t)
	echo := backends.StartHTTP(t, "echo")
	logPath := filepath.Join(t.TempDir(), "access.log")
	gw := startGateway(t, tracingConfig(listen, echo, echo, j.OTLPGRPC, logPath, 0.1, "tracecontext"))

	count := func(n int, header ...string) (sampled, unsampled int64) {
		var s, u atomic.Int64
		var wg sync.WaitGroup
		per := n / 8
		for range 8 {
			wg.Go(func() {
				c := newClient()
				for range per {
					resp, err := tryDo(c, "GET", "http://"+listen+"/s", "echo.trace.test", header...)
					if err != nil || resp.Status != 200 {
						t.Errorf("request: %v %d", err, resp.Status)
						return
					}
					var e backends.Echo
					if err := json.Unmarshal([]byte(resp.Body), &e); err != nil {
						t.Error(err)
						return
					}
					switch tp := e.Headers["Traceparent"]; {
					case len(tp) == 1 && strings.HasSuffix(tp[0], "-01"):
						s.Add(1)
					case len(tp) == 1 && strings.HasSuffix(tp[0], "-00"):
						u.Add(1)
					default:
						t.Errorf("upstream saw traceparent %q", tp)
					}
				}
			})
		}
		wg.Wait()
		return s.Load(), u.Load()
	}
	s, u := count(10000)
	share := float64(s) / float64(s+u)
	t.Logf("new traces: %d sampled of %d (%.2f%%)", s, s+u, 100*share)
	if s+u != 10000 || share < 0.08 || share > 0.12 {
		t.Errorf("sampled %d of %d new traces (%.3f), want 10%% ± 2%%", s, s+u, share)
	}
	s, u = count(400, "Traceparent: 00-6bf92f3577b34da6a3ce929d0e0e4738-00f067aa0ba902b7-01")
	if s != 400 || u != 0 {
		t.Errorf("sampled parent: %d kept, %d dropped; want every one kept", s, u)
	}
	s, u = count(400, "Traceparent: 00-7bf92f3577b34da6a3ce929d0e0e4739-00f067aa0ba902b7-00")
	if s != 0 || u != 400 {
		t.Errorf("unsampled parent: %d kept, %d dropped; want none kept", s, u)
	}
	// Spans reached Jaeger and none were dropped on the way.
	eventually(t, 10*time.Second, "the exported span count", func() (bool, string) {
		m := gw.get("/metrics")
		return strings.Contains(m, "pylon_tracing_spans_dropped_total 0") && !strings.Contains(m, "pylon_tracing_spans_exported_total 0\n"),
			grepLines(m, "pylon_tracing_")
	})
	spans := j.WaitTrace("6bf92f3577b34da6a3ce929d0e0e4738", 800, 20*time.Second)
	if len(spans) != 800 {
		t.Errorf("the sampled parent's trace holds %d spans, want 800 (a server and a try span per request)", len(spans))
	}
}
