package compile

import (
	"fmt"
	"slices"
	"time"

	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// Apply checks a change object by object, applies what passes, and reports
// what did not. Rejected upserts leave the last good version live; refused
// deletes leave the object.
func (c *Compiler) Apply(ch ir.Change) ir.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	own := len(ch.Upserts)
	ch.Upserts = append(ch.Upserts, c.retries(ch)...)
	c.reserve(len(ch.Upserts))
	b := c.prepare(ch)
	// Providers before the services whose watches use them, pools before
	// routes: the routes compiled below take their pools.
	c.publishProviders(b)
	c.publishServices(b)
	// Whatever was rejected of an object deleted or re-sent unchanged is
	// superseded; this change's own verdicts are recorded below.
	for _, k := range b.unchanged {
		delete(c.rejected, k)
	}
	for _, o := range ch.Upserts[:own] {
		if _, bad := b.rej[o.Key]; bad && !b.invalid[o.Key] {
			c.addPending(o)
		} else {
			c.removePending(o.Key)
		}
	}
	for _, k := range ch.Deletes {
		delete(c.rejected, k)
		c.removePending(k)
	}
	var revived []ir.Key
	for _, o := range ch.Upserts[own:] {
		if _, bad := b.rej[o.Key]; !bad {
			c.removePending(o.Key)
			revived = append(revived, o.Key)
			c.d.Log.Info("compile: rejected object accepted now that what it needs is there", "object", o.Key.String())
		}
	}

	affected := make(map[string]struct{}, len(b.up[ir.KindRoute]))
	stale := c.indexPluginScopes(b)
	var released []*plugin.Chain
	released = c.indexRoutes(b, affected, released)
	for o := range b.accepted(ir.KindRoute) {
		delete(stale, o.Key) // compiled just now, with the new scopes
	}
	released = c.rebuildRoutes(stale, affected, released)
	oldConsumers := c.publishConsumers(b)
	c.publish(b, affected)
	c.commit(b)
	// Old chains go only now, after the new ones are live: an instance
	// both use keeps its state.
	if c.d.Plugins != nil {
		for _, ch := range released {
			c.d.Plugins.Release(ch)
		}
		for _, cs := range oldConsumers {
			c.d.Plugins.ReleaseConsumer(cs)
		}
	}

	for k, err := range b.rej {
		c.rejected[k] = err
	}
	c.stats.Version++
	c.stats.LastCompile = time.Since(start)
	c.stats.LastApplied = time.Now()
	c.stats.HostsTouched = len(affected)
	if !ch.Event.IsZero() {
		c.stats.LastPropagate = time.Since(ch.Event)
	}
	if m := c.d.Metrics; m != nil {
		m.ObserveCompile(c.stats.LastCompile)
		if !ch.Event.IsZero() {
			m.ObservePropagation(c.stats.LastPropagate)
		}
		c.countObjects()
		if len(b.rej) == 0 {
			m.SetLastReloadSuccess(c.stats.LastApplied)
		}
	}
	// Report only this change's own objects to its source.
	for _, o := range ch.Upserts[own:] {
		delete(b.rej, o.Key)
	}
	return ir.Result{Rejected: b.rej, Revived: revived}
}

// retries returns the rejected objects worth trying again with ch: those
// another object was missing for (a service, a certificate) or in the way of
// (a conflicting route on the same host), when ch adds or removes such an
// object. This heals order between sources: an API route using a file
// service may arrive before the file is read. Pending objects are indexed
// by what they wait for, so the cost is O(change), not O(pending).
func (c *Compiler) retries(ch ir.Change) []ir.Object {
	if len(c.pending) == 0 {
		return nil
	}
	var deps []string
	for _, o := range ch.Upserts {
		switch r := o.Resource.(type) {
		case *ir.Service, *ir.Certificate, *ir.DiscoveryProvider:
			deps = append(deps, depOf(refKey(o.Key)))
		case *ir.Route:
			for _, h := range hostKeys(r) {
				deps = append(deps, "host:"+h)
			}
		}
	}
	for _, k := range ch.Deletes {
		if lr := c.routes[k]; lr != nil {
			for _, h := range lr.hosts {
				deps = append(deps, "host:"+h)
			}
		}
	}
	inChange := make(map[ir.Key]bool, len(ch.Upserts)+len(ch.Deletes))
	for _, o := range ch.Upserts {
		inChange[o.Key] = true
	}
	for _, k := range ch.Deletes {
		inChange[k] = true
	}
	var out []ir.Object
	seen := map[ir.Key]bool{}
	for _, d := range deps {
		for k := range c.waiting[d] {
			if !inChange[k] && !seen[k] {
				seen[k] = true
				out = append(out, c.pending[k])
			}
		}
	}
	return out
}

// depOf names what a pending object can wait for.
func depOf(ref ir.Key) string { return string(ref.Kind) + ":" + ref.Namespace + "/" + ref.Name }

// dependsOn lists what o may be waiting for: the services a route uses and
// its hosts (a conflicting route may go), a listener's default certificate.
func dependsOn(o ir.Object) []string {
	switch r := o.Resource.(type) {
	case *ir.Route:
		var out []string
		for _, sk := range serviceRefs(o) {
			out = append(out, depOf(sk))
		}
		for _, h := range hostKeys(r) {
			out = append(out, "host:"+h)
		}
		return out
	case *ir.HostPolicy, *ir.GlobalPlugin:
		var out []string
		for _, sk := range serviceRefs(o) {
			out = append(out, depOf(sk))
		}
		return out
	case *ir.Service:
		if r.Discovery != nil {
			return []string{depOf(providerKey(r.Discovery.Provider))}
		}
	case *ir.Listener:
		if r.TLS != nil && r.TLS.DefaultCertificate != "" {
			return []string{depOf(ir.Key{Kind: ir.KindCertificate, Namespace: o.Key.Namespace, Name: r.TLS.DefaultCertificate})}
		}
	}
	return nil
}

func (c *Compiler) addPending(o ir.Object) {
	c.removePending(o.Key)
	c.pending[o.Key] = o
	for _, d := range dependsOn(o) {
		if c.waiting[d] == nil {
			c.waiting[d] = map[ir.Key]struct{}{}
		}
		c.waiting[d][o.Key] = struct{}{}
	}
}

func (c *Compiler) removePending(k ir.Key) {
	o, ok := c.pending[k]
	if !ok {
		return
	}
	delete(c.pending, k)
	for _, d := range dependsOn(o) {
		delete(c.waiting[d], k)
		if len(c.waiting[d]) == 0 {
			delete(c.waiting, d)
		}
	}
}

// Check reports what Apply would reject in ch against the live config,
// changing nothing: the admin API's dry run before it writes.
func (c *Compiler) Check(ch ir.Change) ir.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ir.Result{Rejected: c.prepare(ch).rej}
}

// prepare validates a change and runs every cross-object check. It reads
// the live config and changes nothing but the batch it returns, so Check
// and Apply share it.
func (c *Compiler) prepare(ch ir.Change) *batch {
	b := newBatch(ch)
	for _, k := range ch.Deletes {
		if _, ok := c.objs[k]; ok {
			b.addDelete(k)
		}
	}
	for _, o := range ch.Upserts {
		ref := refKey(o.Key)
		other, taken := b.byRef[ref]
		if (taken && other.Key == o.Key) || b.rej[o.Key] != nil {
			b.forget(o.Key) // listed twice in one change: the later upsert replaces the earlier
			taken = false
		}
		if cur, ok := c.objs[o.Key]; ok && cur.Hash == o.Hash {
			b.unchanged = append(b.unchanged, o.Key)
			continue
		}
		if err := o.Resource.Validate(); err != nil {
			b.rej[o.Key] = err
			b.invalid[o.Key] = true
			continue
		}
		if taken {
			b.rej[o.Key] = collision(o.Key, other.Key)
			continue
		}
		if other, ok := c.byRef[ref]; ok && other != o.Key && !b.deletes(other) {
			b.rej[o.Key] = collision(o.Key, other)
			continue
		}
		b.addUpsert(o)
	}
	for _, objs := range b.up {
		slices.SortFunc(objs, func(x, y ir.Object) int { return cmpKey(x.Key, y.Key) })
	}
	c.checkProviders(b)
	c.checkServices(b)
	c.checkCertificates(b)
	c.checkPluginScopes(b)
	c.checkRoutes(b)
	c.checkServiceDeletes(b)
	c.checkProviderDeletes(b)
	c.checkListeners(b)
	return b
}

// collision is the error for an object whose name another source has.
func collision(k, other ir.Key) error {
	return &ir.FieldError{Kind: k.Kind, Name: k.Name, Field: "name",
		Msg: fmt.Sprintf("name collision: a %s of this name comes from source %q (names are unique across sources)", k.Kind, other.Source)}
}

// actual returns the key of the object a source-less reference names once
// the batch applies, if there is one.
func (c *Compiler) actual(b *batch, ref ir.Key) (ir.Key, bool) {
	if o, ok := b.byRef[ref]; ok {
		if _, bad := b.rej[o.Key]; !bad {
			return o.Key, true
		}
	}
	k, ok := c.byRef[ref]
	if !ok || b.deletes(k) {
		return ir.Key{}, false
	}
	return k, true
}

// exists reports whether the object k names (k may be source-less) is live
// once the batch applies.
func (c *Compiler) exists(b *batch, k ir.Key) bool {
	_, ok := c.actual(b, refKey(k))
	return ok
}

// checkServices rejects services whose pool config the upstream registry
// would refuse; publishServices hands the rest to their pools.
func (c *Compiler) checkServices(b *batch) {
	for o := range b.accepted(ir.KindService) {
		s := o.Resource.(*ir.Service)
		if err := upstream.Validate(poolConfig(displayName(o.Key), s)); err != nil {
			b.reject(o.Key, err)
		} else if s.Discovery != nil {
			if err := c.checkDiscovery(b, s); err != nil {
				b.reject(o.Key, err)
			}
		}
	}
}

func (c *Compiler) checkCertificates(b *batch) {
	for o := range b.accepted(ir.KindCertificate) {
		e, err := certEntry(o.Key, o.Resource.(*ir.Certificate))
		if err != nil {
			b.reject(o.Key, err)
			continue
		}
		b.certs[o.Key] = e
	}
}

// checkRoutes rejects routes whose services do not exist or whose match
// collides with another route on one of their hosts (the route already
// live, or the one with the smaller key, keeps the match).
func (c *Compiler) checkRoutes(b *batch) {
	newSig := make(map[ir.Key]string, len(b.up[ir.KindRoute]))
	for o := range b.accepted(ir.KindRoute) {
		newSig[o.Key] = signature(o.Resource.(*ir.Route))
	}
	claimed := make(map[string]ir.Key, len(b.up[ir.KindRoute])) // host + sig of routes accepted in this batch
	for o := range b.accepted(ir.KindRoute) {
		r := o.Resource.(*ir.Route)
		var errs []error
		for i, be := range r.Backends {
			if !c.exists(b, serviceKey(o.Key, be.Service)) {
				errs = append(errs, &ir.FieldError{Kind: ir.KindRoute, Name: r.Name, Field: fmt.Sprintf("backends[%d].service", i), Msg: fmt.Sprintf("unknown service %q", be.Service)})
			}
		}
		errs = append(errs, c.checkPluginRefs(b, o.Key, ir.KindRoute, r.Name, "plugins", r.Plugins)...)
		// ir.Validate checks what the router needs of plain paths; only
		// regexes and predicates are worth compiling alone before publish.
		if needsRouterCheck(r) {
			if _, err := router.CompileHost([]router.Entry[*struct{}]{entryFor(o.Key, r)}); err != nil {
				errs = append(errs, &ir.FieldError{Kind: ir.KindRoute, Name: r.Name, Field: "match", Msg: err.Error()})
			}
		}
		sig := newSig[o.Key]
		for _, h := range hostKeys(r) {
			if other, ok := claimed[h+"\x00"+sig]; ok {
				errs = append(errs, conflict(r.Name, h, other))
				continue
			}
			for _, k2 := range c.hosts[h] {
				if k2 == o.Key || b.deletes(k2) {
					continue
				}
				s2, batched := newSig[k2]
				if !batched {
					s2 = c.routes[k2].sig
				}
				if s2 == sig {
					errs = append(errs, conflict(r.Name, h, k2))
					break
				}
			}
		}
		if len(errs) > 0 {
			b.reject(o.Key, joinErrs(errs))
			continue
		}
		for _, h := range hostKeys(r) {
			claimed[h+"\x00"+sig] = o.Key
		}
	}
}

func conflict(name, host string, other ir.Key) error {
	return &ir.FieldError{Kind: ir.KindRoute, Name: name, Field: "match",
		Msg: fmt.Sprintf("conflicts with route %q on host %q (same match and priority)", other.Name, host)}
}

// checkServiceDeletes refuses to delete a service that a route will still use.
func (c *Compiler) checkServiceDeletes(b *batch) {
	for k := range b.deleted(ir.KindService) {
		if user := c.userAfter(b, refKey(k)); user != "" {
			b.reject(k, &ir.FieldError{Kind: ir.KindService, Name: k.Name, Msg: fmt.Sprintf("still referenced by route %q", user)})
		}
	}
	for k := range b.deleted(ir.KindCertificate) {
		for lk, l := range c.listeners {
			if b.deletes(lk) {
				continue
			}
			if o, ok := b.upsert(lk); ok {
				l = o.Resource.(*ir.Listener)
			}
			if l.TLS != nil && l.TLS.DefaultCertificate == k.Name {
				b.reject(k, &ir.FieldError{Kind: ir.KindCertificate, Name: k.Name, Msg: fmt.Sprintf("still the default certificate of listener %q", l.Name)})
			}
		}
	}
}

// userAfter names a route that references service k once the batch applies.
func (c *Compiler) userAfter(b *batch, k ir.Key) string {
	for rk := range c.users[k] {
		if b.deletes(rk) {
			continue
		}
		if _, replaced := b.upsert(rk); replaced {
			continue // judged by its new version below
		}
		return rk.Name
	}
	for _, kind := range []ir.Kind{ir.KindRoute, ir.KindHostPolicy, ir.KindGlobalPlugin} {
		for o := range b.accepted(kind) {
			for _, sk := range serviceRefs(o) {
				if sk == k {
					return o.Key.Name
				}
			}
		}
	}
	// A rejected new version keeps the old one live, still using k.
	for rk := range c.users[k] {
		if _, rejected := b.rej[rk]; rejected {
			return rk.Name
		}
	}
	return ""
}

// serviceRefs lists the services an object uses: a route's backends, and
// the services plugins send to.
func serviceRefs(o ir.Object) []ir.Key {
	switch r := o.Resource.(type) {
	case *ir.Route:
		var out []ir.Key
		for _, be := range r.Backends {
			out = append(out, serviceKey(o.Key, be.Service))
		}
		return append(out, servicesOfRefs(o.Key, r.Plugins)...)
	case *ir.HostPolicy:
		return servicesOfRefs(o.Key, r.Plugins)
	case *ir.GlobalPlugin:
		return servicesOfRefs(o.Key, []ir.PluginRef{r.Ref()})
	}
	return nil
}

func (c *Compiler) checkListeners(b *batch) {
	for o := range b.accepted(ir.KindListener) {
		l := o.Resource.(*ir.Listener)
		if l.Protocol == ir.ProtocolHTTPS && l.TLS != nil && l.TLS.DefaultCertificate != "" {
			ck := ir.Key{Kind: ir.KindCertificate, Namespace: o.Key.Namespace, Name: l.TLS.DefaultCertificate}
			if !c.exists(b, ck) {
				b.reject(o.Key, &ir.FieldError{Kind: ir.KindListener, Name: l.Name, Field: "tls.defaultCertificate", Msg: fmt.Sprintf("unknown certificate %q", l.TLS.DefaultCertificate)})
			}
		}
	}
}

func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return joined(errs)
}

type joined []error

func (j joined) Error() string {
	s := ""
	for i, e := range j {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

func (j joined) Unwrap() []error { return j }

func needsRouterCheck(r *ir.Route) bool {
	return len(r.Match.Headers) > 0 || len(r.Match.Query) > 0 || len(r.Match.Methods) > 0 || (r.Match.Path != nil && r.Match.Path.Regex != "")
}
