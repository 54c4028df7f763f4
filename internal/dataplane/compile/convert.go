package compile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
)

// displayName is how an object is named in metrics and pools: its name for
// the default namespace, namespace/name otherwise.
func displayName(k ir.Key) string { return k.DisplayName() }

// serviceKey is a route's backend reference: a service of that name in the
// route's namespace, from any source. Names are unique across sources (a
// collision is rejected), so a file route may use an API service and back.
func serviceKey(route ir.Key, service string) ir.Key {
	return ir.Key{Kind: ir.KindService, Namespace: route.Namespace, Name: service}
}

// refKey drops the source from k: the form references and the name index use.
func refKey(k ir.Key) ir.Key {
	k.Source = ""
	return k
}

// hostKeys lists the router host keys of a route: lowercase hosts, or "*"
// when it has none.
func hostKeys(r *ir.Route) []string {
	if len(r.Hosts) == 0 {
		return []string{"*"}
	}
	out := make([]string, len(r.Hosts))
	for i, h := range r.Hosts {
		out[i] = ir.NormalizeHost(h)
	}
	return out
}

// entry converts a route's match into a router entry.
func entry(key ir.Key, r *ir.Route, v *proxy.Route) router.Entry[*proxy.Route] {
	pm := r.PathOrDefault()
	e := router.Entry[*proxy.Route]{Key: key.String(), Methods: r.Match.Methods, Priority: r.Priority, Value: v}
	switch {
	case pm.Exact != "":
		e.Path = router.PathMatch{Kind: router.PathExact, Value: pm.Exact}
	case pm.Regex != "":
		e.Path = router.PathMatch{Kind: router.PathRegex, Value: pm.Regex}
	default:
		e.Path = router.PathMatch{Kind: router.PathPrefix, Value: pm.Prefix}
	}
	for _, h := range r.Match.Headers {
		e.Headers = append(e.Headers, router.HeaderMatch{Name: strings.ToLower(h.Name), Match: stringMatch(h)})
	}
	for _, q := range r.Match.Query {
		e.Query = append(e.Query, router.QueryMatch{Name: q.Name, Match: stringMatch(q)})
	}
	e.OnlyPlainHTTP = r.Redirect != nil && r.Redirect.OnlyPlainHTTP
	return e
}

func stringMatch(m ir.StringMatch) router.StringMatch {
	switch {
	case m.Regex != "":
		return router.StringMatch{Kind: router.MatchRegex, Value: m.Regex}
	case m.Present:
		return router.StringMatch{Kind: router.MatchPresent}
	}
	return router.StringMatch{Kind: router.MatchExact, Value: m.Exact}
}

// signature identifies what a route matches on one host; two routes with the
// same signature on a host conflict.
func signature(r *ir.Route) string {
	pm := r.PathOrDefault()
	sig := strconv.Itoa(int(r.Priority)) + "|" + pm.Exact + "|" + pm.Prefix + "|" + pm.Regex
	if r.Redirect != nil && r.Redirect.OnlyPlainHTTP {
		// A plain-HTTP-only redirect shares its match with the route that
		// serves the same requests over TLS.
		sig += "|plain"
	}
	if len(r.Match.Methods)+len(r.Match.Headers)+len(r.Match.Query) == 0 {
		return sig // the common case, without the sorting below
	}
	var b strings.Builder
	b.WriteString(sig)
	m := slices.Clone(r.Match.Methods)
	slices.Sort(m)
	fmt.Fprintf(&b, "|m=%s|", strings.Join(m, ","))
	for _, set := range [][]ir.StringMatch{r.Match.Headers, r.Match.Query} {
		parts := make([]string, len(set))
		for i, s := range set {
			parts[i] = fmt.Sprintf("%s=%s/%s/%t", strings.ToLower(s.Name), s.Exact, s.Regex, s.Present)
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, ",") + "|")
	}
	return b.String()
}

// poolConfig converts a service into its pool's config.
func poolConfig(name string, s *ir.Service) upstream.Config {
	cfg := upstream.Config{
		Name:                name,
		ConnectTimeout:      s.ConnectTimeout.D(),
		SendTimeout:         s.SendTimeout.D(),
		MaxConnsPerEndpoint: s.MaxConnections,
		TagFallback:         s.TagFallback,
	}
	if b := s.RetryBudget; b != nil {
		cfg.RetryBudgetPercent, cfg.RetryBudgetMin = b.Percent, b.MinRetries
	}
	for _, e := range s.Endpoints {
		cfg.Endpoints = append(cfg.Endpoints, upstream.EndpointConfig{Address: e.Address, Weight: e.Weight, Tags: e.Tags,
			Zone: e.Zone, Node: e.Node, ForZones: e.ForZones, ForNodes: e.ForNodes})
	}
	cfg.Distribution, cfg.ZoneAware = locality(s)
	switch s.LoadBalancer {
	case ir.LBWeightedRoundRobin:
		cfg.Policy = upstream.WeightedRoundRobin
	case ir.LBLeastRequest:
		cfg.Policy = upstream.LeastRequest
	case ir.LBEWMA:
		cfg.Policy = upstream.EWMA
	case ir.LBRandom:
		cfg.Policy = upstream.Random
	case ir.LBConsistentHash:
		cfg.Policy = upstream.ConsistentHash
		if h := s.HashOn; h != nil {
			switch {
			case h.Header != "":
				cfg.HashOn = upstream.HashOn{Kind: upstream.HashHeader, Name: h.Header}
			case h.Cookie != "":
				cfg.HashOn = upstream.HashOn{Kind: upstream.HashCookie, Name: h.Cookie}
			case h.ClientIP:
				cfg.HashOn = upstream.HashOn{Kind: upstream.HashClientIP}
			default:
				cfg.HashOn = upstream.HashOn{Kind: upstream.HashPath}
			}
		}
	default:
		// Weights given with plain round robin would surprise nobody if
		// honoured, so any weight turns on the weighted scheduler.
		cfg.Policy = upstream.RoundRobin
		for _, e := range s.Endpoints {
			if e.Weight > 1 {
				cfg.Policy = upstream.WeightedRoundRobin
				break
			}
		}
	}
	switch s.Protocol {
	case ir.UpstreamHTTP2:
		cfg.Protocol = upstream.HTTP2
	case ir.UpstreamH2C:
		cfg.Protocol = upstream.H2C
	}
	if t := s.TLS; t != nil {
		cfg.TLS = &upstream.TLSConfig{
			ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify,
			CAPEM: []byte(t.CA), CertPEM: []byte(t.Cert), KeyPEM: []byte(t.Key),
		}
	} else if cfg.Protocol == upstream.HTTP2 {
		cfg.TLS = &upstream.TLSConfig{}
	}
	if hc := s.HealthCheck; hc != nil {
		if a := hc.Active; a != nil {
			cfg.Active = &upstream.ActiveCheck{
				Type: a.Type, Path: a.Path, Host: a.Host, GRPCService: a.GRPCService, Interval: a.Interval.D(), Timeout: a.Timeout.D(),
				HealthyThreshold: a.HealthyThreshold, UnhealthyThreshold: a.UnhealthyThreshold,
				ExpectedStatuses: a.ExpectedStatuses,
			}
		}
		if p := hc.Passive; p != nil {
			cfg.Passive = upstream.PassiveCheck{ConsecutiveFailures: p.ConsecutiveFailures, EjectionTime: p.EjectionTime.D()}
		}
	}
	return cfg
}

// locality converts a service's trafficDistribution and zoneAware. The
// three Kubernetes values are two behaviours: PreferClose is the deprecated
// name of PreferSameZone and means exactly the same (KEP-3015); only
// PreferSameNode differs. zoneAware alone prefers the same zone.
func locality(s *ir.Service) (upstream.Distribution, *upstream.ZoneAware) {
	d := upstream.AnyEndpoint
	switch s.TrafficDistribution {
	case ir.TrafficPreferSameZone, ir.TrafficPreferClose:
		d = upstream.PreferSameZone
	case ir.TrafficPreferSameNode:
		d = upstream.PreferSameNode
	}
	z := s.ZoneAware
	if z == nil {
		return d, nil
	}
	if d == upstream.AnyEndpoint {
		d = upstream.PreferSameZone
	}
	za := &upstream.ZoneAware{MinHealthyShare: upstream.DefaultMinHealthyShare, MaxLoadFactor: upstream.DefaultMaxLoadFactor}
	if z.MinHealthyShare != nil {
		za.MinHealthyShare = *z.MinHealthyShare
	}
	if z.MaxLoadFactor != nil {
		za.MaxLoadFactor = *z.MaxLoadFactor
	}
	return d, za
}

func certEntry(k ir.Key, c *ir.Certificate) (*tlsindex.Entry, error) {
	tc := tlsindex.Cert{Key: k.String(), CertPEM: []byte(c.Cert), KeyPEM: []byte(c.Key), SNI: c.SNI}
	if a := c.ClientAuth; a != nil {
		tc.ClientCAPEM = []byte(a.CA)
		tc.ClientOptional = a.Mode == ir.ClientAuthOptional
		tc.ClientDepth = a.Depth
		tc.ClientPassCert = a.PassCertificate
	}
	return tlsindex.Parse(tc)
}
