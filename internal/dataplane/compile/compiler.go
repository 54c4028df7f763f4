// Package compile turns IR changes into the live data plane: router host
// tables, upstream pools, the certificate index and listeners. It touches
// only what a change affects (DESIGN invariant 2) and never lets one bad
// object block the others (invariant 4).
package compile

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Listeners is the part of the listener manager the compiler drives.
type Listeners interface {
	Apply(cfg *ir.Listener, hash uint64, defaultCert string) error
	Remove(name string)
}

// Deps are the live structures the compiler updates. A Compiler with zero
// Deps can still Check (what `pylon validate` does), but not Apply.
type Deps struct {
	Router    *router.Router[*proxy.Route]
	Pools     *upstream.Registry
	Certs     *tlsindex.Index
	Listeners Listeners
	Metrics   *telemetry.Metrics
	Log       *slog.Logger
	// Plugins builds and shares plugin chains; nil compiles routes without
	// them (what Check needs: configs are validated either way).
	Plugins *plugin.Runtime
	// Discovery feeds the pools of services with a discovery block; nil
	// leaves those pools empty.
	Discovery Discovery
}

// Discovery runs the watches of discovered services. Their endpoints come
// from the watch, never from the config: a recompile of the service (or
// of anything) must not put the config's empty list into the pool.
type Discovery interface {
	// CheckProvider rejects a provider whose block its package refuses.
	CheckProvider(p *ir.DiscoveryProvider) error
	// Check rejects a discovery block provider p cannot answer (a field
	// its kind does not know).
	Check(d *ir.ServiceDiscovery, p *ir.DiscoveryProvider) error
	// SetProvider opens a new provider, or one whose block changed: the
	// watches on it move to the new connection, their pools serving
	// meanwhile.
	SetProvider(p *ir.DiscoveryProvider)
	// DropProvider closes a deleted provider once no watch uses it.
	DropProvider(name string)
	// Watch starts or changes the watch feeding pool and returns the
	// endpoints known for it so far.
	Watch(pool string, d *ir.ServiceDiscovery) []upstream.EndpointConfig
	// Forget ends the watch of a pool that is gone.
	Forget(pool string)
}

// Compiler holds the accepted IR objects and the indexes that let a change
// find exactly the host tables it affects.
type Compiler struct {
	mu        sync.Mutex
	d         Deps
	objs      map[ir.Key]ir.Object
	rejected  map[ir.Key]error
	routes    map[ir.Key]*liveRoute
	hosts     map[string][]ir.Key            // host key → routes on it (a few each: a slice beats a map)
	users     map[ir.Key]map[ir.Key]struct{} // service key → routes using it
	listeners map[ir.Key]*ir.Listener
	// discovered maps each live service with a discovery block to the
	// provider it names, so a provider's delete is judged by its users
	// alone.
	discovered map[ir.Key]string
	byRef      map[ir.Key]ir.Key              // source-less key → the live object's key
	pending    map[ir.Key]ir.Object           // rejected upserts, retried when what they need may have come
	waiting    map[string]map[ir.Key]struct{} // what pending objects wait for (depOf, "host:…") → them
	counts     map[ir.Kind]int
	stats      Stats

	ps         pluginState
	pluginUses map[ir.Key][]ir.Key // object → services its plugins send to

	view atomic.Pointer[liveView] // nil until first read (live.go)
}

type liveRoute struct {
	r      *ir.Route
	hosts  []string
	sig    string
	pr     *proxy.Route
	byHost map[string]*proxy.Route // per host key when plugin scopes differ; nil: pr everywhere
	chains []*plugin.Chain         // taken from the plugin runtime, released when replaced
}

// routeFor returns the compiled route serving host key h.
func (lr *liveRoute) routeFor(h string) *proxy.Route {
	if pr, ok := lr.byHost[h]; ok {
		return pr
	}
	return lr.pr
}

// Stats describes the compiler's last apply.
type Stats struct {
	Version       uint64
	LastCompile   time.Duration // compile + publish of the last change
	LastPropagate time.Duration // source event to live for the last change
	LastApplied   time.Time
	HostsTouched  int
}

// New returns a compiler that updates d.
func New(d Deps) *Compiler {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Plugins != nil && d.Pools != nil {
		// Plugins name services as routes do: in their owner's namespace.
		d.Plugins.SetPools(func(ns, service string) *upstream.Pool {
			return d.Pools.Get(displayName(ir.Key{Namespace: ns, Name: service}))
		})
	}
	return &Compiler{
		d: d, objs: map[ir.Key]ir.Object{}, rejected: map[ir.Key]error{},
		routes: map[ir.Key]*liveRoute{}, hosts: map[string][]ir.Key{}, users: map[ir.Key]map[ir.Key]struct{}{},
		listeners: map[ir.Key]*ir.Listener{}, discovered: map[ir.Key]string{}, counts: map[ir.Kind]int{}, byRef: map[ir.Key]ir.Key{}, pending: map[ir.Key]ir.Object{}, waiting: map[string]map[ir.Key]struct{}{},
		ps: newPluginState(), pluginUses: map[ir.Key][]ir.Key{},
	}
}

// Stats returns figures about the last apply.
func (c *Compiler) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Rejected returns the objects whose latest version was refused, and why.
func (c *Compiler) Rejected() map[ir.Key]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[ir.Key]error, len(c.rejected))
	for k, v := range c.rejected {
		out[k] = v
	}
	return out
}

// Objects returns the accepted objects, sorted by key.
func (c *Compiler) Objects() []ir.Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ir.Object, 0, len(c.objs))
	for _, o := range c.objs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b ir.Object) int { return cmpKey(a.Key, b.Key) })
	return out
}

func cmpKey(a, b ir.Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// Counts returns the number of accepted objects by kind.
func (c *Compiler) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(ir.Kinds))
	for _, k := range ir.Kinds {
		out[string(k)] = c.counts[k]
	}
	return out
}
