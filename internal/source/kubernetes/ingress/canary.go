package ingress

import (
	"regexp"

	"pylon.io/pylon/internal/ir"
)

// Canary is the weighted part of a canary Ingress: of the requests matching
// the main route with conflict key Key, Weight out of Total go to Service.
type Canary struct {
	Key     string `json:"key"`     // ConflictKey of the main Ingress's route
	Route   string `json:"route"`   // the canary's own name for it, for events and logs
	Service string `json:"service"` // the IR service of the canary backend
	Weight  int    `json:"weight"`
	Total   int    `json:"total"`
}

// ApplyCanary returns a copy of main sending c.Weight/c.Total of its traffic
// to the canary service. A route that redirects or already splits is
// returned unchanged.
func ApplyCanary(main *ir.Route, c Canary) *ir.Route {
	if len(main.Backends) != 1 || c.Weight <= 0 {
		return main
	}
	out := *main
	if c.Weight >= c.Total {
		out.Backends = []ir.Backend{{Service: c.Service, Weight: 1}}
		return &out
	}
	out.Backends = []ir.Backend{
		{Service: main.Backends[0].Service, Weight: c.Total - c.Weight},
		{Service: c.Service, Weight: c.Weight},
	}
	return &out
}

// canary turns one path of a canary Ingress into header and cookie routes
// (which win over the main route by their extra predicate) and a weighted
// part for the caller to fold into the main route.
func (t *translator) canary(r *ir.Route, svc string) {
	cn := t.cfg.Canary
	if cn.ByHeader != "" {
		h := *r
		h.Name = r.Name + "/canary-header"
		m := ir.StringMatch{Name: cn.ByHeader, Exact: "always"}
		switch {
		case cn.ByHeaderValue != "":
			m.Exact = cn.ByHeaderValue
		case cn.ByHeaderPattern != "":
			m = ir.StringMatch{Name: cn.ByHeader, Regex: cn.ByHeaderPattern}
		}
		h.Match.Headers = append(h.Match.Headers, m)
		t.action(&h, svc)
		t.add(&h, rankPath)
	}
	if cn.ByCookie != "" {
		c := *r
		c.Name = r.Name + "/canary-cookie"
		c.Match.Headers = append(c.Match.Headers, ir.StringMatch{Name: "Cookie", Regex: cookieAlways(cn.ByCookie)})
		t.action(&c, svc)
		t.add(&c, rankPath)
	}
	if cn.WeightSet && cn.Weight > 0 {
		t.canaries = append(t.canaries, Canary{Key: ConflictKey(r), Route: r.Name, Service: svc, Weight: cn.Weight, Total: cn.WeightTotal})
	}
}

// cookieAlways matches a Cookie header holding name=always.
func cookieAlways(name string) string {
	return `(?:.*;\s*)?` + regexp.QuoteMeta(name) + `=always(?:\s*;.*)?`
}
