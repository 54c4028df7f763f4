package ingress

import (
	"pylon.io/pylon/internal/ir"
)

// Canary is a canary Ingress's part of one main route: the main Ingress's
// route with conflict key Key sends matching requests to Service. As in
// ingress-nginx, the header decides first ("always" or HeaderValue or
// HeaderPattern: canary; "never": main), then the cookie ("always" /
// "never"), then Weight out of Total.
type Canary struct {
	Key     string `json:"key"`     // ConflictKey of the main Ingress's route
	Route   string `json:"route"`   // the canary's own name for it, for events and logs
	Service string `json:"service"` // the IR service of the canary backend

	Header        string `json:"header,omitempty"`
	HeaderValue   string `json:"headerValue,omitempty"`
	HeaderPattern string `json:"headerPattern,omitempty"`
	Cookie        string `json:"cookie,omitempty"`
	Weight        int    `json:"weight"`
	Total         int    `json:"total"`
}

// ApplyCanary returns a copy of main whose traffic-split plugin sends the
// canary's share of it to the canary service; the rest stays on main's
// backend. A route that redirects or has several backends is returned
// unchanged.
func ApplyCanary(main *ir.Route, c Canary) *ir.Route {
	if len(main.Backends) != 1 || main.Redirect != nil {
		return main
	}
	stay := main.Backends[0].Service
	var rules []any
	rule := func(service string, cond string, match map[string]any) {
		rules = append(rules, map[string]any{"service": service, cond: match})
	}
	if c.Header != "" {
		switch {
		case c.HeaderValue != "":
			rule(c.Service, "header", map[string]any{"name": c.Header, "exact": c.HeaderValue})
		case c.HeaderPattern != "":
			rule(c.Service, "header", map[string]any{"name": c.Header, "regex": c.HeaderPattern})
		default:
			rule(c.Service, "header", map[string]any{"name": c.Header, "exact": "always"})
			rule(stay, "header", map[string]any{"name": c.Header, "exact": "never"})
		}
	}
	if c.Cookie != "" {
		rule(c.Service, "cookie", map[string]any{"name": c.Cookie, "exact": "always"})
		rule(stay, "cookie", map[string]any{"name": c.Cookie, "exact": "never"})
	}
	if c.Weight > 0 && c.Total > 0 {
		// traffic-split weighs in hundredths of a percent.
		pct := float64(min(c.Weight, c.Total)*10000/c.Total) / 100
		rules = append(rules, map[string]any{"service": c.Service, "weight": pct})
	}
	if len(rules) == 0 {
		return main
	}
	out := *main
	out.Plugins = append(append([]ir.PluginRef(nil), main.Plugins...), ir.PluginRef{Name: "traffic-split", Config: map[string]any{"rules": rules}})
	return &out
}

// canary records one path of a canary Ingress as its part of the main
// route with the same conflict key; it serves nothing by itself.
func (t *translator) canary(r *ir.Route, svc string) {
	cn := t.cfg.Canary
	if cn.ByHeader == "" && cn.ByCookie == "" && cn.Weight == 0 {
		return
	}
	t.canaries = append(t.canaries, Canary{
		Key: ConflictKey(r), Route: r.Name, Service: svc,
		Header: cn.ByHeader, HeaderValue: cn.ByHeaderValue, HeaderPattern: cn.ByHeaderPattern, Cookie: cn.ByCookie,
		Weight: cn.Weight, Total: cn.WeightTotal,
	})
}
