package annotations

import (
	"fmt"
	"strings"
)

// corsDefaults are ingress-nginx's defaults for enable-cors.
var corsDefaults = CORS{
	AllowOrigins:     []string{"*"},
	AllowMethods:     []string{"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"},
	AllowHeaders:     []string{"DNT", "Keep-Alive", "User-Agent", "X-Requested-With", "If-Modified-Since", "Cache-Control", "Content-Type", "Range", "Authorization"},
	AllowCredentials: true,
	MaxAge:           1728000,
}

// accessSpecs decide who may pass and how often.
var accessSpecs = []spec{
	row("enable-cors", Honoured, "the cors plugin answers preflights and adds CORS headers, with ingress-nginx's defaults", func(c *Config, v string) (err error) {
		c.p.corsEnabled, err = parseBool(v)
		return
	}),
	row("cors-allow-origin", Honoured, "allowed origins (comma-separated, \"*\" for any)", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowOrigins, v, func(s string) bool {
			return s == "*" || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
		})
	}),
	row("cors-allow-methods", Honoured, "allowed methods", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowMethods, strings.ToUpper(v), tokenText)
	}),
	row("cors-allow-headers", Honoured, "allowed request headers", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowHeaders, v, func(s string) bool { return s == "*" || tokenText(s) })
	}),
	row("cors-expose-headers", Honoured, "response headers exposed to scripts", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.ExposeHeaders, v, func(s string) bool { return s == "*" || tokenText(s) })
	}),
	row("cors-allow-credentials", Honoured, "Access-Control-Allow-Credentials", func(c *Config, v string) (err error) {
		c.p.cors.AllowCredentials, err = parseBool(v)
		c.p.corsSet = append(c.p.corsSet, "credentials")
		return
	}),
	row("cors-max-age", Honoured, "Access-Control-Max-Age, in seconds", func(c *Config, v string) (err error) {
		c.p.cors.MaxAge, err = parseInt(v, 0, 1<<30)
		c.p.corsSet = append(c.p.corsSet, "max-age")
		return
	}),
	row("whitelist-source-range", Honoured, "the ip-restriction plugin answers 403 to clients outside these ranges", func(c *Config, v string) (err error) {
		c.AllowSourceRanges, err = parseCIDRs(v)
		return
	}),
	row("denylist-source-range", Honoured, "the ip-restriction plugin answers 403 to clients inside these ranges", func(c *Config, v string) (err error) {
		c.DenySourceRanges, err = parseCIDRs(v)
		return
	}),
	row("auth-type", Honoured, "basic: the basic-auth plugin checks credentials against the htpasswd Secret (bcrypt, SHA1 and apr1 hashes); digest is refused", func(c *Config, v string) error {
		if v != "basic" {
			return fmt.Errorf("must be \"basic\" (got %q; digest authentication is not supported)", v)
		}
		c.p.authType = v
		return nil
	}),
	row("auth-secret", Honoured, "the Secret holding the htpasswd file; it must be in the Ingress's namespace", func(c *Config, v string) (err error) {
		c.p.authSecret, err = parseSecretRef(v)
		return
	}),
	row("auth-secret-type", Honoured, "auth-file: an htpasswd file under key \"auth\" (default); auth-map: one key per user, the value its hash", func(c *Config, v string) error {
		if v != "auth-file" && v != "auth-map" {
			return fmt.Errorf("must be auth-file or auth-map (got %q)", v)
		}
		c.p.authSecretTyp = v
		return nil
	}),
	row("auth-realm", Honoured, "the realm in WWW-Authenticate", func(c *Config, v string) error {
		if strings.ContainsAny(v, "\"\\\r\n\x00") {
			return fmt.Errorf("must not contain quotes, backslashes or control characters (got %q)", v)
		}
		c.p.authRealm = v
		return nil
	}),
	row("auth-tls-secret", Rejected, "client certificate verification is not available on Pylon's listeners yet; the Ingress is refused rather than served without it", func(c *Config, v string) (err error) {
		c.AuthTLSSecret, err = parseSecretRef(v)
		if err == nil {
			err = fmt.Errorf("client certificate verification (mTLS) is not supported yet; refusing to serve this Ingress without it")
		}
		return
	}),
	row("limit-rps", Approximated, "the rate-limit plugin allows this many requests per second per client IP, with a burst of 5× (limit-burst-multiplier's default); answers 503 like ingress-nginx", func(c *Config, v string) (err error) {
		c.LimitRPS, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("limit-rpm", Approximated, "the rate-limit plugin allows this many requests per minute per client IP, with a burst of 5×; answers 503", func(c *Config, v string) (err error) {
		c.LimitRPM, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("limit-connections", Approximated, "the concurrency-limit plugin bounds requests in flight per client IP (nginx: connections)", func(c *Config, v string) (err error) {
		c.LimitConnections, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("default-backend", Approximated, "with custom-http-errors: the Service that answers those errors; alone: the backend of paths whose Service has no endpoints is not switched (Pylon answers 503)", func(c *Config, v string) error {
		if !dnsName(v) {
			return fmt.Errorf("must be a Service name in the Ingress's namespace (got %q)", v)
		}
		c.DefaultBackend = v
		return nil
	}),
	row("custom-http-errors", Honoured, "the custom-errors plugin sends responses with these statuses to default-backend instead, with X-Code, X-Original-URI and friends", func(c *Config, v string) (err error) {
		c.CustomHTTPErrors, err = parseStatusList(v, 400, 599)
		return
	}),
}

// setCORSList parses a comma-separated CORS list, each item checked by ok.
func setCORSList(dst *[]string, v string, ok func(string) bool) error {
	items := splitList(v)
	if len(items) == 0 {
		return fmt.Errorf("must not be empty")
	}
	for _, it := range items {
		if !ok(it) {
			return fmt.Errorf("invalid item %q", it)
		}
	}
	*dst = items
	return nil
}
