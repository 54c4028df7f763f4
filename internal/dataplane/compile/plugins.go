package compile

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// pluginState is the compiler's view of plugin scopes: the live global
// plugins and host policies, and an index of policies by host.
type pluginState struct {
	globals     map[ir.Key]*ir.GlobalPlugin
	globalRefs  []plugin.Ref // the globals in key order, as Merge takes them
	policies    map[ir.Key]*ir.HostPolicy
	policyHosts map[string][]ir.Key // normalized host → policies naming it
}

func newPluginState() pluginState {
	return pluginState{globals: map[ir.Key]*ir.GlobalPlugin{}, policies: map[ir.Key]*ir.HostPolicy{}, policyHosts: map[string][]ir.Key{}}
}

// checkPluginRefs validates the plugin configs of one scope and that the
// services they send to exist; field is where the list sits ("plugins").
func (c *Compiler) checkPluginRefs(b *batch, owner ir.Key, kind ir.Kind, name, field string, refs []ir.PluginRef) []error {
	var errs []error
	for i, ref := range refs {
		if ref.Disabled {
			if _, ok := plugin.Lookup(ref.Name); !ok {
				errs = append(errs, &ir.FieldError{Kind: kind, Name: name, Field: fmt.Sprintf("%s[%d].name", field, i), Msg: fmt.Sprintf("unknown plugin %q", ref.Name)})
			}
			continue
		}
		cfg, err := plugin.DecodeConfig(ref.Name, ref.Config)
		if err != nil {
			errs = append(errs, pluginErrors(kind, name, fmt.Sprintf("%s[%d]", field, i), ref.Name, err)...)
			continue
		}
		if su, ok := cfg.(plugin.ServiceUser); ok {
			for _, s := range su.Services() {
				if !c.exists(b, serviceKey(owner, s)) {
					errs = append(errs, &ir.FieldError{Kind: kind, Name: name, Field: fmt.Sprintf("%s[%d].config", field, i),
						Msg: fmt.Sprintf("%s: unknown service %q", ref.Name, s)})
				}
			}
		}
	}
	return errs
}

// pluginErrors turns a plugin's config errors into field errors under
// at.config, prefixed with the plugin's name.
func pluginErrors(kind ir.Kind, name, at, plugName string, err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *plugin.FieldError
		field := at + ".config"
		msg := e.Error()
		if errors.As(e, &fe) {
			if fe.Field != "" {
				field += "." + fe.Field
			}
			msg = fe.Msg
			if strings.HasPrefix(msg, "unknown plugin") {
				field = at + ".name"
			}
		}
		out = append(out, &ir.FieldError{Kind: kind, Name: name, Field: field, Msg: plugName + ": " + msg})
	}
	walk(err)
	return out
}

// checkPluginScopes checks global plugins and host policies.
func (c *Compiler) checkPluginScopes(b *batch) {
	for o := range b.accepted(ir.KindGlobalPlugin) {
		g := o.Resource.(*ir.GlobalPlugin)
		if errs := c.checkPluginRefs(b, o.Key, ir.KindGlobalPlugin, g.Name, "", []ir.PluginRef{g.Ref()}); len(errs) > 0 {
			for i, e := range errs { // a global's config sits at the top level
				if fe, ok := e.(*ir.FieldError); ok {
					fe.Field = strings.TrimPrefix(fe.Field, "[0].")
					errs[i] = fe
				}
			}
			b.reject(o.Key, joinErrs(errs))
		}
	}
	for o := range b.accepted(ir.KindHostPolicy) {
		h := o.Resource.(*ir.HostPolicy)
		if errs := c.checkPluginRefs(b, o.Key, ir.KindHostPolicy, h.Name, "plugins", h.Plugins); len(errs) > 0 {
			b.reject(o.Key, joinErrs(errs))
		}
	}
	for o := range b.accepted(ir.KindConsumer) {
		cs := o.Resource.(*ir.Consumer)
		var errs []error
		for i, ref := range cs.Plugins {
			if err := plugin.CheckConsumerPlugin(ref.Name); err != nil {
				errs = append(errs, &ir.FieldError{Kind: ir.KindConsumer, Name: cs.Name, Field: fmt.Sprintf("plugins[%d].name", i), Msg: err.Error()})
			}
		}
		if len(errs) == 0 {
			errs = c.checkPluginRefs(b, o.Key, ir.KindConsumer, cs.Name, "plugins", cs.Plugins)
		}
		if len(errs) > 0 {
			b.reject(o.Key, joinErrs(errs))
		}
	}
}

// publishConsumers makes the batch's accepted consumer changes live and
// returns the consumers they replace, to release after the publish.
func (c *Compiler) publishConsumers(b *batch) []*plugin.Consumer {
	rt := c.d.Plugins
	if rt == nil {
		return nil
	}
	changes := map[plugin.ConsumerKey]*plugin.Consumer{}
	for k := range b.deleted(ir.KindConsumer) {
		changes[plugin.ConsumerKey{Namespace: k.Namespace, Name: k.Name}] = nil
	}
	for o := range b.accepted(ir.KindConsumer) {
		cs := o.Resource.(*ir.Consumer)
		refs := make([]plugin.Ref, len(cs.Plugins))
		for i, p := range cs.Plugins {
			refs[i] = plugin.Ref{Scope: plugin.Scope{Kind: "consumer", Name: displayName(o.Key)}, Namespace: o.Key.Namespace, Name: p.Name, Config: p.Config, Disabled: p.Disabled}
		}
		changes[plugin.ConsumerKey{Namespace: o.Key.Namespace, Name: cs.Name}] = rt.ConsumerFor(cs.Name, refs)
	}
	return rt.PublishConsumers(changes)
}

// indexPluginScopes moves accepted global and host-policy changes into the
// live state and returns the routes whose chains they change.
func (c *Compiler) indexPluginScopes(b *batch) map[ir.Key]struct{} {
	stale := map[ir.Key]struct{}{}
	globals := false
	var hosts []string
	for k := range b.deleted(ir.KindGlobalPlugin) {
		delete(c.ps.globals, k)
		c.setServiceUsers(k, nil)
		globals = true
	}
	for o := range b.accepted(ir.KindGlobalPlugin) {
		g := o.Resource.(*ir.GlobalPlugin)
		c.ps.globals[o.Key] = g
		c.setServiceUsers(o.Key, servicesOfRefs(o.Key, []ir.PluginRef{g.Ref()}))
		globals = true
	}
	for k := range b.deleted(ir.KindHostPolicy) {
		hosts = append(hosts, c.unindexPolicy(k)...)
	}
	for o := range b.accepted(ir.KindHostPolicy) {
		hosts = append(hosts, c.unindexPolicy(o.Key)...)
		h := o.Resource.(*ir.HostPolicy)
		c.ps.policies[o.Key] = h
		for _, host := range h.Hosts {
			n := ir.NormalizeHost(host)
			c.ps.policyHosts[n] = append(c.ps.policyHosts[n], o.Key)
			hosts = append(hosts, n)
		}
		c.setServiceUsers(o.Key, servicesOfRefs(o.Key, h.Plugins))
	}
	if globals {
		keys := slices.SortedFunc(func(yield func(ir.Key) bool) {
			for k := range c.ps.globals {
				if !yield(k) {
					return
				}
			}
		}, cmpKey)
		c.ps.globalRefs = c.ps.globalRefs[:0]
		for _, k := range keys {
			g := c.ps.globals[k]
			c.ps.globalRefs = append(c.ps.globalRefs, plugin.Ref{Scope: plugin.Scope{Kind: "global"}, Namespace: k.Namespace, Name: g.Name, Config: g.Config, Disabled: g.Disabled})
		}
		for k := range c.routes {
			stale[k] = struct{}{}
		}
		return stale
	}
	for _, h := range hosts {
		if strings.HasPrefix(h, "*.") {
			// A wildcard policy reaches every route host under it.
			for rh, keys := range c.hosts {
				if rh == h || strings.HasSuffix(rh, h[1:]) {
					for _, k := range keys {
						stale[k] = struct{}{}
					}
				}
			}
			continue
		}
		for _, k := range c.hosts[h] {
			stale[k] = struct{}{}
		}
	}
	return stale
}

func (c *Compiler) unindexPolicy(k ir.Key) []string {
	old := c.ps.policies[k]
	if old == nil {
		return nil
	}
	var hosts []string
	for _, host := range old.Hosts {
		n := ir.NormalizeHost(host)
		keys := slices.DeleteFunc(c.ps.policyHosts[n], func(x ir.Key) bool { return x == k })
		if len(keys) == 0 {
			delete(c.ps.policyHosts, n)
		} else {
			c.ps.policyHosts[n] = keys
		}
		hosts = append(hosts, n)
	}
	delete(c.ps.policies, k)
	c.setServiceUsers(k, nil)
	return hosts
}

// hostRefs returns the host-scope plugins for a route host key: policies
// naming it, and wildcard policies over it, in key order.
func (c *Compiler) hostRefs(h string) []plugin.Ref {
	if len(c.ps.policies) == 0 || h == "*" {
		return nil
	}
	keys := slices.Clone(c.ps.policyHosts[h])
	if !strings.HasPrefix(h, "*.") {
		for rest := h; ; {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			keys = append(keys, c.ps.policyHosts["*."+rest]...)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, cmpKey)
	keys = slices.Compact(keys)
	var refs []plugin.Ref
	for _, k := range keys {
		p := c.ps.policies[k]
		for _, r := range p.Plugins {
			refs = append(refs, plugin.Ref{Scope: plugin.Scope{Kind: "host", Name: p.Name}, Namespace: k.Namespace, Name: r.Name, Config: r.Config, Disabled: r.Disabled})
		}
	}
	return refs
}

// compileRoute builds a route's compiled form with its plugin chains. Hosts
// whose plugin scopes are the same share one *proxy.Route; when all do (the
// usual case) byHost is nil and pr serves every host. chains lists the
// chains taken, to release when the route is replaced.
func (c *Compiler) compileRoute(k ir.Key, r *ir.Route, hosts []string) (pr *proxy.Route, byHost map[string]*proxy.Route, chains []*plugin.Chain) {
	base := c.buildRoute(k, r)
	byHost, chains = c.routeChains(k, r, base, hosts)
	if len(byHost) == 0 {
		return base, nil, chains
	}
	first := byHost[hosts[0]]
	for _, h := range hosts[1:] {
		if byHost[h] != first {
			return base, byHost, chains
		}
	}
	return first, nil, chains
}

func (c *Compiler) routeChains(k ir.Key, r *ir.Route, base *proxy.Route, hosts []string) (map[string]*proxy.Route, []*plugin.Chain) {
	if c.d.Plugins == nil {
		return nil, nil
	}
	var own []plugin.Ref
	for _, p := range r.Plugins {
		scope := plugin.Scope{Kind: "route", Name: displayName(k)}
		if p.Instance != "" {
			scope = plugin.Scope{Kind: "shared", Name: p.Instance} // one instance for every route naming it
		}
		own = append(own, plugin.Ref{Scope: scope, Namespace: k.Namespace, Name: p.Name, Config: p.Config, Disabled: p.Disabled})
	}
	if len(own) == 0 && len(c.ps.globalRefs) == 0 && len(c.ps.policies) == 0 {
		return nil, nil
	}
	out := map[string]*proxy.Route{}
	var chains []*plugin.Chain
	byChain := map[*plugin.Chain]*proxy.Route{}
	for _, h := range hosts {
		refs := plugin.Merge(c.ps.globalRefs, c.hostRefs(h), own)
		if len(refs) == 0 {
			out[h] = base
			continue
		}
		ch := c.d.Plugins.Chain(refs)
		if pr, ok := byChain[ch]; ok {
			c.d.Plugins.Release(ch) // one use per distinct chain
			out[h] = pr
			continue
		}
		chains = append(chains, ch)
		pr := c.withChain(k, base, ch)
		byChain[ch] = pr
		out[h] = pr
	}
	return out, chains
}

// withChain returns a copy of base running ch, with the services its
// plugins send to added as weight-0 backends (only plugins pick them).
func (c *Compiler) withChain(k ir.Key, base *proxy.Route, ch *plugin.Chain) *proxy.Route {
	pr := *base
	pr.Plugins = ch
	cloned := false
	for _, s := range ch.Services() {
		if slices.ContainsFunc(pr.Backends, func(b proxy.Backend) bool { return b.Ref == s }) {
			continue
		}
		if !cloned { // most chains send nowhere of their own: share the slice then
			pr.Backends, cloned = slices.Clone(base.Backends), true
		}
		svc := displayName(serviceKey(k, s))
		pr.Backends = append(pr.Backends, proxy.Backend{Service: svc, Ref: s, Pool: c.d.Pools.Get(svc),
			Stats: c.d.Metrics.Route(base.Name, svc), Errors: c.d.Metrics.Upstream(svc)})
	}
	pr.Finish()
	return &pr
}

// servicesOfRefs lists the service keys plugins of one scope send to.
func servicesOfRefs(owner ir.Key, refs []ir.PluginRef) []ir.Key {
	var out []ir.Key
	for _, r := range refs {
		if r.Disabled {
			continue
		}
		for _, s := range plugin.ServicesOf(r.Name, r.Config) {
			out = append(out, serviceKey(owner, s))
		}
	}
	return out
}

// setServiceUsers records which services an object's plugins use, so a
// service still in use cannot be deleted.
func (c *Compiler) setServiceUsers(owner ir.Key, services []ir.Key) {
	for _, sk := range c.pluginUses[owner] {
		delete(c.users[sk], owner)
	}
	if len(services) == 0 {
		delete(c.pluginUses, owner)
		return
	}
	c.pluginUses[owner] = services
	for _, sk := range services {
		if c.users[sk] == nil {
			c.users[sk] = map[ir.Key]struct{}{}
		}
		c.users[sk][owner] = struct{}{}
	}
}
