package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"pylon.io/pylon/internal/upstream"
)

// Ref is one plugin attached at one scope, as the compile stage hands it
// over after merging scopes (see Merge).
type Ref struct {
	Scope Scope
	// Namespace is the owner's: service names in the config resolve there.
	Namespace string
	Name      string
	Config    map[string]any
	Disabled  bool
}

// Merge flattens scopes, widest first (global, host, route): a plugin named
// again in a narrower scope replaces the wider one, and a Disabled entry
// removes it. The result is in execution order.
func Merge(layers ...[]Ref) []Ref {
	var out []Ref
	for _, layer := range layers {
		for _, r := range layer {
			out = slices.DeleteFunc(out, func(x Ref) bool { return x.Name == r.Name })
			if !r.Disabled {
				out = append(out, r)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Ref) int { return positionOf(a.Name) - positionOf(b.Name) })
	return out
}

// Runtime builds plugin instances and chains for the compile stage and
// shares them: one instance per plugin, scope and config however many
// routes use it, and one chain per distinct list of instances (100k routes
// under the same global plugins share one chain).
type Runtime struct {
	mu      sync.Mutex
	insts   map[string]*instance
	chains  map[string]*Chain
	state   *StateStore
	metrics *Metrics
	members Membership
	log     *slog.Logger
	pools   func(namespace, service string) *upstream.Pool
	consumers
}

type instance struct {
	id       string
	name     string
	v        any
	services []string
	env      *Env
	refs     int
}

// NewRuntime returns a runtime; members may be nil (standalone).
func NewRuntime(members Membership, log *slog.Logger) *Runtime {
	if log == nil {
		log = slog.Default()
	}
	return &Runtime{insts: map[string]*instance{}, chains: map[string]*Chain{}, state: NewStateStore(),
		metrics: newMetrics(), members: members, log: log}
}

// SetPools tells the runtime how to find the upstream pool of a service
// named in a namespace; the compile stage, which names pools, sets it.
func (rt *Runtime) SetPools(fn func(namespace, service string) *upstream.Pool) { rt.pools = fn }

// Metrics returns the plugins' Prometheus collector.
func (rt *Runtime) Metrics() *Metrics { return rt.metrics }

// State returns the runtime's state store.
func (rt *Runtime) State() *StateStore { return rt.state }

// Identity is the key of a plugin instance: name, scope and a hash of the
// config, so equal configs at one scope share an instance and its state.
func Identity(r Ref) string {
	data, _ := json.Marshal(r.Config) // plain data: maps are marshalled in key order
	sum := sha256.Sum256(data)
	return r.Name + "\x00" + r.Namespace + "\x00" + r.Scope.String() + "\x00" + hex.EncodeToString(sum[:8])
}

// Chain returns the chain of refs (in execution order, as Merge returns
// them), shared with every caller asking for the same instances. Call
// Release when it is no longer published. Configs must have passed
// DecodeConfig; an instance whose build still fails answers 500 (fail
// closed) rather than silently dropping, say, a limit.
func (rt *Runtime) Chain(refs []Ref) *Chain {
	if len(refs) > MaxChain {
		refs = refs[:MaxChain] // Validate-time checks keep chains far shorter
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = Identity(r)
	}
	key := strings.Join(ids, "\x01")
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if ch := rt.chains[key]; ch != nil {
		ch.refs++
		return ch
	}
	ch := &Chain{key: key, refs: 1, rt: rt}
	for i, r := range refs {
		inst := rt.instance(ids[i], r)
		ch.add(inst)
	}
	rt.chains[key] = ch
	return ch
}

// Release drops one use of ch; its instances go when no chain uses them.
func (rt *Runtime) Release(ch *Chain) {
	if ch == nil {
		return
	}
	rt.mu.Lock()
	ch.refs--
	var closing []*instance
	if ch.refs == 0 {
		delete(rt.chains, ch.key)
		for _, inst := range ch.insts {
			inst.refs--
			if inst.refs == 0 {
				delete(rt.insts, inst.id)
				closing = append(closing, inst)
			}
		}
	}
	rt.mu.Unlock()
	for _, inst := range closing {
		inst.env.close()
	}
}

// instance returns the shared instance for id, building it on first use.
// The caller holds rt.mu.
func (rt *Runtime) instance(id string, r Ref) *instance {
	if inst := rt.insts[id]; inst != nil {
		inst.refs++
		return inst
	}
	env := &Env{Plugin: r.Name, Scope: r.Scope, Namespace: r.Namespace, ID: id, Members: rt.members, Log: rt.log.With("plugin", r.Name, "scope", r.Scope.String()), rt: rt}
	inst := &instance{id: id, name: r.Name, env: env, refs: 1}
	v, services, err := rt.build(r, env)
	inst.services = services
	if err != nil {
		rt.log.Error("plugin: build failed; the plugin answers 500 until its config changes",
			"plugin", r.Name, "scope", r.Scope.String(), "error", err)
		v = &broken{name: r.Name}
	}
	inst.v = v
	rt.insts[id] = inst
	return inst
}

func (rt *Runtime) build(r Ref, env *Env) (v any, services []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	cfg, err := DecodeConfig(r.Name, r.Config)
	if err != nil {
		return nil, nil, err
	}
	if su, ok := cfg.(ServiceUser); ok {
		services = su.Services()
	}
	d, _ := Lookup(r.Name)
	v, err = d.build(cfg, env)
	return v, services, err
}

// ServicesOf decodes a plugin config and returns the services it sends
// requests to (nil when it sends none or the config is invalid).
func ServicesOf(name string, config map[string]any) []string {
	if d, ok := Lookup(name); !ok || !d.sends {
		return nil // most plugins send nowhere: no need to decode their config again
	}
	cfg, err := DecodeConfig(name, config)
	if err != nil {
		return nil
	}
	if su, ok := cfg.(ServiceUser); ok {
		return su.Services()
	}
	return nil
}

// Instances returns the number of live instances.
func (rt *Runtime) Instances() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.insts)
}

// broken stands in for an instance that could not be built.
type broken struct{ name string }

func (b *broken) Request(c Ctx, _ *Slot) Action {
	c.Respond(500, []byte("500 plugin "+b.name+" is misconfigured\n"))
	return Stop
}
