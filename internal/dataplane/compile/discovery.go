package compile

import (
	"fmt"

	"pylon.io/pylon/internal/ir"
)

// providerKey is the source-less key of the discovery provider a service
// names. Providers are connections of the whole process, so a service of
// any namespace (a Kubernetes Service's, say) names one of the default
// namespace, where files and the admin API put them.
func providerKey(name string) ir.Key {
	return ir.Key{Kind: ir.KindDiscoveryProvider, Namespace: "default", Name: name}
}

// checkProviders rejects providers whose block their package refuses (an
// unknown field, a malformed server address). Nothing else can fix them.
func (c *Compiler) checkProviders(b *batch) {
	if c.d.Discovery == nil {
		return
	}
	for o := range b.accepted(ir.KindDiscoveryProvider) {
		if err := c.d.Discovery.CheckProvider(o.Resource.(*ir.DiscoveryProvider)); err != nil {
			b.reject(o.Key, err)
			b.invalid[o.Key] = true
		}
	}
}

// providerAfter returns the provider named name as it is once the batch
// applies, or nil when there is none.
func (c *Compiler) providerAfter(b *batch, name string) *ir.DiscoveryProvider {
	k, ok := c.actual(b, providerKey(name))
	if !ok {
		return nil
	}
	if o, ok := b.upsert(k); ok {
		if _, bad := b.rej[k]; !bad {
			return o.Resource.(*ir.DiscoveryProvider)
		}
	}
	if o, ok := c.objs[k]; ok {
		return o.Resource.(*ir.DiscoveryProvider)
	}
	return nil
}

// checkDiscovery checks a service's discovery block against the provider
// it names.
func (c *Compiler) checkDiscovery(b *batch, s *ir.Service) error {
	p := c.providerAfter(b, s.Discovery.Provider)
	if p == nil {
		return &ir.FieldError{Kind: ir.KindService, Name: s.Name, Field: "discovery.provider",
			Msg: fmt.Sprintf("unknown discovery provider %q", s.Discovery.Provider)}
	}
	if c.d.Discovery == nil {
		return nil
	}
	if err := c.d.Discovery.Check(s.Discovery, p); err != nil {
		return &ir.FieldError{Kind: ir.KindService, Name: s.Name, Field: "discovery", Msg: err.Error()}
	}
	return nil
}

// checkProviderDeletes refuses to delete a provider a service still
// names once the batch applies: the service would lose its endpoints'
// source.
func (c *Compiler) checkProviderDeletes(b *batch) {
	for k := range b.deleted(ir.KindDiscoveryProvider) {
		if user := c.providerUser(b, k.Name); user != "" {
			b.reject(k, &ir.FieldError{Kind: ir.KindDiscoveryProvider, Name: k.Name, Msg: fmt.Sprintf("still used by service %q", user)})
		}
	}
}

// providerUser names a service that names provider once the batch
// applies: a live one the batch neither deletes nor replaces with an
// accepted version, or one the batch accepts.
func (c *Compiler) providerUser(b *batch, provider string) string {
	for k, p := range c.discovered {
		if p != provider || b.deletes(k) {
			continue
		}
		if _, replaced := b.upsert(k); replaced && b.rej[k] == nil {
			continue // judged by its new version below
		}
		return k.DisplayName()
	}
	for o := range b.accepted(ir.KindService) {
		if d := o.Resource.(*ir.Service).Discovery; d != nil && d.Provider == provider {
			return o.Key.DisplayName()
		}
	}
	return ""
}

// publishProviders opens the batch's new and changed providers before the
// services that name them start their watches; publishDroppedProviders
// closes the deleted ones after their services are gone.
func (c *Compiler) publishProviders(b *batch) {
	if c.d.Discovery == nil {
		return
	}
	for o := range b.accepted(ir.KindDiscoveryProvider) {
		c.d.Discovery.SetProvider(o.Resource.(*ir.DiscoveryProvider))
	}
}

func (c *Compiler) publishDroppedProviders(b *batch) {
	if c.d.Discovery == nil {
		return
	}
	for k := range b.deleted(ir.KindDiscoveryProvider) {
		c.d.Discovery.DropProvider(k.Name)
	}
}
