package proxy

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Test plugins, each exercising one part of the platform through the engines.

type denyConfig struct {
	Header string `json:"header"`
}

type deny struct{ header string }

func (d *deny) Access(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	c.SetResponseHeader("X-Seen", "1") // before any response exists
	if _, ok := c.Header(d.header); ok {
		c.Respond(403, []byte("denied\n"))
		return plugin.Stop
	}
	return plugin.Continue
}

type rewrite struct{}

func (rewrite) Request(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	c.SetPath("/headers")
	c.SetHeader("X-Added", "yes")
	return plugin.Continue
}

type shout struct{}

func (shout) Response(c plugin.Ctx, _ *plugin.Slot) {
	c.SetResponseHeader("X-Shout", "1")
	c.DelResponseHeader("Content-Length")
}

func (shout) ResponseBody(_ plugin.Ctx, _ *plugin.Slot, w io.Writer) io.WriteCloser { return upperW{w} }

type upperW struct{ w io.Writer }

func (u upperW) Write(p []byte) (int, error) { return u.w.Write([]byte(strings.ToUpper(string(p)))) }
func (u upperW) Close() error                { return nil }

type boom struct{}

func (boom) Access(plugin.Ctx, *plugin.Slot) plugin.Action { panic("plugin bug") }

var logged atomic.Int64

type logger struct{}

func (logger) Log(c plugin.Ctx, _ *plugin.Slot, o *plugin.Outcome) {
	if o.Status == 200 && o.Service == "up" {
		logged.Add(1)
	}
}

func init() {
	plugin.RegisterTesting("p-deny", func(cfg *denyConfig, _ *plugin.Env) (*deny, error) { return &deny{cfg.Header}, nil })
	plugin.RegisterTesting("p-rewrite", func(*struct{}, *plugin.Env) (rewrite, error) { return rewrite{}, nil })
	plugin.RegisterTesting("p-shout", func(*struct{}, *plugin.Env) (shout, error) { return shout{}, nil })
	plugin.RegisterTesting("p-boom", func(*struct{}, *plugin.Env) (boom, error) { return boom{}, nil })
	plugin.RegisterTesting("p-log", func(*struct{}, *plugin.Env) (logger, error) { return logger{}, nil })
}

// newPluginProxy serves example.test through the named test plugins.
func newPluginProxy(tb testing.TB, upstreamAddr string, refs ...plugin.Ref) (*Proxy, *plugin.Runtime) {
	tb.Helper()
	reg := upstream.NewRegistry()
	tb.Cleanup(reg.Close)
	pool, err := reg.Acquire(upstream.Config{Name: "up", Endpoints: []upstream.EndpointConfig{{Address: upstreamAddr}}})
	if err != nil {
		tb.Fatal(err)
	}
	m := telemetry.NewMetrics()
	prt := plugin.NewRuntime(nil, slog.New(slog.DiscardHandler))
	for i := range refs {
		refs[i].Scope = plugin.Scope{Kind: "route", Name: "r"}
	}
	route := &Route{Key: "r", Name: "r", Plugins: prt.Chain(plugin.Merge(refs)),
		Backends: []Backend{{Service: "up", Pool: pool, Weight: 1, Stats: m.Route("r", "up"), Errors: m.Upstream("up")}}}
	route.Finish()
	rt := router.New[*Route]()
	table, err := router.CompileHost([]router.Entry[*Route]{{Key: "r", Path: router.PathMatch{Kind: router.PathPrefix, Value: "/"}, Value: route}})
	if err != nil {
		tb.Fatal(err)
	}
	rt.Apply(map[string]*router.HostTable[*Route]{"example.test": table})
	return New(rt, Options{Metrics: m, Log: slog.New(slog.DiscardHandler), Plugins: prt.Metrics()}), prt
}

func TestPluginsOnHTTP1(t *testing.T) {
	p, _ := newPluginProxy(t, startUpstream(t),
		plugin.Ref{Name: "p-deny", Config: map[string]any{"header": "X-Deny"}},
		plugin.Ref{Name: "p-rewrite"}, plugin.Ref{Name: "p-shout"})
	ctx := serve(p, "GET /anything HTTP/1.1\r\nHost: example.test\r\n\r\n")
	body := string(ctx.Response.Body())
	if ctx.Response.StatusCode() != 200 || !strings.Contains(body, "X-ADDED: YES") {
		t.Fatalf("rewritten request: %d %q", ctx.Response.StatusCode(), body)
	}
	if string(ctx.Response.Header.Peek("X-Seen")) != "1" || string(ctx.Response.Header.Peek("X-Shout")) != "1" {
		t.Fatalf("response headers: %s", ctx.Response.Header.String())
	}
	ctx = serve(p, "GET / HTTP/1.1\r\nHost: example.test\r\nX-Deny: 1\r\n\r\n")
	// A local answer's body goes through the body filters like any other:
	// a compressor that set Content-Encoding must also encode it.
	if ctx.Response.StatusCode() != 403 || string(ctx.Response.Body()) != "DENIED\n" {
		t.Fatalf("deny: %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if string(ctx.Response.Header.Peek("X-Seen")) != "1" {
		t.Fatal("header set in the access phase lost on a local answer")
	}
}

func TestPluginsOnHTTP2Engine(t *testing.T) {
	p, _ := newPluginProxy(t, startUpstream(t),
		plugin.Ref{Name: "p-deny", Config: map[string]any{"header": "X-Deny"}},
		plugin.Ref{Name: "p-rewrite"}, plugin.Ref{Name: "p-shout"})
	r := httptest.NewRequest("GET", "http://example.test/anything", nil)
	r.Proto, r.ProtoMajor = "HTTP/2.0", 2
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "X-ADDED: YES") || w.Header().Get("X-Shout") != "1" || w.Header().Get("X-Seen") != "1" {
		t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body.String())
	}
	r = httptest.NewRequest("GET", "http://example.test/", nil)
	r.Header.Set("X-Deny", "1")
	w = httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || w.Header().Get("X-Seen") != "1" || w.Body.String() != "DENIED\n" {
		t.Fatalf("deny: %d %v", w.Code, w.Header())
	}
}

func TestPluginPanicIsA500AndCounted(t *testing.T) {
	p, prt := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "p-boom"})
	for range 3 {
		ctx := serve(p, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
		if ctx.Response.StatusCode() != 500 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
	ch := make(chan prometheusMetric, 16)
	go func() { prt.Metrics().Collect(ch); close(ch) }()
	found := false
	for m := range ch {
		if strings.Contains(m.Desc().String(), "pylon_plugin_panics_total") {
			found = true
		}
	}
	if !found {
		t.Fatal("panic not counted")
	}
}

func TestPluginLogPhaseSeesOutcome(t *testing.T) {
	p, _ := newPluginProxy(t, startUpstream(t), plugin.Ref{Name: "p-log"})
	before := logged.Load()
	serve(p, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
	if logged.Load() != before+1 {
		t.Fatal("log hook did not see status 200 from service up")
	}
}

type prometheusMetric = prometheus.Metric

// Errors the gateway answers after routing (the upstream is down) pass the
// response phase and the body filters, so custom error pages and CORS
// headers apply to them.
func TestPluginsSeeGatewayErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p, _ := newPluginProxy(t, dead, plugin.Ref{Name: "p-shout"})
	ctx := serve(p, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
	if ctx.Response.StatusCode() != 502 || string(ctx.Response.Header.Peek("X-Shout")) != "1" || !strings.HasPrefix(string(ctx.Response.Body()), "502 UPSTREAM") {
		t.Fatalf("HTTP/1.1: %d %q %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("X-Shout"), ctx.Response.Body())
	}
	r := httptest.NewRequest("GET", "http://example.test/", nil)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 502 || w.Header().Get("X-Shout") != "1" || !strings.HasPrefix(w.Body.String(), "502 UPSTREAM") {
		t.Fatalf("HTTP/2 engine: %d %v %q", w.Code, w.Header(), w.Body.String())
	}
}
