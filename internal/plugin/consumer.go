package plugin

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
)

// MaxConsumerChain bounds a consumer's plugins; the runner keeps this many
// slots per request besides the route chain's.
const MaxConsumerChain = 8

// Consumer is one consumer's plugins (consumer scope), compiled. Once an
// auth plugin names the request's client, the runner looks its Consumer up
// in the route's namespace and runs the consumer's plugins from there on,
// merged into the route's chain by the ordering table: a consumer's plugin
// replaces the route's plugin of the same name, and a disabled entry only
// removes it.
type Consumer struct {
	Name  string
	chain *Chain
	over  []int // positions of every plugin the consumer names
}

// Chain returns the consumer's own plugins (for inspection).
func (c *Consumer) Chain() *Chain { return c.chain }

// overrides reports whether the consumer names the plugin at position pos.
func (c *Consumer) overrides(pos int) bool { return slices.Contains(c.over, pos) }

// CheckConsumerPlugin says why a plugin cannot be attached to a consumer:
// it runs before authentication (so before the consumer is known), or it
// sends requests to services of its own, which the route would have to
// know about when it is compiled. nil: it can.
func CheckConsumerPlugin(name string) error {
	d, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("unknown plugin %q", name)
	}
	if d.Position <= lastAuth() {
		return fmt.Errorf("%s runs before authentication, when the consumer is not known yet: attach it to the route, a host policy or globally", name)
	}
	if d.sends {
		return fmt.Errorf("%s sends requests to services, which a consumer cannot add to a route: attach it to the route", name)
	}
	return nil
}

// lastAuth is the ordering-table position of the last auth plugin.
func lastAuth() int {
	last := -1
	for i, o := range order {
		if o.auth {
			last = i
		}
	}
	return last
}

// ConsumerFor compiles a consumer's plugins; refs are its entries as
// written (disabled ones included), all passing CheckConsumerPlugin and
// DecodeConfig. Release it with ReleaseConsumer once it is replaced.
func (rt *Runtime) ConsumerFor(name string, refs []Ref) *Consumer {
	c := &Consumer{Name: name}
	for _, r := range refs {
		c.over = append(c.over, positionOf(r.Name))
	}
	enabled := Merge(refs)
	if len(enabled) > MaxConsumerChain {
		enabled = enabled[:MaxConsumerChain]
	}
	c.chain = rt.Chain(enabled)
	return c
}

// ReleaseConsumer drops a consumer no longer published.
func (rt *Runtime) ReleaseConsumer(c *Consumer) {
	if c != nil {
		rt.Release(c.chain)
	}
}

// consumerTable is the published consumers: namespace → name → consumer.
// It is replaced whole (copy on write, sharing untouched namespaces), so
// the request path reads it without locks or allocations.
type consumerTable map[string]map[string]*Consumer

type consumers struct {
	table atomic.Pointer[consumerTable]
}

// ConsumerKey names a consumer: its namespace and name.
type ConsumerKey struct{ Namespace, Name string }

// PublishConsumers makes a batch of consumer changes live at once (a nil
// value deletes) and returns the consumers they replace, for the caller to
// release once requests can no longer reach them.
func (rt *Runtime) PublishConsumers(changes map[ConsumerKey]*Consumer) (old []*Consumer) {
	if len(changes) == 0 {
		return nil
	}
	var next consumerTable
	if cur := rt.consumers.table.Load(); cur != nil {
		next = maps.Clone(*cur)
	} else {
		next = consumerTable{}
	}
	copied := map[string]bool{}
	for k, c := range changes {
		ns := next[k.Namespace]
		if !copied[k.Namespace] {
			ns = maps.Clone(ns)
			copied[k.Namespace] = true
		}
		if ns == nil {
			ns = map[string]*Consumer{}
		}
		next[k.Namespace] = ns
		if prev := ns[k.Name]; prev != nil {
			old = append(old, prev)
		}
		if c == nil {
			delete(ns, k.Name)
		} else {
			ns[k.Name] = c
		}
		if len(ns) == 0 {
			delete(next, k.Namespace)
		}
	}
	if len(next) == 0 {
		rt.consumers.table.Store(nil)
	} else {
		rt.consumers.table.Store(&next)
	}
	return old
}

// Consumer returns the published consumer name in namespace ns, or nil.
func (rt *Runtime) Consumer(ns, name string) *Consumer {
	t := rt.consumers.table.Load()
	if t == nil {
		return nil
	}
	return (*t)[ns][name]
}
