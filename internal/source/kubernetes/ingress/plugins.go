package ingress

import (
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
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
	if cfg := t.rewrite(); cfg != nil {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "rewrite", Config: cfg})
	}
	if t.sslRedirect(r) {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "redirect", Config: map[string]any{"scheme": "https", "code": 308, "onlyPlainHTTP": true}})
	}
	if c.BodySize != nil && *c.BodySize > 0 {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "request-size", Config: map[string]any{"maxBytes": *c.BodySize}})
	}
	if len(c.AllowSourceRanges)+len(c.DenySourceRanges) > 0 {
		cfg := map[string]any{}
		if len(c.AllowSourceRanges) > 0 {
			cfg["allow"] = prefixes(c.AllowSourceRanges)
		}
		if len(c.DenySourceRanges) > 0 {
			cfg["deny"] = prefixes(c.DenySourceRanges)
		}
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "ip-restriction", Config: cfg})
	}
	if cors := c.CORS; cors != nil {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "cors", Config: map[string]any{
			"allowOrigins": cors.AllowOrigins, "allowMethods": cors.AllowMethods, "allowHeaders": cors.AllowHeaders,
			"exposeHeaders": cors.ExposeHeaders, "allowCredentials": cors.AllowCredentials,
			"maxAge": (time.Duration(cors.MaxAge) * time.Second).String(),
		}})
	}
	if w := c.WAF; w != nil && (w.Enabled || w.CRS) {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "waf", Config: wafConfig(w)})
	}
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
	// As ingress-nginx's zones, the limits are the Ingress's: every path of
	// it shares them (one instance named after the Ingress).
	shared := "ingress/" + t.ing.Namespace + "/" + t.ing.Name
	switch {
	case c.LimitRPS > 0:
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "rate-limit", Instance: shared, Config: rateLimit(c.LimitRPS, "1s", c.LimitBurstMultiplier)})
	case c.LimitRPM > 0:
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "rate-limit", Instance: shared, Config: rateLimit(c.LimitRPM, "1m", c.LimitBurstMultiplier)})
	}
	if c.LimitConnections > 0 {
		r.Plugins = append(r.Plugins, ir.PluginRef{Name: "concurrency-limit", Instance: shared, Config: map[string]any{
			"max": c.LimitConnections, "per": "ip", "status": 503,
		}})
	}
}

// wafConfig is the waf plugin's config for the ModSecurity annotations:
// detection only unless waf-mode says block, the CRS when asked for.
func wafConfig(w *annotations.WAF) map[string]any {
	mode := w.Mode
	if mode == "" {
		mode = "detect"
	}
	crs := map[string]any{"enabled": w.CRS}
	if w.ParanoiaLevel > 0 {
		crs["paranoiaLevel"] = w.ParanoiaLevel
	}
	return map[string]any{"mode": mode, "crs": crs}
}

// rateLimit is ingress-nginx's limit-rps / limit-rpm: per client address,
// per replica, a burst of limit-burst-multiplier (default five) times the
// rate, refused with 503.
func rateLimit(rate int, period string, multiplier int) map[string]any {
	if multiplier == 0 {
		multiplier = burstMultiplier
	}
	return map[string]any{
		"rate": rate, "period": period, "burst": rate * multiplier, "key": "ip",
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
	if line, user, ok := badHtpasswdLine(htpasswd); !ok {
		t.fail("annotation auth-secret: secret %s/%s: line %d (user %q): want user:hash with a bcrypt, $apr1$ or {SHA} hash", ns, ba.Secret.Name, line, user)
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

// captureRef matches nginx's $1…$9, which the rewrite plugin must see as
// ${1}…${9} so text after them ("$1x") is not read as a group name.
var captureRef = regexp.MustCompile(`\$([0-9])`)

// rewrite is rewrite-target and upstream-vhost as one rewrite plugin: the
// Ingress path (a regex, since rewrite-target implies use-regex) matched
// case-insensitively from the start, the target built from its captures.
func (t *translator) rewrite() map[string]any {
	c := t.cfg
	cfg := map[string]any{}
	if c.RewriteTarget != "" && t.path != "" {
		pattern := "(?i)^" + t.path
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil // matches() has reported the path
		}
		for _, m := range captureRef.FindAllStringSubmatch(c.RewriteTarget, -1) {
			if n := int(m[1][0] - '0'); n > re.NumSubexp() {
				t.fail("annotation rewrite-target: %q refers to $%d, but path %q has %d capture group(s)", c.RewriteTarget, n, t.path, re.NumSubexp())
				return nil
			}
		}
		cfg["regex"] = map[string]any{
			"pattern":     pattern,
			"replacement": captureRef.ReplaceAllString(c.RewriteTarget, "$${$1}"),
		}
	}
	if c.UpstreamVhost != "" {
		cfg["host"] = c.UpstreamVhost
	}
	if len(cfg) == 0 {
		return nil
	}
	return cfg
}

// sslRedirect reports whether plain-HTTP requests on r go to HTTPS:
// force-ssl-redirect, or (ssl-redirect, on by default) a host named in a
// TLS section.
func (t *translator) sslRedirect(r *ir.Route) bool {
	c := t.cfg
	if c.ForceSSLRedirect {
		return true
	}
	on := !t.opts.NoDefaultSSLRedirect
	if c.SSLRedirect != nil {
		on = *c.SSLRedirect
	}
	if !on || len(r.Hosts) == 0 {
		return false
	}
	h := r.Hosts[0]
	if t.tlsHosts[h] {
		return true
	}
	// A wildcard TLS host covers one label, as in Kubernetes.
	if i := strings.IndexByte(h, '.'); i > 0 && t.tlsHosts["*"+h[i:]] {
		return true
	}
	return false
}

func prefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// badHtpasswdLine finds the first line that is not user:hash with a hash
// scheme the basic-auth plugin knows, so a broken Secret rejects the Ingress
// with the Secret named instead of failing later at compile time. It never
// returns the hash.
func badHtpasswdLine(text string) (line int, user string, ok bool) {
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		u, h, found := strings.Cut(l, ":")
		if !found || u == "" {
			return i + 1, "", false
		}
		switch {
		case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"),
			strings.HasPrefix(h, "$apr1$"), strings.HasPrefix(h, "{SHA}"):
		default:
			return i + 1, u, false
		}
	}
	return 0, "", true
}
