package ingress

import (
	"fmt"
	"strings"

	"pylon.io/pylon/internal/ir"
)

// rule translates spec.rules[ri], once for its host and once for each
// server-alias of it.
func (t *translator) rule(ri int) {
	host := t.ing.Spec.Rules[ri].Host
	base := fmt.Sprintf("%s%d/", t.prefix(), ri)
	t.ruleFor(ri, host, base)
	if host == "" {
		return
	}
	if t.cfg.FromToWWW && !t.cfg.Canary.Enabled && !strings.HasPrefix(host, "*.") {
		t.wwwRedirect(base, strings.ToLower(host))
	}
	for ai, alias := range t.cfg.ServerAliases {
		if !strings.EqualFold(alias, host) {
			t.ruleFor(ri, alias, fmt.Sprintf("%salias%d/", base, ai))
		}
	}
}

// ruleFor translates spec.rules[ri] for one host, naming routes from base.
func (t *translator) ruleFor(ri int, host, base string) {
	rule := &t.ing.Spec.Rules[ri]
	var hosts []string
	if host != "" {
		hosts = []string{strings.ToLower(host)}
	}
	if t.cfg.AppRoot != "" && !t.cfg.Canary.Enabled {
		t.add(&ir.Route{
			Name: base + "app-root", Hosts: hosts,
			Match:    ir.RouteMatch{Path: &ir.PathMatch{Exact: "/"}},
			Redirect: &ir.Redirect{Path: t.cfg.AppRoot, Code: 302},
		}, -1)
	}
	coversRoot := false
	if rule.HTTP != nil {
		for pi := range rule.HTTP.Paths {
			p := &rule.HTTP.Paths[pi]
			field := fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi)
			svc := t.backend(&p.Backend, field+".backend")
			ms := t.matches(p, field+".path")
			if svc == "" {
				continue // rejected; the error is recorded
			}
			t.path = p.Path
			for _, m := range ms {
				if m.path.Prefix == "/" {
					coversRoot = true
				}
				r := &ir.Route{Name: fmt.Sprintf("%s%d%s", base, pi, m.suffix), Hosts: hosts, Match: ir.RouteMatch{Path: m.path}}
				if t.cfg.Canary.Enabled {
					t.canary(r, svc)
					continue
				}
				t.action(r, svc)
				t.add(r, m.rank)
			}
		}
	}
	t.path = ""
	if t.defaultSvc != "" && len(hosts) > 0 && !coversRoot && !t.cfg.Canary.Enabled {
		t.addDefault(base+"default", hosts[0], t.defaultSvc)
	}
}

// defaultPriority is the priority of default-backend routes.
const defaultPriority = -1

// addDefault adds a catch-all route to the default backend, for one host or
// (host "") for any.
func (t *translator) addDefault(name, host, svc string) {
	// A lower priority lets any Ingress's own "/" path win over a default
	// backend on the same host, as in ingress-nginx; default backends only
	// compete with each other (the oldest Ingress's wins).
	r := &ir.Route{Name: name, Priority: defaultPriority, Match: ir.RouteMatch{Path: &ir.PathMatch{Prefix: "/"}}}
	if host != "" {
		r.Hosts = []string{host}
	}
	if t.cfg.Canary.Enabled {
		t.canary(r, svc)
		return
	}
	t.action(r, svc)
	t.add(r, rankDefault)
}

// action sets what a matched request gets: the redirect annotations' answer
// or the service, with the route-level annotations applied.
func (t *translator) action(r *ir.Route, svc string) {
	if rd := t.cfg.Redirect; rd != nil {
		r.Redirect = redirectTo(rd.URL, rd.Code)
	} else {
		r.Backends = []ir.Backend{{Service: svc}}
	}
	t.retries(r)
	t.plugins(r)
}

// wwwRedirect is from-to-www-redirect: the other spelling of host (with or
// without "www.") answers 308 to host, keeping the path.
func (t *translator) wwwRedirect(base, host string) {
	other, ok := strings.CutPrefix(host, "www.")
	if !ok {
		other = "www." + host
	}
	if ir.ValidateHost(other) != nil {
		return
	}
	t.add(&ir.Route{
		Name: base + "from-to-www", Hosts: []string{other}, Priority: defaultPriority,
		Match:    ir.RouteMatch{Path: &ir.PathMatch{Prefix: "/"}},
		Redirect: &ir.Redirect{Host: host, Code: 308},
	}, rankDefault)
}
