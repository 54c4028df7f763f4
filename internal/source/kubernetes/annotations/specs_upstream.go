package annotations

import (
	"fmt"
	"strings"
)

// upstreamSpecs shape how Pylon talks to the backend.
var upstreamSpecs = []spec{
	row("proxy-next-upstream", Approximated, "retries: errors and timeouts are always retried, http_NNN become retry statuses, non_idempotent allows retrying POST and PATCH, off disables retries; invalid_header is ignored", func(c *Config, v string) error {
		r := &c.Retry
		r.Set = true
		for _, f := range strings.Fields(v) {
			switch {
			case f == "error", f == "timeout", f == "invalid_header":
			case f == "non_idempotent":
				r.NonIdempotent = true
			case f == "off":
				r.Off = true
			case strings.HasPrefix(f, "http_"):
				codes, err := parseStatusList(f[5:], 400, 599)
				if err != nil || len(codes) != 1 {
					return fmt.Errorf("unknown condition %q", f)
				}
				r.Statuses = append(r.Statuses, codes[0])
			default:
				return fmt.Errorf("unknown condition %q (want error, timeout, invalid_header, http_NNN, non_idempotent or off)", f)
			}
		}
		if len(strings.Fields(v)) == 0 {
			return fmt.Errorf("must list conditions like \"error timeout http_502\"")
		}
		return nil
	}),
	row("proxy-next-upstream-tries", Honoured, "the number of tries, the first included (at most 10; 0, nginx's unlimited, becomes 10)", func(c *Config, v string) (err error) {
		c.Retry.Tries, err = parseInt(v, 0, 1000)
		if c.Retry.Tries == 0 || c.Retry.Tries > 10 {
			c.Retry.Tries = 10
		}
		return
	}),
	row("proxy-next-upstream-timeout", Approximated, "bounds the whole request, every try included (the route's request timeout)", func(c *Config, v string) (err error) {
		c.Retry.Timeout, err = parseSeconds(v)
		return
	}),
	row("proxy-connect-timeout", Honoured, "the service's connect timeout", func(c *Config, v string) (err error) {
		c.ConnectTimeout, err = parseSeconds(v)
		return
	}),
	row("proxy-read-timeout", Approximated, "the per-try timeout: the time allowed until the response headers arrive (nginx: between two reads)", func(c *Config, v string) (err error) {
		c.ReadTimeout, err = parseSeconds(v)
		return
	}),
	row("proxy-send-timeout", Approximated, "the service's sendTimeout: toward HTTP/2 and gRPC upstreams, as nginx, a connection that takes no bytes for this long is closed; toward HTTP/1.1 upstreams it bounds writing the whole request, which Pylon sends at once from the buffered body", func(c *Config, v string) (err error) {
		c.SendTimeout, err = parseSeconds(v)
		return
	}),
	row("proxy-body-size", Honoured, "the request-size plugin answers 413 above the limit, whether the length is declared, chunked or (over HTTP/2) streamed; 0 means no per-route limit, the listener's own still applies", func(c *Config, v string) error {
		n, err := parseSize(v)
		c.BodySize = &n
		return err
	}),
	row("backend-protocol", Honoured, "HTTP: HTTP/1.1; HTTPS: HTTP/1.1 over TLS; GRPC and H2C: HTTP/2 without TLS; GRPCS: HTTP/2 over TLS. As in ingress-nginx, the upstream certificate is not verified unless proxy-ssl-verify is on", func(c *Config, v string) error {
		switch p := strings.ToUpper(strings.TrimSpace(v)); p {
		case "HTTP", "HTTPS", "GRPC", "GRPCS", "H2C":
			c.BackendProtocol = p
			return nil
		}
		return fmt.Errorf("must be HTTP, HTTPS, GRPC, GRPCS or H2C (got %q; AUTO_HTTP and FCGI are not supported)", v)
	}),
	row("load-balance", Approximated, "round_robin: round robin; ewma: peak-EWMA latency times requests in flight (power of two choices), as ingress-nginx's; least_conn: least request (power of two choices)", func(c *Config, v string) error {
		switch p := strings.TrimSpace(v); p {
		case "round_robin", "ewma", "least_conn":
			c.LoadBalance = p
			return nil
		}
		return fmt.Errorf("must be round_robin, ewma or least_conn (got %q)", v)
	}),
	row("upstream-hash-by", Approximated, "consistent hashing on $remote_addr (client IP), $request_uri or $uri (path), $http_NAME (header) or $cookie_NAME (cookie); other nginx variables are refused", parseHashBy),
	row("affinity", Approximated, "cookie: the session-affinity plugin issues the cookie (from the first request on) and the service hashes on it; when endpoints change only the clients of removed ones move, like ingress-nginx's balanced mode (affinity-mode persistent is not offered)", func(c *Config, v string) error {
		if v != "cookie" {
			return fmt.Errorf("must be \"cookie\" (got %q)", v)
		}
		c.p.affinity = v
		return nil
	}),
	row("session-cookie-name", Honoured, "the affinity cookie's name (default INGRESSCOOKIE)", func(c *Config, v string) error {
		if !tokenText(v) {
			return fmt.Errorf("must be a cookie name (got %q)", v)
		}
		c.p.cookie.CookieName = v
		return nil
	}),
	row("session-cookie-path", Honoured, "the affinity cookie's Path attribute", func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") || !plainText(v) || strings.Contains(v, ";") {
			return fmt.Errorf("must be a path starting with '/' (got %q)", v)
		}
		c.p.cookie.Path = v
		return nil
	}),
	row("session-cookie-max-age", Honoured, "the affinity cookie's Max-Age attribute, in seconds", func(c *Config, v string) (err error) {
		c.p.cookie.MaxAge, err = parseSeconds(v)
		return
	}),
	row("session-cookie-expires", Approximated, "the affinity cookie's lifetime in seconds, sent as Max-Age", func(c *Config, v string) (err error) {
		c.p.cookie.Expires, err = parseSeconds(v)
		return
	}),
	row("proxy-ssl-secret", Honoured, "the Secret's tls.crt and tls.key become the client certificate toward the upstream, its ca.crt the CA that verifies it", func(c *Config, v string) error {
		r, err := parseSecretRef(v)
		c.ProxySSL.Secret = r
		return err
	}),
	row("proxy-ssl-verify", Honoured, "on: verify the upstream's certificate (with proxy-ssl-secret's ca.crt, else the system roots); off (default): do not", func(c *Config, v string) error {
		b, err := parseOnOff(v)
		c.ProxySSL.Verify = &b
		return err
	}),
	row("proxy-ssl-name", Honoured, "the name sent as SNI and verified in the upstream's certificate", func(c *Config, v string) error {
		if !plainText(v) {
			return fmt.Errorf("must be a host name (got %q)", v)
		}
		c.ProxySSL.Name = v
		return nil
	}),
	row("proxy-ssl-server-name", Approximated, "on: send proxy-ssl-name as SNI; off is not supported (Pylon always sends SNI when it has a name)", func(c *Config, v string) error {
		b, err := parseOnOff(v)
		c.ProxySSL.ServerName = &b
		return err
	}),
}

func parseOnOff(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("must be on or off (got %q)", v)
}

func parseHashBy(c *Config, v string) error {
	s := strings.TrimSpace(v)
	h := &HashBy{}
	switch {
	case s == "$remote_addr" || s == "$binary_remote_addr":
		h.ClientIP = true
	case s == "$request_uri" || s == "$uri":
		h.Path = true
	case strings.HasPrefix(s, "$http_") && tokenText(s[6:]):
		h.Header = strings.ReplaceAll(s[6:], "_", "-")
	case strings.HasPrefix(s, "$cookie_") && tokenText(s[8:]):
		h.Cookie = s[8:]
	default:
		return fmt.Errorf("must be $remote_addr, $request_uri, $uri, $http_NAME or $cookie_NAME (got %q)", v)
	}
	c.HashBy = h
	return nil
}

// parseSecretRef reads "name" or "namespace/name".
func parseSecretRef(v string) (*SecretRef, error) {
	ns, name, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		ns, name = "", ns
	}
	if !dnsName(name) || (ok && !dnsName(ns)) {
		return nil, fmt.Errorf("must be a Secret name or namespace/name (got %q)", v)
	}
	return &SecretRef{Namespace: ns, Name: name}, nil
}

// dnsName reports whether s is a Kubernetes object name (RFC 1123 subdomain).
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return s[0] != '-' && s[0] != '.' && s[len(s)-1] != '-' && s[len(s)-1] != '.'
}
