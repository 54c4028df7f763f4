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
	row("enable-access-log", Honoured, "false: the Ingress's routes write no access log line (accessLog.enabled on each route)", func(c *Config, v string) error {
		on, err := parseBool(v)
		c.AccessLog = &on
		return err
	}),
	row("enable-cors", Honoured, "the cors plugin answers preflights and adds CORS headers, with ingress-nginx's defaults for the options not set", func(c *Config, v string) (err error) {
		c.p.corsEnabled, err = parseBool(v)
		return
	}),
	row("cors-allow-origin", Honoured, "allowed origins: comma-separated, \"*\" for any, \"https://*.example.com\" for subdomains", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowOrigins, v, func(s string) bool {
			return s == "*" || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
		})
	}),
	row("cors-allow-methods", Honoured, "Access-Control-Allow-Methods", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowMethods, strings.ToUpper(v), tokenText)
	}),
	row("cors-allow-headers", Honoured, "Access-Control-Allow-Headers", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.AllowHeaders, v, func(s string) bool { return s == "*" || tokenText(s) })
	}),
	row("cors-expose-headers", Honoured, "Access-Control-Expose-Headers", func(c *Config, v string) error {
		return setCORSList(&c.p.cors.ExposeHeaders, v, func(s string) bool { return s == "*" || tokenText(s) })
	}),
	row("cors-allow-credentials", Honoured, "Access-Control-Allow-Credentials (default true)", func(c *Config, v string) (err error) {
		c.p.cors.AllowCredentials, err = parseBool(v)
		c.p.corsSet = append(c.p.corsSet, "credentials")
		return
	}),
	row("cors-max-age", Honoured, "Access-Control-Max-Age, in seconds (default 1728000)", func(c *Config, v string) (err error) {
		c.p.cors.MaxAge, err = parseInt(v, 0, 1<<30)
		c.p.corsSet = append(c.p.corsSet, "max-age")
		return
	}),
	row("whitelist-source-range", Honoured, "the ip-restriction plugin answers 403 to clients outside these ranges (the connected peer's address; keep externalTrafficPolicy: Local)", func(c *Config, v string) (err error) {
		c.AllowSourceRanges, err = parseCIDRs(v)
		return
	}),
	row("allowlist-source-range", Honoured, "the newer name of whitelist-source-range; wins when both are set", func(c *Config, v string) (err error) {
		c.p.allowlist, err = parseCIDRs(v)
		return
	}),
	row("denylist-source-range", Honoured, "the ip-restriction plugin answers 403 to clients inside these ranges, even when whitelist-source-range covers them", func(c *Config, v string) (err error) {
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
	row("auth-tls-secret", Approximated, "the Secret (in the Ingress's namespace) whose ca.crt signs client certificates; they are verified in the TLS handshake for the Ingress's TLS hosts, each of which needs a TLS section. A failed verification ends the handshake (nginx answers 400). The upstream gets X-Client-Verify (SUCCESS or NONE) and X-Client-Subject-DN (nginx: ssl-client-verify, ssl-client-subject-dn); a request for such a host on a connection made for another name gets 421", func(c *Config, v string) (err error) {
		c.p.authTLSSecret, err = parseSecretRef(v)
		return
	}),
	row("auth-tls-verify-client", Approximated, "on (default): a client certificate is required; optional: verified if sent; optional_no_ca: as optional, but a certificate from another CA fails the handshake (nginx passes it on unverified); off: no verification", func(c *Config, v string) error {
		switch v {
		case "on", "off", "optional", "optional_no_ca":
			c.p.authTLSVerify = v
			return nil
		}
		return fmt.Errorf("must be on, off, optional or optional_no_ca (got %q)", v)
	}),
	row("auth-tls-verify-depth", Honoured, "how many certificates may stand above the client's own in its verified chain (default 1: signed by a CA in ca.crt)", func(c *Config, v string) (err error) {
		c.p.authTLSDepth, err = parseInt(v, 1, 100)
		return
	}),
	row("auth-tls-pass-certificate-to-upstream", Approximated, "the verified client certificate goes upstream as URL-encoded PEM in X-Client-Cert (nginx: ssl-client-cert)", func(c *Config, v string) (err error) {
		c.p.authTLSPass, err = parseBool(v)
		return
	}),
	row("auth-tls-match-cn", Approximated, "the routes' clientCertificateSubject: a request whose verified client certificate has a subject DN (RFC 2253, CN=…,O=…) the regular expression does not match, or that has none, gets 403, as in nginx; the expression is Go's (RE2), so PCRE-only syntax (lookarounds, backreferences) is refused", func(c *Config, v string) error {
		if err := checkRegex(v); err != nil {
			return err
		}
		c.p.authTLSCN = v
		return nil
	}),
	row("limit-rps", Honoured, "the rate-limit plugin allows this many requests per second per client IP on each replica, across every path of the Ingress (one shared instance), with a burst of 5× (limit-burst-multiplier's default), and answers 503, as ingress-nginx does", func(c *Config, v string) (err error) {
		c.LimitRPS, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("limit-rpm", Approximated, "the rate-limit plugin allows this many requests per minute per client IP on each replica, across every path of the Ingress, with a burst of 5×, and answers 503; with limit-rps as well, only limit-rps applies (nginx applies both)", func(c *Config, v string) (err error) {
		c.LimitRPM, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("limit-burst-multiplier", Honoured, "the burst of limit-rps and limit-rpm, as a multiple of the rate (default 5)", func(c *Config, v string) (err error) {
		c.LimitBurstMultiplier, err = parseInt(v, 1, 1000)
		return
	}),
	row("limit-connections", Approximated, "the concurrency-limit plugin bounds the requests in flight per client IP, across every path of the Ingress, on each replica, answering 503; nginx counts connections, Pylon requests (the same over HTTP/1.1; each HTTP/2 stream counts)", func(c *Config, v string) (err error) {
		c.LimitConnections, err = parseInt(v, 1, 1_000_000)
		return
	}),
	row("default-backend", Approximated, "with custom-http-errors: the Service (its first port) that serves the error pages; alone it has no effect (Pylon does not send requests to it when a Service has no endpoints)", func(c *Config, v string) error {
		if !dnsName(v) {
			return fmt.Errorf("must be a Service name in the Ingress's namespace (got %q)", v)
		}
		c.DefaultBackend = v
		return nil
	}),
	row("custom-http-errors", Approximated, "the custom-errors plugin replaces the body of upstream responses with these statuses by default-backend's page (asked with X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port); the status is kept; Pylon's own 502/503/504 are replaced too", func(c *Config, v string) (err error) {
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
