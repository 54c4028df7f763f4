package wafbypass

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// asked is a request the WAF received.
type asked struct {
	Method, URI, Host, Proto string
	Header                   http.Header
	Body                     []byte
}

// startWAF starts a WAF on 127.0.0.1 (HTTP/1.1 and h2c) whose verdicts
// come from handler, and reports each request it got.
func startWAF(t testing.TB, handler http.HandlerFunc) (addr string, got chan asked) {
	t.Helper()
	got = make(chan asked, 1000)
	srv := httptest.NewUnstartedServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- asked{r.Method, r.RequestURI, r.Host, r.Proto, r.Header.Clone(), b}:
		default:
		}
		handler(w, r)
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

// harness is a runtime whose pools resolve "waf" to addr (no pool when
// addr is empty) and one waf-bypass chain on it.
type harness struct {
	t  testing.TB
	rt *plugin.Runtime
	ch *plugin.Chain
	r  plugin.Runner
}

func newHarness(t testing.TB, addr string, proto upstream.Protocol, cfg map[string]any) *harness {
	t.Helper()
	if _, err := plugin.DecodeConfig("waf-bypass", cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, rt: plugin.NewRuntime(nil, slog.New(slog.DiscardHandler))}
	if addr != "" {
		reg := upstream.NewRegistry()
		t.Cleanup(reg.Close)
		pool, err := reg.Acquire(upstream.Config{Name: "waf", Protocol: proto, Endpoints: []upstream.EndpointConfig{{Address: addr}}})
		if err != nil {
			t.Fatal(err)
		}
		h.rt.SetPools(func(_, name string) *upstream.Pool {
			if name == "waf" {
				return pool
			}
			return nil
		})
	}
	h.ch = h.rt.Chain([]plugin.Ref{{Scope: plugin.Scope{Kind: "route", Name: "r"}, Name: "waf-bypass", Config: cfg}})
	t.Cleanup(func() { h.rt.Release(h.ch) })
	return h
}

// do runs the request and access phases for c and reports whether the
// request goes on to the upstream.
func (h *harness) do(c plugin.Ctx) bool {
	h.r.Reset(h.ch, "default", h.rt.Metrics(), nil)
	return h.r.Request(c) == plugin.Continue
}

// count returns the instance's value in a pylon_waf_bypass_* family for
// the label value.
func (h *harness) count(family, value string) int64 {
	ch := make(chan prometheus.Metric, 256)
	go func() { h.rt.Metrics().Collect(ch); close(ch) }()
	var n int64
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `fqName: "`+family+`"`) {
			continue
		}
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		for _, p := range d.Label {
			if p.GetName() != "scope" && p.GetValue() == value {
				n += int64(d.Counter.GetValue())
			}
		}
	}
	return n
}

func cfg(kv ...any) map[string]any {
	m := map[string]any{"service": "waf", "timeout": "200ms"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}
