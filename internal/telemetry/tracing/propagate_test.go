package tracing

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		in      string
		ok      bool
		sampled bool
	}{
		{"00-" + tid + "-" + sid + "-01", true, true},
		{"00-" + tid + "-" + sid + "-00", true, false},
		{" 00-" + tid + "-" + sid + "-03 ", true, true},                     // other flag bits are ignored
		{"01-" + tid + "-" + sid + "-01-what-the-future-holds", true, true}, // a later version may add fields
		{"00-" + tid + "-" + sid + "-01-extra", false, false},               // version 00 has exactly four
		{"ff-" + tid + "-" + sid + "-01", false, false},                     // version ff is invalid
		{"00-" + strings.Repeat("0", 32) + "-" + sid + "-01", false, false},
		{"00-" + tid + "-" + strings.Repeat("0", 16) + "-01", false, false},
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", false, false}, // upper-case hex is invalid
		{"00-" + tid + "-" + sid + "-0g", false, false},
		{"00-" + tid[:31] + "-" + sid + "-01", false, false},
		{"00_" + tid + "-" + sid + "-01", false, false},
		{"", false, false},
	} {
		p, ok := ParseTraceparent([]byte(tc.in))
		if ok != tc.ok || ok && p.Sampled != tc.sampled {
			t.Errorf("ParseTraceparent(%q) = %+v, %v; want ok %v sampled %v", tc.in, p, ok, tc.ok, tc.sampled)
		}
		if ok {
			if got := string(AppendHex(nil, p.TraceID[:])); got != tid {
				t.Errorf("%q: trace id %s", tc.in, got)
			}
		}
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	var tid [16]byte
	randomTraceID(&tid)
	sid := randomSpanID()
	for _, sampled := range []bool{true, false} {
		v := AppendTraceparent(nil, tid, sid, sampled)
		p, ok := ParseTraceparent(v)
		if !ok || p.TraceID != tid || p.SpanID != sid || p.Sampled != sampled {
			t.Fatalf("round trip of %s: %+v %v", v, p, ok)
		}
	}
}

func TestValidTracestate(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", true},
		{"tenant@vendor=x, other=y", true},
		{"", true},
		{"Upper=1", false},
		{"a=", false},
		{"=b", false},
		{"a=b=c", false},
		{strings.Repeat("k=v,", 33), false},
		{"k=" + strings.Repeat("v", 600), false},
	} {
		if got := ValidTracestate([]byte(tc.in)); got != tc.ok {
			t.Errorf("ValidTracestate(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestParseB3(t *testing.T) {
	const tid, sid = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
	for _, tc := range []struct {
		in                string
		ok, sampled, defr bool
	}{
		{tid + "-" + sid + "-1", true, true, false},
		{tid + "-" + sid + "-0", true, false, false},
		{tid + "-" + sid + "-d", true, true, false},
		{tid + "-" + sid, true, false, true},
		{tid + "-" + sid + "-1-05e3ac9a4f6e3b90", true, true, false},
		{"64fe8b2a57d3eff7-" + sid + "-1", true, true, false}, // 64-bit trace id
		{"1", false, false, false},
		{tid + "-" + sid + "-x", false, false, false},
		{tid + "-" + sid + "-1-bad", false, false, false},
		{tid[:20] + "-" + sid + "-1", false, false, false},
	} {
		p, ok := ParseB3([]byte(tc.in))
		if ok != tc.ok || ok && (p.Sampled != tc.sampled || p.Deferred != tc.defr) {
			t.Errorf("ParseB3(%q) = %+v, %v", tc.in, p, ok)
		}
	}
	p, _ := ParseB3([]byte("64fe8b2a57d3eff7-" + sid + "-1"))
	if got := string(AppendHex(nil, p.TraceID[:])); got != "000000000000000064fe8b2a57d3eff7" {
		t.Errorf("64-bit trace id widened to %s", got)
	}
}

func TestParseB3Multi(t *testing.T) {
	h := map[string]string{
		HeaderB3TraceID: "80f198ee56343ba864fe8b2a57d3eff7",
		HeaderB3SpanID:  "e457b5a2e4d86bd1",
		HeaderB3Sampled: "1",
	}
	get := func(n string) []byte { return []byte(h[n]) }
	if p, ok := ParseB3Multi(get); !ok || !p.Sampled {
		t.Fatalf("sampled: %+v %v", p, ok)
	}
	h[HeaderB3Sampled] = ""
	if p, ok := ParseB3Multi(get); !ok || !p.Deferred {
		t.Fatalf("deferred: %+v %v", p, ok)
	}
	h[HeaderB3SpanID] = "zz"
	if _, ok := ParseB3Multi(get); ok {
		t.Fatal("bad span id accepted")
	}
}

func TestSamplerParentBased(t *testing.T) {
	s := Sampler{Ratio: 0, ParentBased: true}
	var tid [16]byte
	randomTraceID(&tid)
	if !s.Sample(&Parent{Sampled: true}, tid, -1) {
		t.Error("a sampled parent was not kept at ratio 0")
	}
	s.Ratio = 1
	if s.Sample(&Parent{Sampled: false}, tid, -1) {
		t.Error("an unsampled parent was kept at ratio 1")
	}
	if !s.Sample(&Parent{Deferred: true}, tid, -1) {
		t.Error("a deferring parent was not decided by the ratio")
	}
	s.ParentBased = false
	if !s.Sample(&Parent{Sampled: false}, tid, -1) {
		t.Error("without ParentBased the ratio decides")
	}
	if s.Sample(nil, tid, 0) {
		t.Error("a route ratio of 0 kept a new trace")
	}
}

func TestSamplerRatio(t *testing.T) {
	s := Sampler{Ratio: 0.1, ParentBased: true}
	kept := 0
	const n = 100000
	for range n {
		var tid [16]byte
		randomTraceID(&tid)
		if s.Sample(nil, tid, -1) {
			kept++
		}
	}
	if share := float64(kept) / n; share < 0.095 || share > 0.105 {
		t.Errorf("kept %.4f of new traces at ratio 0.1", share)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := 1.5
	c := Config{Exporter: "zipkin", Endpoint: "127.0.0.1", SampleRatio: &bad, Propagators: []string{"tracecontext", "jaeger"}}
	err := c.Validate("telemetry.tracing")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`telemetry.tracing.exporter: must be otlp-grpc or otlp-http (got "zipkin")`,
		`telemetry.tracing.endpoint: must be host:port or an http(s) URL (got "127.0.0.1")`,
		`telemetry.tracing.sampleRatio: must be between 0 and 1 (got 1.5)`,
		`telemetry.tracing.propagators[1]: unknown propagator "jaeger"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, ep := range []string{"ftp://x:1", "http://", "127.0.0.1:0", "127.0.0.1:99999", ":4317"} {
		c := Config{Endpoint: ep}
		if err := c.Validate("t"); err == nil || !strings.Contains(err.Error(), "t.endpoint") {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
}

func TestConfigEnvironment(t *testing.T) {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
		"OTEL_PROPAGATORS":            "b3, tracecontext",
		"OTEL_SERVICE_NAME":           "edge",
	}
	var c Config
	s, err := c.resolve("t", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.Exporter != ExporterOTLPHTTP || s.Endpoint != "http://127.0.0.1:4318" || !s.Insecure ||
		s.Sampler != (Sampler{Ratio: 0.25, ParentBased: true}) || strings.Join(s.Propagators, ",") != "b3,tracecontext" || s.ServiceName != "edge" {
		t.Errorf("settings %+v", s)
	}
	// The config wins over the environment.
	r := 0.5
	c = Config{Endpoint: "127.0.0.1:4317", SampleRatio: &r, Exporter: ExporterOTLPGRPC}
	s, err = c.resolve("t", func(k string) string { return env[k] })
	if err != nil || s.Endpoint != "127.0.0.1:4317" || s.Sampler.Ratio != 0.5 || s.Exporter != ExporterOTLPGRPC {
		t.Errorf("config over environment: %+v %v", s, err)
	}
	env["OTEL_TRACES_SAMPLER"] = "sometimes"
	c = Config{Endpoint: "127.0.0.1:4317"}
	if _, err := c.resolve("t", func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER") {
		t.Errorf("bad sampler env: %v", err)
	}
}

// FuzzPropagators feeds arbitrary header values to every parser: none may
// panic, and whatever one accepts must write back to a value that parses
// to the same context (nothing malformed is ever passed on).
func FuzzPropagators(f *testing.F) {
	f.Add([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"))
	f.Add([]byte("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"))
	f.Add([]byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"))
	f.Fuzz(func(t *testing.T, v []byte) {
		if p, ok := ParseTraceparent(v); ok {
			out := AppendTraceparent(nil, p.TraceID, p.SpanID, p.Sampled)
			q, ok := ParseTraceparent(out)
			if !ok || q != p {
				t.Fatalf("%q parsed to %+v, written as %q, read back as %+v %v", v, p, out, q, ok)
			}
		}
		if p, ok := ParseB3(v); ok {
			out := AppendB3(nil, p.TraceID, p.SpanID, p.Sampled)
			q, ok := ParseB3(out)
			if !ok || q.TraceID != p.TraceID || q.SpanID != p.SpanID || q.Sampled != p.Sampled {
				t.Fatalf("b3 %q → %q → %+v", v, out, q)
			}
		}
		if ValidTracestate(v) && (len(v) > maxTracestate || bytes.ContainsAny(v, "\r\n\x00")) {
			t.Fatalf("tracestate %q accepted", v)
		}
		_, _ = ParseB3Multi(func(string) []byte { return v })
	})
}
