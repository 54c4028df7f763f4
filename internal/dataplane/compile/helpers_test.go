package compile

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// recordingListeners stands in for the listener manager: binding sockets is
// not what these tests are about, and the manager has tests of its own.
type recordingListeners struct {
	mu      sync.Mutex
	applied map[string]uint64
}

func (l *recordingListeners) Apply(cfg *ir.Listener, hash uint64, _ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied[cfg.Name] = hash
	return nil
}

func (l *recordingListeners) Remove(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.applied, name)
}

type fixture struct {
	c       *Compiler
	router  *router.Router[*proxy.Route]
	pools   *upstream.Registry
	plugins *plugin.Runtime
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	rt := router.New[*proxy.Route]()
	pools := upstream.NewRegistry()
	tb.Cleanup(pools.Close)
	plugins := plugin.NewRuntime(nil, slog.New(slog.DiscardHandler))
	c := New(Deps{
		Router: rt, Pools: pools, Certs: tlsindex.New(),
		Listeners: &recordingListeners{applied: map[string]uint64{}},
		Metrics:   telemetry.NewMetrics(), Log: slog.New(slog.DiscardHandler),
		Plugins: plugins,
	})
	return &fixture{c: c, router: rt, pools: pools, plugins: plugins}
}

func obj(r ir.Resource) ir.Object { return ir.NewObject("file", "default", r) }

func svc(name string, eps ...string) *ir.Service {
	s := &ir.Service{Name: name}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, ir.Endpoint{Address: e})
	}
	return s
}

func route(name, host, prefix, service string) *ir.Route {
	r := &ir.Route{Name: name, Match: ir.RouteMatch{Path: &ir.PathMatch{Prefix: prefix}}, Backends: []ir.Backend{{Service: service}}}
	if host != "" {
		r.Hosts = []string{host}
	}
	return r
}

func upserts(rs ...ir.Resource) ir.Change {
	var ch ir.Change
	for _, r := range rs {
		ch.Upserts = append(ch.Upserts, obj(r))
	}
	return ch
}

func key(kind ir.Kind, name string) ir.Key {
	return ir.Key{Kind: kind, Source: "file", Namespace: "default", Name: name}
}

type req struct{ method string }

func (r req) Method() []byte             { return []byte(r.method) }
func (req) Header(string) ([]byte, bool) { return nil, false }
func (req) Query(string) ([]byte, bool)  { return nil, false }
func (req) TLS() bool                    { return false }

// served returns the compiled route serving host+path, or nil.
func (f *fixture) served(host, path string) *proxy.Route {
	r, ok := f.router.Match([]byte(host), []byte(path), req{"GET"})
	if !ok {
		return nil
	}
	return r
}

// match returns the name of the route serving host+path, or "".
func (f *fixture) match(host, path string) string {
	r, ok := f.router.Match([]byte(host), []byte(path), req{"GET"})
	if !ok {
		return ""
	}
	return r.Name
}

func mustAccept(tb testing.TB, res ir.Result) {
	tb.Helper()
	for k, err := range res.Rejected {
		tb.Fatalf("%s rejected: %v", k, err)
	}
}

func manyRoutes(n int) ir.Change {
	ch := upserts(svc("echo", "127.0.0.1:1"))
	for i := 0; i < n; i++ {
		ch.Upserts = append(ch.Upserts, obj(route(fmt.Sprintf("r%d", i), fmt.Sprintf("h%d.example.com", i), "/", "echo")))
	}
	return ch
}
