package ingress

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
)

// burstMultiplier is ingress-nginx's default limit-burst-multiplier.
const burstMultiplier = 5

// plugins attaches the plugin-backed annotations to a route that forwards.
// Plugin configs are plain maps in the plugins' own field names; the
// compile stage decodes and validates them.
func (t *translator) plugins(r *ir.Route) {
	if r.Redirect != nil {
		return
	}
	c := t.cfg
	if c.BasicAuth != nil {
		if cfg, ok := t.basicAuth(); ok {
			r.Plugins = append(r.Plugins, ir.PluginRef{Name: "basic-auth", Config: cfg})
		}
	}
	if a := c.Affinity; a != nil {
		cfg := map[string]any{"cookie": a.CookieName}
		if a.Path != "" {
			cfg["path"] = a.Path
		}
		maxAge := a.MaxAge
		if maxAge == 0 {
			maxAge = a.Expires // nginx sends both; one lifetime is enough
		}
		if maxAge > 0 {
			cfg["maxAge"] = maxAge.String()
		}
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "session-affinity", Config: cfg})
	}
	if len(c.CustomHTTPErrors) > 0 {
		if cfg, ok := t.customErrors(r); ok {
			r.Plugins = append(r.Plugins, ir.PluginRef{Name: "custom-errors", Config: cfg})
		}
	}
	switch {
	case c.LimitRPS > 0:
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "rate-limit", Config: rateLimit(c.LimitRPS, "1s")})
	case c.LimitRPM > 0:
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "rate-limit", Config: rateLimit(c.LimitRPM, "1m")})
	}
	if c.LimitConnections > 0 {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "concurrency-limit", Config: map[string]any{
			"max": c.LimitConnections, "status": 503,
		}})
	}
}

// rateLimit is ingress-nginx's limit-rps / limit-rpm: per client address,
// per replica, a burst of five times the rate, refused with 503.
func rateLimit(rate int, period string) map[string]any {
	return map[string]any{
		"rate": rate, "period": period, "burst": rate * burstMultiplier, "key": "ip",
		"rateLimitHeaders": false, "reject": map[string]any{"status": 503},
	}
}

// basicAuth reads the auth-secret into the basic-auth plugin's config,
// once per Ingress.
func (t *translator) basicAuth() (map[string]any, bool) {
	if t.authCfg != nil {
		return t.authCfg, true
	}
	ba := t.cfg.BasicAuth
	ns := t.ing.Namespace
	if ba.Secret.Namespace != "" && ba.Secret.Namespace != ns {
		// Reading another namespace's Secret would let any Ingress author
		// use credentials they cannot read themselves.
		t.fail("annotation auth-secret: secret %s/%s is in another namespace; only the Ingress's own namespace is allowed", ba.Secret.Namespace, ba.Secret.Name)
		return nil, false
	}
	sec, ok := t.l.Secret(ns, ba.Secret.Name)
	if !ok || sec == nil {
		t.fail("annotation auth-secret: secret %s/%s not found", ns, ba.Secret.Name)
		return nil, false
	}
	var htpasswd string
	if ba.SecretType == "auth-map" {
		htpasswd = authMap(sec)
	} else {
		htpasswd = string(sec.Data["auth"])
	}
	if strings.TrimSpace(htpasswd) == "" {
		t.fail("annotation auth-secret: secret %s/%s has no users (want an htpasswd file under key \"auth\", or auth-secret-type: auth-map)", ns, ba.Secret.Name)
		return nil, false
	}
	t.authCfg = map[string]any{"htpasswd": htpasswd}
	if ba.Realm != "" {
		t.authCfg["realm"] = ba.Realm
	}
	return t.authCfg, true
}

// authMap turns an auth-map Secret (one key per user, the value its hash)
// into htpasswd lines, sorted so the output is stable.
func authMap(sec *corev1.Secret) string {
	users := make([]string, 0, len(sec.Data))
	for u := range sec.Data {
		users = append(users, u)
	}
	sort.Strings(users)
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u + ":" + strings.TrimSpace(string(sec.Data[u])) + "\n")
	}
	return b.String()
}

// customErrors is custom-http-errors with default-backend: the error
// service is the default-backend Service's first port, asked with the
// headers ingress-nginx sends.
func (t *translator) customErrors(r *ir.Route) (map[string]any, bool) {
	name := t.cfg.DefaultBackend
	svc, ok := t.l.Service(t.ing.Namespace, name)
	if !ok || svc == nil || len(svc.Spec.Ports) == 0 {
		t.fail("annotation default-backend: service %s/%s not found or without ports", t.ing.Namespace, name)
		return nil, false
	}
	port := networkingv1.ServiceBackendPort{Name: svc.Spec.Ports[0].Name}
	if port.Name == "" {
		port.Number = svc.Spec.Ports[0].Port
	}
	errSvc := t.service(name, port, "annotation default-backend")
	if errSvc == "" {
		return nil, false
	}
	hdr := map[string]any{"X-Namespace": t.ing.Namespace, "X-Ingress-Name": t.ing.Name}
	for _, ref := range t.refs {
		if len(r.Backends) > 0 && ref.Name == r.Backends[0].Service {
			hdr["X-Service-Name"] = ref.Service
			hdr["X-Service-Port"] = strconv.Itoa(int(ref.Port.Port))
		}
	}
	return map[string]any{"statuses": t.cfg.CustomHTTPErrors, "service": errSvc, "headers": hdr}, true
}
