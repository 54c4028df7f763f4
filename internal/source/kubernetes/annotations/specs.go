package annotations

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"pylon.io/pylon/internal/ir"
)

// Support is one row of the support table: an annotation (without prefix),
// what Pylon does with it, and how.
type Support struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	How    string `json:"how"`
}

// spec is a Support row with its value parser.
type spec struct {
	Support
	parse func(c *Config, v string) error
}

// Table returns the support table, in a stable order.
func Table() []Support {
	out := make([]Support, len(specs))
	for i, s := range specs {
		out[i] = s.Support
	}
	return out
}

// Lookup returns the support row of an annotation name (without prefix).
func Lookup(name string) (Support, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s.Support, true
		}
	}
	return Support{}, false
}

func row(name string, st Status, how string, parse func(*Config, string) error) spec {
	return spec{Support{name, st, how}, parse}
}

// specs is the one table of annotations Pylon reads.
var specs = slices.Concat(routingSpecs, upstreamSpecs, accessSpecs, wafSpecs)

// specIndex finds a spec by annotation name.
var specIndex = func() map[string]int {
	m := make(map[string]int, len(specs))
	for i, s := range specs {
		m[s.Name] = i
	}
	return m
}()

// routingSpecs choose where a request goes.
var routingSpecs = []spec{
	// Canary: a second Ingress for the same host and path.
	row("canary", Honoured, "the Ingress becomes a canary of the oldest Ingress of its namespace serving the same host and path: the traffic-split plugin on that Ingress's route sends the canary's share to this Ingress's service; without such an Ingress it serves nothing", func(c *Config, v string) (err error) {
		c.Canary.Enabled, err = parseBool(v)
		return
	}),
	row("canary-by-header", Honoured, "header value \"always\": the canary; \"never\": the main backend, whatever the weight; other values: the next rule (cookie, then weight)", func(c *Config, v string) error {
		if !tokenText(v) {
			return fmt.Errorf("must be a header name (got %q)", v)
		}
		c.Canary.ByHeader = v
		return nil
	}),
	row("canary-by-header-value", Honoured, "requests whose header has this exact value go to the canary; other values go on to the next rule", func(c *Config, v string) error {
		if !plainText(v) {
			return fmt.Errorf("must be a non-empty value without spaces or control characters (got %q)", v)
		}
		c.Canary.ByHeaderValue = v
		return nil
	}),
	row("canary-by-header-pattern", Honoured, "requests whose header matches this regular expression (RE2, whole value) go to the canary", func(c *Config, v string) error {
		if v == "" {
			return fmt.Errorf("must be a regular expression (got \"\")")
		}
		if err := checkRegex(v); err != nil {
			return err
		}
		c.Canary.ByHeaderPattern = v
		return nil
	}),
	row("canary-by-cookie", Honoured, "cookie value \"always\": the canary; \"never\": the main backend; checked after the header", func(c *Config, v string) error {
		if !tokenText(v) {
			return fmt.Errorf("must be a cookie name (got %q)", v)
		}
		c.Canary.ByCookie = v
		return nil
	}),
	row("canary-weight", Honoured, "this share (out of canary-weight-total) of the requests no header or cookie rule decided goes to the canary, at random", func(c *Config, v string) (err error) {
		c.Canary.Weight, err = parseInt(v, 0, 1_000_000)
		c.Canary.WeightSet = err == nil
		return
	}),
	row("canary-weight-total", Honoured, "what canary-weight is out of (default 100); shares are kept to hundredths of a percent", func(c *Config, v string) (err error) {
		c.Canary.WeightTotal, err = parseInt(v, 1, 1_000_000)
		return
	}),

	// Paths and hosts.
	row("rewrite-target", Honoured, "the rewrite plugin builds the upstream path from the Ingress path's regex captures ($1…$9), as nginx's rewrite; implies use-regex", func(c *Config, v string) error {
		if !plainText(v) {
			return fmt.Errorf("must be a path without spaces or control characters (got %q)", v)
		}
		c.RewriteTarget = v
		return nil
	}),
	row("use-regex", Approximated, "paths become case-insensitive RE2 regular expressions matched from the start of the path, for this Ingress only (ingress-nginx turns every path of the host into a regex)", func(c *Config, v string) (err error) {
		c.UseRegex, err = parseBool(v)
		return
	}),
	row("upstream-vhost", Honoured, "the rewrite plugin sets the Host header sent upstream", func(c *Config, v string) error {
		if !plainText(v) || strings.ContainsAny(v, "/?#@") {
			return fmt.Errorf("must be a host name, optionally with a port (got %q)", v)
		}
		c.UpstreamVhost = v
		return nil
	}),
	row("server-alias", Honoured, "every rule host of the Ingress also answers under these names (comma-separated), with the same paths and annotations", func(c *Config, v string) error {
		for _, h := range splitList(v) {
			if !hostName(h) {
				return fmt.Errorf("%q is not a host name", h)
			}
			c.ServerAliases = append(c.ServerAliases, strings.ToLower(h))
		}
		if len(c.ServerAliases) == 0 {
			return fmt.Errorf("must list at least one host name")
		}
		return nil
	}),
	row("from-to-www-redirect", Approximated, "requests for the host without www. (or with it, for a www. host) are redirected to the rule's host with 308, path and query kept; at a lower priority, so another Ingress's own paths on that host win, where ingress-nginx would skip the redirect altogether", func(c *Config, v string) (err error) {
		c.FromToWWW, err = parseBool(v)
		return
	}),
	row("app-root", Honoured, "a route for exactly \"/\" answers 302 to the app root", func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") || !plainText(v) {
			return fmt.Errorf("must be a path starting with '/' (got %q)", v)
		}
		c.AppRoot = v
		return nil
	}),

	// Redirects.
	row("ssl-redirect", Honoured, "plain-HTTP requests to a host named in a TLS section are redirected to HTTPS with 308 by the redirect plugin (default true, as in ingress-nginx); \"false\" turns it off", func(c *Config, v string) error {
		b, err := parseBool(v)
		c.SSLRedirect = &b
		return err
	}),
	row("force-ssl-redirect", Honoured, "plain-HTTP requests are redirected to HTTPS with 308 even for hosts without a TLS section", func(c *Config, v string) (err error) {
		c.ForceSSLRedirect, err = parseBool(v)
		return
	}),
	row("permanent-redirect", Honoured, "the route answers with a redirect to the URL (301 unless permanent-redirect-code)", func(c *Config, v string) error {
		return setRedirect(c, "permanent-redirect", v, 301)
	}),
	row("permanent-redirect-code", Honoured, "the redirect's status: 301, 302, 303, 307 or 308", func(c *Config, v string) (err error) {
		c.p.permanentCode, err = parseInt(v, 300, 308)
		if err == nil && (c.p.permanentCode < 301 || c.p.permanentCode > 308 || c.p.permanentCode == 304 || c.p.permanentCode == 305 || c.p.permanentCode == 306) {
			err = fmt.Errorf("must be 301, 302, 303, 307 or 308 (got %q)", v)
		}
		return
	}),
	row("temporal-redirect", Honoured, "the route answers 302 with the URL (takes precedence over permanent-redirect)", func(c *Config, v string) error {
		return setRedirect(c, "temporal-redirect", v, 302)
	}),

	// Full-link gray: Pylon's own, ingress-nginx has no equivalent.
	row("tag-header", Honoured, "Pylon's own (no ingress-nginx equivalent): the request header holding the request's tag (the routes' tagHeader); a request tagged gray goes to the endpoints of Pods labelled pylon.io/tag: gray, and to the untagged ones when none of those is ready; a request without a tag, or with one no Pod has, only to the untagged ones", func(c *Config, v string) error {
		if !tokenText(v) {
			return fmt.Errorf("must be a header name (got %q)", v)
		}
		c.TagHeader = v
		return nil
	}),
	row("tag-fallback", Honoured, "Pylon's own: with tag-header, a request without a tag, or with one no Pod has, goes to the tagged endpoints when no untagged one is ready (the service's tagFallback); without it such a request never reaches a tagged endpoint", func(c *Config, v string) (err error) {
		c.TagFallback, err = parseBool(v)
		return
	}),
	row("zone-aware", Honoured, "Pylon's own: \"true\" keeps the services' traffic in the gateway's zone while enough of the endpoints there are healthy and unloaded (the service's zoneAware, with its defaults), or \"{minHealthyShare: 0.5, maxLoadFactor: 2}\" sets the bounds; a Service's trafficDistribution decides the same way without it", parseZoneAware),
}

// parseZoneAware reads zone-aware: a boolean, or a flow mapping of
// ir.ZoneAware's fields, checked as a file's zoneAware is.
func parseZoneAware(c *Config, v string) error {
	if b, err := parseBool(v); err == nil {
		c.ZoneAware = nil
		if b {
			c.ZoneAware = &ir.ZoneAware{}
		}
		return nil
	}
	var z ir.ZoneAware
	if err := yaml.UnmarshalStrict([]byte(v), &z); err != nil || !strings.HasPrefix(strings.TrimSpace(v), "{") {
		return fmt.Errorf("must be true, false or {minHealthyShare: 0-1, maxLoadFactor: 0 or 1-1000} (got %q)", v)
	}
	if err := z.Check(); err != nil {
		return err
	}
	c.ZoneAware = &z
	return nil
}

// setRedirect parses a redirect URL. temporal-redirect wins over
// permanent-redirect, as in ingress-nginx.
func setRedirect(c *Config, ann, v string, code int) error {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !plainText(v) {
		return fmt.Errorf("must be an absolute http or https URL (got %q)", v)
	}
	if c.Redirect != nil && c.Redirect.Annotation == "temporal-redirect" {
		return nil
	}
	c.Redirect = &Redirect{Annotation: ann, URL: u.String(), Code: code}
	return nil
}
