// Package concurrencylimit is the concurrency-limit plugin: at most max
// requests in flight per route or per service, on each node.
package concurrencylimit

import (
	"errors"
	"hash/maphash"
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
	// Max is the most requests in flight at once per route, service or
	// client address.
	Max int64 `json:"max"`
	// Per is route (default), service or ip.
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
	case "", "route", "service", "ip":
	default:
		errs = append(errs, plugin.Errorf("per", "must be route, service or ip (got %q)", c.Per))
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
	perIP    bool
	clients  *clients
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
	l := &Limiter{max: cfg.Max, service: cfg.Per == "service", perIP: cfg.Per == "ip", status: cfg.Status, body: []byte(cfg.Body),
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
	if l.perIP {
		l.clients = env.State("clients", func() any { return newClients() }).(*clients)
	}
	return l, nil
}

// Access takes a slot for the route, or for the client's address.
func (l *Limiter) Access(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	switch {
	case l.service:
		return plugin.Continue
	case l.perIP:
		e, ok := l.clients.acquire(c.ClientIP(), l.max)
		if !ok {
			l.rejected.Inc()
			c.Respond(l.status, l.body)
			return plugin.Stop
		}
		s.P = e
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
	switch v := s.P.(type) {
	case *atomic.Int64:
		v.Add(-1)
	case *client:
		l.clients.release(v)
	}
	s.P = nil
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

// clients counts requests in flight per client address, sharded so that
// requests from different clients rarely wait on one lock. An address
// whose requests are all done keeps its entry, so a client's next request
// allocates nothing, until its shard holds maxShard entries: a new address
// then sweeps the idle ones out. The table stays as large as the clients
// being served plus a bounded number of recent ones.
type clients struct {
	seed   maphash.Seed
	shards [16]clientShard
}

type clientShard struct {
	mu sync.Mutex
	m  map[string]*client
}

type client struct {
	n     int64
	addr  string
	shard *clientShard
}

// maxShard bounds a shard's entries before idle ones are swept.
const maxShard = 1024

func newClients() *clients {
	c := &clients{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]*client{}
	}
	return c
}

// shard picks addr's shard.
func (cs *clients) shard(addr []byte) *clientShard {
	return &cs.shards[maphash.Bytes(cs.seed, addr)%uint64(len(cs.shards))]
}

// acquire counts one more request from addr, unless max are in flight.
func (cs *clients) acquire(addr []byte, max int64) (*client, bool) {
	sh := cs.shard(addr)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[string(addr)]
	if e == nil {
		if len(sh.m) >= maxShard {
			for k, idle := range sh.m {
				if idle.n == 0 {
					delete(sh.m, k)
				}
			}
		}
		e = &client{addr: string(addr), shard: sh}
		sh.m[e.addr] = e
	}
	if e.n >= max {
		return nil, false
	}
	e.n++
	return e, true
}

// release counts one request of e's client done.
func (cs *clients) release(e *client) {
	sh := e.shard
	sh.mu.Lock()
	e.n--
	sh.mu.Unlock()
}

// InFlightFrom returns the requests in flight from a client address.
func (l *Limiter) InFlightFrom(addr string) int64 {
	if l.clients == nil {
		return 0
	}
	sh := l.clients.shard([]byte(addr))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[addr]; e != nil {
		return e.n
	}
	return 0
}
