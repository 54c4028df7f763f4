// Package concurrencylimit is the concurrency-limit plugin: at most max
// requests in flight per route or per service, on each node.
package concurrencylimit

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("concurrency-limit", "Limits the requests in flight per route or service", build)
}

// Config is the concurrency-limit plugin's config.
type Config struct {
	// Max is the most requests in flight at once per route or service.
	Max int64 `json:"max"`
	// Per is route (default) or service.
	Per string `json:"per,omitempty"`
	// Status answers a request over the limit (default 503).
	Status int `json:"status,omitempty"`
	// Body is the answer's body (default "503 too many requests in flight").
	Body string `json:"body,omitempty"`
}

// Validate checks the config, naming each wrong field.
func (c *Config) Validate() error {
	var errs []error
	if c.Max <= 0 {
		errs = append(errs, plugin.Errorf("max", "must be > 0 (got %d)", c.Max))
	}
	switch c.Per {
	case "", "route", "service":
	default:
		errs = append(errs, plugin.Errorf("per", "must be route or service (got %q)", c.Per))
	}
	if c.Status != 0 && (c.Status < 400 || c.Status > 599) {
		errs = append(errs, plugin.Errorf("status", "must be between 400 and 599 (got %d)", c.Status))
	}
	return errors.Join(errs...)
}

// Limiter is one concurrency-limit instance. Per route it counts in the
// access phase; per service in the upstream phase, once the service is
// chosen (a canary may have changed it). The log phase gives the slot back.
type Limiter struct {
	max      int64
	service  bool
	status   int
	body     []byte
	gauges   *gauges
	rejected *plugin.Counter
}

var (
	_ plugin.AccessHandler   = (*Limiter)(nil)
	_ plugin.UpstreamHandler = (*Limiter)(nil)
	_ plugin.LogHandler      = (*Limiter)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Limiter, error) {
	l := &Limiter{max: cfg.Max, service: cfg.Per == "service", status: cfg.Status, body: []byte(cfg.Body),
		rejected: env.Counter("rejected")}
	if l.status == 0 {
		l.status = http.StatusServiceUnavailable
	}
	if cfg.Body == "" {
		l.body = []byte(http.StatusText(l.status) + ": too many requests in flight\n")
	}
	// In-flight counts live in the state store: a config change elsewhere
	// rebuilds the chain, and requests admitted before it must still be
	// counted (and released) against the same gauges.
	l.gauges = env.State("", func() any { return new(gauges) }).(*gauges)
	return l, nil
}

// Access takes a slot for the route.
func (l *Limiter) Access(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	if l.service {
		return plugin.Continue
	}
	return l.acquire(c, s, c.RouteName())
}

// Upstream takes a slot for the chosen service.
func (l *Limiter) Upstream(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	if !l.service || s.P != nil {
		return plugin.Continue
	}
	return l.acquire(c, s, c.Service())
}

func (l *Limiter) acquire(c plugin.Ctx, s *plugin.Slot, name string) plugin.Action {
	g := l.gauges.get(name)
	if g.Add(1) > l.max {
		g.Add(-1)
		l.rejected.Inc()
		c.Respond(l.status, l.body)
		return plugin.Stop
	}
	s.P = g // remembered for the release; a pointer in P does not allocate
	return plugin.Continue
}

// Log gives back the slot the request took, if it took one.
func (l *Limiter) Log(_ plugin.Ctx, s *plugin.Slot, _ *plugin.Outcome) {
	if g, ok := s.P.(*atomic.Int64); ok {
		g.Add(-1)
		s.P = nil
	}
}

// InFlight returns the requests in flight for a route or service.
func (l *Limiter) InFlight(name string) int64 { return l.gauges.get(name).Load() }

// gauges holds one in-flight count per route or service name. Names come
// from config (routes, services), so the map stays as small as the config.
// A sync.Map, since after the first request of each name it is only read:
// its reads take no lock that every request would contend on.
type gauges struct {
	m sync.Map // name → *atomic.Int64
}

func (g *gauges) get(name string) *atomic.Int64 {
	if v, ok := g.m.Load(name); ok {
		return v.(*atomic.Int64)
	}
	v, _ := g.m.LoadOrStore(name, new(atomic.Int64))
	return v.(*atomic.Int64)
}
