package mirror

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// copyReq is what the mirror target received.
type copyReq struct {
	Method, URI, Host string
	Header            http.Header
	Body              []byte
	Proto             string
}

// target starts a mirror target on 127.0.0.1 (HTTP/1.1 and h2c) that reports each request on
// the returned channel after handler (may be nil) returns.
func target(t testing.TB, handler func(w http.ResponseWriter, r *http.Request)) (addr string, got chan copyReq) {
	t.Helper()
	got = make(chan copyReq, 1000)
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if handler != nil {
			handler(w, r)
		}
		select {
		case got <- copyReq{r.Method, r.RequestURI, r.Host, r.Header, b, r.Proto}:
		default:
		}
	}), &http2.Server{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String(), got
}

// harness is a runtime whose pools resolve "shadow" to addr (no pool when
// addr is empty), and one mirror chain on it.
type harness struct {
	rt *plugin.Runtime
	ch *plugin.Chain
	r  plugin.Runner
}

func newHarness(t testing.TB, addr string, cfg map[string]any) *harness {
	t.Helper()
	return newHarnessProto(t, addr, upstream.HTTP1, cfg)
}

// newHarnessProto is newHarness with the target pool speaking proto.
func newHarnessProto(t testing.TB, addr string, proto upstream.Protocol, cfg map[string]any) *harness {
	t.Helper()
	if _, err := plugin.DecodeConfig("mirror", cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{rt: plugin.NewRuntime(nil, slog.New(slog.DiscardHandler))}
	if addr != "" {
		reg := upstream.NewRegistry()
		t.Cleanup(reg.Close)
		pool, err := reg.Acquire(upstream.Config{Name: "shadow", Protocol: proto, Endpoints: []upstream.EndpointConfig{{Address: addr}}})
		if err != nil {
			t.Fatal(err)
		}
		h.rt.SetPools(func(_, name string) *upstream.Pool {
			if name == "shadow" {
				return pool
			}
			return nil
		})
	}
	h.ch = h.rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "mirror", Config: cfg}})
	t.Cleanup(func() { h.rt.Release(h.ch) })
	h.r.Reset(h.ch, "default", h.rt.Metrics(), nil)
	return h
}

func (h *harness) counter(event string) int64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { h.rt.Metrics().Collect(ch); close(ch) }()
	var n int64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		l := map[string]string{}
		for _, p := range d.Label {
			l[p.GetName()] = p.GetValue()
		}
		if l["plugin"] == "mirror" && l["event"] == event {
			n += int64(d.Counter.GetValue())
		}
	}
	return n
}
