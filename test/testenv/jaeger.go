package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Jaeger is a real Jaeger (v2, all in one, in-memory storage) started by a
// test, with its OTLP receivers and query API on free ports on 127.0.0.1.
// It is stopped in t.Cleanup.
type Jaeger struct {
	t        testing.TB
	OTLPGRPC string // host:port of the OTLP/gRPC receiver
	OTLPHTTP string // host:port of the OTLP/HTTP receiver
	Query    string // host:port of the query API (and UI)
	proc     *Process
}

// StartJaeger starts jaeger from hack/testenv.sh and waits until its query
// API answers. Under CI a missing jaeger fails the test.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := Tool(t, "jaeger")
	j := &Jaeger{t: t, OTLPGRPC: FreeAddr(t), OTLPHTTP: FreeAddr(t), Query: FreeAddr(t)}
	queryGRPC := FreeAddr(t)
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    logs: { level: warn }
    metrics: { level: none }
    traces: { level: none }
receivers:
  otlp:
    protocols:
      grpc: { endpoint: %q }
      http: { endpoint: %q }
extensions:
  jaeger_storage:
    backends:
      mem: { memory: { max_traces: 100000 } }
  jaeger_query:
    storage: { traces: mem }
    grpc: { endpoint: %q }
    http: { endpoint: %q }
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, j.OTLPGRPC, j.OTLPHTTP, queryGRPC, j.Query)
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	j.proc = Start(t, bin, "--config", path)
	j.proc.WaitHTTP(t, "http://"+j.Query+"/api/services", 30*time.Second)
	j.proc.WaitTCP(t, j.OTLPGRPC)
	return j
}

// JaegerSpan is a span as Jaeger's query API returns it.
type JaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value any    `json:"value"`
	} `json:"tags"`
	StartTime int64 `json:"startTime"`
	Duration  int64 `json:"duration"`
}

// Parent returns the span id the span is a child of, "" for a root.
func (s JaegerSpan) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Tag returns a tag's value as text, "" when the span has none.
func (s JaegerSpan) Tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// Trace returns the spans Jaeger holds of a trace (hex id), nil when it
// holds none yet.
func (j *Jaeger) Trace(traceID string) ([]JaegerSpan, error) {
	resp, err := http.Get("http://" + j.Query + "/api/traces/" + traceID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger: GET /api/traces/%s: %s", traceID, resp.Status)
	}
	var body struct {
		Data []struct {
			Spans []JaegerSpan `json:"spans"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	var spans []JaegerSpan
	for _, d := range body.Data {
		spans = append(spans, d.Spans...)
	}
	return spans, nil
}

// WaitTrace polls until Jaeger holds at least n spans of the trace, and
// returns them; it fails the test after timeout.
func (j *Jaeger) WaitTrace(traceID string, n int, timeout time.Duration) []JaegerSpan {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	var spans []JaegerSpan
	var err error
	for time.Now().Before(deadline) {
		spans, err = j.Trace(traceID)
		if err == nil && len(spans) >= n {
			return spans
		}
		time.Sleep(100 * time.Millisecond)
	}
	j.t.Fatalf("jaeger: trace %s has %d spans after %v, want %d (last error: %v)\n%s", traceID, len(spans), timeout, n, err, j.proc.Log())
	return nil
}
