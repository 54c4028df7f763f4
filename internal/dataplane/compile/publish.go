package compile

import (
	"regexp"
	"slices"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// entryFor builds a payload-free router entry, to check a route's match alone.
func entryFor(k ir.Key, r *ir.Route) router.Entry[*struct{}] {
	e := entry(k, r, nil)
	return router.Entry[*struct{}]{Key: e.Key, Path: e.Path, Methods: e.Methods, Headers: e.Headers, Query: e.Query, Priority: e.Priority, OnlyPlainHTTP: e.OnlyPlainHTTP}
}

// publish updates the live structures for the accepted part of the batch and
// returns how many host tables it replaced.
func (c *Compiler) publish(b *batch, affected map[string]struct{}) {
	for k := range b.deleted(ir.KindRoute) {
		c.d.Metrics.Forget(displayName(k))
	}
	if len(affected) > 0 {
		c.d.Router.Apply(c.hostTables(affected))
	}

	// Certificates before listeners, so a new default certificate is there.
	var ups []*tlsindex.Entry
	var dels []string
	for o := range b.accepted(ir.KindCertificate) {
		ups = append(ups, b.certs[o.Key])
	}
	for k := range b.deleted(ir.KindCertificate) {
		dels = append(dels, k.String())
	}
	if len(ups) > 0 || len(dels) > 0 {
		c.d.Certs.Apply(ups, dels)
	}
	for k := range b.deleted(ir.KindListener) {
		c.d.Listeners.Remove(k.Name)
		c.d.Metrics.ForgetListener(k.Name)
	}
	for o := range b.accepted(ir.KindListener) {
		l := o.Resource.(*ir.Listener)
		def := ""
		if l.TLS != nil && l.TLS.DefaultCertificate != "" {
			if ck, ok := c.actual(b, ir.Key{Kind: ir.KindCertificate, Namespace: o.Key.Namespace, Name: l.TLS.DefaultCertificate}); ok {
				def = ck.String()
			}
		}
		if err := c.d.Listeners.Apply(l, o.Hash, def); err != nil {
			b.reject(o.Key, err)
		}
	}
	// Services last: a route that stopped using one was recompiled above.
	for k := range b.deleted(ir.KindService) {
		c.d.Pools.Release(displayName(k))
		if c.d.Discovery != nil {
			c.d.Discovery.Forget(displayName(k))
		}
		c.d.Metrics.ForgetUpstream(displayName(k))
		delete(c.users, refKey(k))
	}
	c.publishDroppedProviders(b)
}

// publishServices hands the batch's accepted services to their pools, which
// are long-lived and updated in place (health and connections survive). A
// pool refusing a config checkServices passed would be a bug; the service is
// then rejected like a listener that cannot bind.
func (c *Compiler) publishServices(b *batch) {
	for o := range b.accepted(ir.KindService) {
		s := o.Resource.(*ir.Service)
		cfg := poolConfig(displayName(o.Key), s)
		if c.d.Discovery != nil {
			if s.Discovery != nil {
				cfg.Endpoints = c.d.Discovery.Watch(cfg.Name, s.Discovery)
			} else if _, was := c.discovered[o.Key]; was {
				// Fixed endpoints now: the watch must not overwrite them.
				c.d.Discovery.Forget(cfg.Name)
			}
		}
		var err error
		if _, live := c.objs[o.Key]; live {
			err = c.d.Pools.Update(cfg)
		} else {
			_, err = c.d.Pools.Acquire(cfg)
		}
		if err != nil {
			c.d.Log.Error("compile: pool refused a checked service", "object", o.Key.String(), "error", err)
			b.reject(o.Key, err)
		}
	}
}

// indexRoutes moves the accepted route changes into the indexes, marking
// every host whose table must be rebuilt. The chains of replaced routes are
// appended to released, to be released once the new tables are live.
func (c *Compiler) indexRoutes(b *batch, affected map[string]struct{}, released []*plugin.Chain) []*plugin.Chain {
	for k := range b.deleted(ir.KindRoute) {
		released = c.unindexRoute(k, affected, released)
	}
	for o := range b.accepted(ir.KindRoute) {
		released = c.unindexRoute(o.Key, affected, released)
		r := o.Resource.(*ir.Route)
		lr := &liveRoute{r: r, hosts: hostKeys(r), sig: signature(r)}
		lr.pr, lr.byHost, lr.chains = c.compileRoute(o.Key, r, lr.hosts)
		c.routes[o.Key] = lr
		for _, h := range lr.hosts {
			c.hosts[h] = append(c.hosts[h], o.Key)
			affected[h] = struct{}{}
		}
		for _, be := range r.Backends {
			sk := serviceKey(o.Key, be.Service)
			if c.users[sk] == nil {
				c.users[sk] = map[ir.Key]struct{}{}
			}
			c.users[sk][o.Key] = struct{}{}
		}
		c.setServiceUsers(o.Key, servicesOfRefs(o.Key, r.Plugins))
	}
	return released
}

// rebuildRoutes recompiles the chains of live routes whose plugin scopes
// changed (a global plugin, a host policy), marking their hosts.
func (c *Compiler) rebuildRoutes(stale map[ir.Key]struct{}, affected map[string]struct{}, released []*plugin.Chain) []*plugin.Chain {
	for k := range stale {
		lr := c.routes[k]
		if lr == nil {
			continue
		}
		released = append(released, lr.chains...)
		lr.pr, lr.byHost, lr.chains = c.compileRoute(k, lr.r, lr.hosts)
		for _, h := range lr.hosts {
			affected[h] = struct{}{}
		}
	}
	return released
}

// unindexRoute removes a live route from the indexes, marking its hosts.
func (c *Compiler) unindexRoute(k ir.Key, affected map[string]struct{}, released []*plugin.Chain) []*plugin.Chain {
	old := c.routes[k]
	if old == nil {
		return released
	}
	released = append(released, old.chains...)
	c.setServiceUsers(k, nil)
	for _, h := range old.hosts {
		keys := slices.DeleteFunc(c.hosts[h], func(x ir.Key) bool { return x == k })
		if len(keys) == 0 {
			delete(c.hosts, h)
		} else {
			c.hosts[h] = keys
		}
		affected[h] = struct{}{}
	}
	for _, be := range old.r.Backends {
		sk := serviceKey(k, be.Service)
		delete(c.users[sk], k)
	}
	delete(c.routes, k)
	return released
}

// hostTable compiles one host's table from the routes on it; nil deletes it.
func (c *Compiler) hostTable(h string) *router.HostTable[*proxy.Route] {
	keys := c.hosts[h]
	if len(keys) == 0 {
		return nil
	}
	entries := make([]router.Entry[*proxy.Route], 0, len(keys))
	for _, k := range keys {
		lr := c.routes[k]
		entries = append(entries, entry(k, lr.r, lr.routeFor(h)))
	}
	t, err := router.CompileHost(entries)
	if err != nil {
		// Every entry compiled on its own in checkRoutes, so this is a bug;
		// keep serving the host's previous table rather than dropping it.
		c.d.Log.Error("compile: host table failed", "host", h, "error", err)
		return c.d.Router.Table(h)
	}
	return t
}

// buildRoute compiles one IR route into its data-plane form.
func (c *Compiler) buildRoute(k ir.Key, r *ir.Route) *proxy.Route {
	name := displayName(k)
	pr := &proxy.Route{Key: k.String(), Name: name, Namespace: k.Namespace, RequestTimeout: r.Timeouts.Request.D(), RequireClientCert: r.RequireClientCertificate}
	pr.TagHeader = r.TagHeader
	if a := r.AccessLog; a != nil {
		pr.LogOff = a.Enabled != nil && !*a.Enabled
		if a.Sample != nil {
			pr.LogSampled, pr.LogSample = true, *a.Sample
		}
	}
	if r.ClientCertificateSubject != "" {
		pr.ClientSubject = regexp.MustCompile(r.ClientCertificateSubject) // validated with the route
	}
	pr.Stats = c.d.Metrics.Route(name, "")
	weights := 0
	for _, be := range r.Backends {
		weights += be.Weight
	}
	for _, be := range r.Backends {
		svc := displayName(serviceKey(k, be.Service))
		w := be.Weight
		if weights == 0 {
			w = 1
		}
		pr.Backends = append(pr.Backends, proxy.Backend{
			Service: svc, Pool: c.d.Pools.Get(svc), Weight: w,
			Stats: c.d.Metrics.Route(name, svc), Errors: c.d.Metrics.Upstream(svc),
		})
	}
	if rd := r.Redirect; rd != nil {
		code := rd.Code
		if code == 0 {
			code = 301
		}
		pr.Redirect = &proxy.Redirect{Scheme: rd.Scheme, Host: rd.Host, Port: rd.Port, Path: rd.Path, Code: code}
	}
	if d := r.DirectResponse; d != nil {
		pd := &proxy.Direct{Status: d.Status, Body: []byte(d.Body)}
		for _, h := range d.Headers {
			pd.Headers = append(pd.Headers, [2]string{h.Name, h.Value})
		}
		pr.Direct = pd
	}
	if rt := r.Retries; rt != nil {
		pr.Retry.Attempts = rt.Attempts
		pr.Retry.PerTryTimeout = rt.PerTryTimeout.D()
		pr.Retry.NonIdempotent = rt.NonIdempotent
		for _, s := range rt.On {
			pr.Retry.SetRetryOn(s)
		}
	} else {
		// Without a policy, a connect error (nothing was sent) still gets one
		// more try on another endpoint, as nginx's proxy_next_upstream does.
		pr.Retry.Attempts = 2
	}
	pr.Finish()
	return pr
}

// commit records the accepted part of the batch as the live config.
func (c *Compiler) commit(b *batch) {
	view := c.view.Load()
	if view != nil {
		view.mu.Lock()
		defer view.mu.Unlock()
	}
	for kind := range b.up {
		for o := range b.accepted(kind) {
			k := o.Key
			if _, live := c.objs[k]; !live {
				c.counts[k.Kind]++
			}
			c.objs[k] = o
			delete(c.rejected, k)
			switch r := o.Resource.(type) {
			case *ir.Listener:
				c.listeners[k] = r
			case *ir.Service:
				if r.Discovery != nil {
					c.discovered[k] = r.Discovery.Provider
				} else {
					delete(c.discovered, k)
				}
			}
			c.byRef[refKey(k)] = k
			view.put(o)
		}
	}
	for kind := range b.del {
		for k := range b.deleted(kind) {
			delete(c.objs, k)
			delete(c.listeners, k)
			delete(c.discovered, k)
			if c.byRef[refKey(k)] == k {
				delete(c.byRef, refKey(k))
			}
			view.remove(k)
			c.counts[k.Kind]--
		}
	}
}

// countObjects exports object counts; it costs O(kinds + rejected), not
// O(config), so it can run on every change.
func (c *Compiler) countObjects() {
	rej := map[ir.Kind]int{}
	for k := range c.rejected {
		rej[k.Kind]++
	}
	for _, kind := range ir.Kinds {
		c.d.Metrics.SetConfigObjects(string(kind), c.counts[kind], rej[kind])
	}
}
