package plugin

import (
	"log/slog"
	"sync"

	"pylon.io/pylon/internal/upstream"
)

// Scope says where a plugin was attached.
type Scope struct {
	Kind string // "global", "host", "route", "shared" (a route plugin's named instance) or "consumer"
	Name string // the host policy's, route's, instance's or consumer's name; "" for global
}

func (s Scope) String() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + "/" + s.Name
}

// Membership tells cluster-aware plugins how many gateway nodes share the
// traffic. In standalone mode there is no membership: one node.
type Membership interface {
	// Live returns the number of live nodes (at least 1).
	Live() int
	// Changed returns a channel that is closed (or receives) when Live may
	// have changed; call it again after each signal.
	Changed() <-chan struct{}
}

// Env is what a plugin's build function gets besides its config.
type Env struct {
	// Plugin is the plugin's name.
	Plugin string
	// Scope is where this instance is attached.
	Scope Scope
	// Namespace is the attaching object's; Pool resolves service names in it.
	Namespace string
	// ID identifies the instance: plugin, scope and config. State keyed by
	// it survives any change that leaves the plugin's config alone.
	ID string
	// Members is the cluster membership; nil outside a cluster.
	Members Membership
	Log     *slog.Logger

	rt       *Runtime
	mu       sync.Mutex
	releases []func()
}

// State returns the state entry under the instance's ID plus suffix (use a
// suffix to keep several, e.g. one per service), creating it with create.
// It stays while any instance with the same identity uses it; an entry that
// is an io.Closer is closed when the last one goes.
func (e *Env) State(suffix string, create func() any) any {
	v, release := e.rt.state.Acquire(e.ID+"\x00"+suffix, create)
	e.OnClose(release)
	return v
}

// SharedState is State keyed by key alone, for state shared across
// instances and plugins (one Redis client per address).
func (e *Env) SharedState(key string, create func() any) any {
	v, release := e.rt.state.Acquire("shared\x00"+key, create)
	e.OnClose(release)
	return v
}

// OnClose registers fn to run when the instance is dropped (no chain uses
// it any more): stop its goroutines there. Requests already running may
// still call the instance's hooks afterwards; they must stay safe.
func (e *Env) OnClose(fn func()) {
	e.mu.Lock()
	e.releases = append(e.releases, fn)
	e.mu.Unlock()
}

// Pool returns the live upstream pool of a service (nil if there is none),
// for plugins that send requests themselves (mirroring). Declare the
// services through ServiceUser so the compile stage checks they exist.
// Pools are long-lived: look them up at build time and keep them.
func (e *Env) Pool(service string) *upstream.Pool {
	if e.rt.pools == nil {
		return nil
	}
	return e.rt.pools(e.Namespace, service)
}

// Counter returns the instance's counter for event, exported as
// pylon_plugin_events_total{plugin, scope, event}.
func (e *Env) Counter(event string) *Counter {
	return e.rt.metrics.counter(e.Plugin, e.Scope.String(), event)
}

func (e *Env) close() {
	e.mu.Lock()
	rs := e.releases
	e.releases = nil
	e.mu.Unlock()
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i]()
	}
}
