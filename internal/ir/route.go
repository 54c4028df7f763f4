package ir

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Route matches requests and says what to do with them: forward to weighted
// services, redirect, or answer directly. Exactly one action is set.
type Route struct {
	Name     string     `json:"name" yaml:"name"`
	Hosts    []string   `json:"hosts,omitempty" yaml:"hosts,omitempty"` // exact or "*.example.com"; empty = any host
	Match    RouteMatch `json:"match,omitzero" yaml:"match,omitempty"`
	Priority int32      `json:"priority,omitempty" yaml:"priority,omitempty"`

	Backends       []Backend       `json:"backends,omitempty" yaml:"backends,omitempty"`
	Redirect       *Redirect       `json:"redirect,omitempty" yaml:"redirect,omitempty"`
	DirectResponse *DirectResponse `json:"directResponse,omitempty" yaml:"directResponse,omitempty"`

	Timeouts Timeouts `json:"timeouts,omitzero" yaml:"timeouts,omitempty"`
	Retries  *Retries `json:"retries,omitempty" yaml:"retries,omitempty"`

	// Plugins run for this route, merged with its host policies' and the
	// global ones (the route's own win by name).
	Plugins []PluginRef `json:"plugins,omitempty" yaml:"plugins,omitempty"`

	// RequireClientCertificate refuses (403) requests that did not come on a
	// connection with a verified client certificate, whichever certificate
	// the handshake chose; it keeps a route protected when another
	// certificate without clientAuth wins its host's name.
	RequireClientCertificate bool `json:"requireClientCertificate,omitempty" yaml:"requireClientCertificate,omitempty"`
	// ClientCertificateSubject, a regular expression, refuses (403) requests
	// whose verified client certificate's subject DN (RFC 2253 form, as
	// "CN=api,O=Example") it does not match, and requests without one.
	ClientCertificateSubject string `json:"clientCertificateSubject,omitempty" yaml:"clientCertificateSubject,omitempty"`

	// TagHeader names the request header holding the request's tag (full-
	// link gray): a tagged request goes to its services' endpoints with
	// that tag, falling back to the untagged ones when none is healthy.
	TagHeader string `json:"tagHeader,omitempty" yaml:"tagHeader,omitempty"`

	// AccessLog turns the route's access log lines off, or samples them
	// with a share of its own.
	AccessLog *RouteAccessLog `json:"accessLog,omitempty" yaml:"accessLog,omitempty"`
}

// RouteAccessLog is a route's access log setting: Enabled false writes no
// line for it (a health check route, say); Sample keeps that share (0-1)
// of its answers below 400, instead of the log's own share.
type RouteAccessLog struct {
	Enabled *bool    `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	Sample  *float64 `json:"sample,omitempty" yaml:"sample,omitempty"`
}

// RouteMatch holds the request predicates; all must hold.
type RouteMatch struct {
	Path    *PathMatch    `json:"path,omitempty" yaml:"path,omitempty"` // nil = prefix "/"
	Methods []string      `json:"methods,omitempty" yaml:"methods,omitempty"`
	Headers []StringMatch `json:"headers,omitempty" yaml:"headers,omitempty"`
	Query   []StringMatch `json:"query,omitempty" yaml:"query,omitempty"`
}

// PathMatch sets exactly one of Exact, Prefix (plain string prefix) or Regex
// (RE2, matched against the whole path).
type PathMatch struct {
	Exact  string `json:"exact,omitempty" yaml:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty" yaml:"regex,omitempty"`
}

// StringMatch matches one header or query parameter by Name: Exact value,
// Regex (whole value), or Present.
type StringMatch struct {
	Name    string `json:"name" yaml:"name"`
	Exact   string `json:"exact,omitempty" yaml:"exact,omitempty"`
	Regex   string `json:"regex,omitempty" yaml:"regex,omitempty"`
	Present bool   `json:"present,omitempty" yaml:"present,omitempty"`
}

// Backend is one weighted service a route forwards to.
type Backend struct {
	Service string `json:"service" yaml:"service"`
	Weight  int    `json:"weight,omitempty" yaml:"weight,omitempty"` // default 1 when every weight is 0
}

// Redirect answers with a redirect built from the request; empty fields keep
// the request's value.
type Redirect struct {
	Scheme string `json:"scheme,omitempty" yaml:"scheme,omitempty"`
	Host   string `json:"host,omitempty" yaml:"host,omitempty"`
	Port   int    `json:"port,omitempty" yaml:"port,omitempty"`
	Path   string `json:"path,omitempty" yaml:"path,omitempty"`
	Code   int    `json:"code,omitempty" yaml:"code,omitempty"` // 301 (default), 302, 303, 307, 308
	// OnlyPlainHTTP makes the route answer only requests that did not
	// arrive over TLS. For a request over TLS the route is no candidate,
	// so the host's next matching route serves it: without this, an
	// http-to-https redirect also answers on the HTTPS listener and sends
	// clients to the URL they asked for.
	OnlyPlainHTTP bool `json:"onlyPlainHTTP,omitempty" yaml:"onlyPlainHTTP,omitempty"`
}

// DirectResponse answers without an upstream.
type DirectResponse struct {
	Status  int      `json:"status" yaml:"status"`
	Body    string   `json:"body,omitempty" yaml:"body,omitempty"`
	Headers []Header `json:"headers,omitempty" yaml:"headers,omitempty"`
}

// Header is one header name and value.
type Header struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

// Timeouts bound the time spent on a request. Request covers all tries;
// zero means the defaults (request 60s, connect 5s from the service).
type Timeouts struct {
	Request Duration `json:"request,omitempty" yaml:"request,omitempty"`
}

// Retries re-sends a failed request to another endpoint, up to Attempts tries
// in all. A connect error (nothing was sent) is retried for any method; a
// reset connection and the statuses in On only for idempotent methods unless
// NonIdempotent is set. Without a Retries block a route gets two tries for
// connect errors and resets. Requests with a streamed body (HTTP/2 clients
// to HTTP/2 upstreams) are retried only on connect errors before the body
// was read.
type Retries struct {
	Attempts      int      `json:"attempts" yaml:"attempts"` // total tries, including the first
	PerTryTimeout Duration `json:"perTryTimeout,omitempty" yaml:"perTryTimeout,omitempty"`
	On            []int    `json:"on,omitempty" yaml:"on,omitempty"`
	NonIdempotent bool     `json:"nonIdempotent,omitempty" yaml:"nonIdempotent,omitempty"`
}

func (r *Route) ResourceKind() Kind   { return KindRoute }
func (r *Route) ResourceName() string { return r.Name }

// PathOrDefault returns the route's path match, prefix "/" when unset.
func (r *Route) PathOrDefault() PathMatch {
	if r.Match.Path == nil {
		return PathMatch{Prefix: "/"}
	}
	return *r.Match.Path
}

// Validate checks the route on its own (not whether its services exist).
func (r *Route) Validate() error {
	p := &problems{kind: KindRoute, name: r.Name}
	checkName(p, r.Name)
	seen := map[string]bool{}
	for i, h := range r.Hosts {
		f := fmt.Sprintf("hosts[%d]", i)
		if err := ValidateHost(h); err != nil {
			p.add(f, "%v", err)
		}
		if seen[strings.ToLower(h)] {
			p.add(f, "duplicate host %q", h)
		}
		seen[strings.ToLower(h)] = true
	}
	r.validateMatch(p)
	actions := 0
	if len(r.Backends) > 0 {
		actions++
	}
	if r.Redirect != nil {
		actions++
	}
	if r.DirectResponse != nil {
		actions++
	}
	if actions != 1 {
		p.add("", "exactly one of backends, redirect or directResponse must be set")
	}
	if r.TagHeader != "" && !validHeaderName(r.TagHeader) {
		p.add("tagHeader", "must be a header name (got %q)", r.TagHeader)
	}
	if a := r.AccessLog; a != nil && a.Sample != nil && !(*a.Sample >= 0 && *a.Sample <= 1) {
		p.add("accessLog.sample", "must be between 0 and 1 (got %v)", *a.Sample)
	}
	if r.ClientCertificateSubject != "" {
		if _, err := regexp.Compile(r.ClientCertificateSubject); err != nil {
			p.add("clientCertificateSubject", "%v", err)
		}
	}
	for i, b := range r.Backends {
		if b.Service == "" {
			p.add(fmt.Sprintf("backends[%d].service", i), "required")
		}
		if b.Weight < 0 || b.Weight > MaxWeight {
			p.add(fmt.Sprintf("backends[%d].weight", i), "must be 0-%d (got %d)", MaxWeight, b.Weight)
		}
	}
	if rd := r.Redirect; rd != nil {
		if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
			p.add("redirect.scheme", "must be http or https (got %q)", rd.Scheme)
		}
		switch rd.Code {
		case 0, 301, 302, 303, 307, 308:
		default:
			p.add("redirect.code", "must be 301, 302, 303, 307 or 308 (got %d)", rd.Code)
		}
		if rd.Port < 0 || rd.Port > 65535 {
			p.add("redirect.port", "must be 1-65535")
		}
		if rd.Path != "" && !strings.HasPrefix(rd.Path, "/") {
			p.add("redirect.path", "must start with '/'")
		}
		if rd.Host != "" && ValidateHost(rd.Host) != nil {
			p.add("redirect.host", "invalid host %q", rd.Host)
		}
		if rd.OnlyPlainHTTP && rd.Scheme != "https" && rd.Host == "" && rd.Port == 0 && rd.Path == "" {
			// Such a redirect sends every plain-HTTP request to the URL it
			// asked for, which answers with the same redirect again.
			p.add("redirect.onlyPlainHTTP", "the redirect would point plain-HTTP requests at the URL they asked for: set scheme https, or a host, port or path")
		}
	}
	if d := r.DirectResponse; d != nil {
		if d.Status < 100 || d.Status > 599 {
			p.add("directResponse.status", "must be 100-599 (got %d)", d.Status)
		}
		for i, h := range d.Headers {
			if !validHeaderName(h.Name) {
				p.add(fmt.Sprintf("directResponse.headers[%d].name", i), "invalid header name %q", h.Name)
			}
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				p.add(fmt.Sprintf("directResponse.headers[%d].value", i), "must not contain CR, LF or NUL")
			}
		}
	}
	if rt := r.Retries; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > 10 {
			p.add("retries.attempts", "must be 1-10 (got %d)", rt.Attempts)
		}
		for i, c := range rt.On {
			if c < 100 || c > 599 {
				p.add(fmt.Sprintf("retries.on[%d]", i), "must be a status 100-599 (got %d)", c)
			}
		}
	}
	checkPlugins(p, "plugins", r.Plugins, true)
	return p.err()
}

func (r *Route) validateMatch(p *problems) {
	if pm := r.Match.Path; pm != nil {
		n := 0
		if pm.Exact != "" {
			n++
			checkPath(p, "match.path.exact", pm.Exact)
		}
		if pm.Prefix != "" {
			n++
			checkPath(p, "match.path.prefix", pm.Prefix)
		}
		if pm.Regex != "" {
			n++
			if _, err := regexp.Compile(pm.Regex); err != nil {
				p.add("match.path.regex", "%v", err)
			}
		}
		if n != 1 {
			p.add("match.path", "exactly one of exact, prefix or regex must be set")
		}
	}
	for i, m := range r.Match.Methods {
		if !validMethod(m) {
			p.add(fmt.Sprintf("match.methods[%d]", i), "invalid method %q", m)
		}
	}
	validateStringMatches(p, "match.headers", r.Match.Headers, validHeaderName)
	validateStringMatches(p, "match.query", r.Match.Query, func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] == 0x7f {
				return false
			}
		}
		return true
	})
}

// checkPath rejects paths that could never match a request path: they must
// start with '/' and hold no spaces, control bytes, '?' or '#'.
func checkPath(p *problems, field, path string) {
	if !strings.HasPrefix(path, "/") {
		p.add(field, "must start with '/' (got %q)", path)
		return
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
			p.add(field, "invalid character %q at offset %d", c, i)
			return
		}
	}
}

func validateStringMatches(p *problems, field string, ms []StringMatch, validName func(string) bool) {
	for i, m := range ms {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !validName(m.Name) {
			p.add(f+".name", "invalid name %q", m.Name)
		}
		n := 0
		if m.Exact != "" {
			n++
		}
		if m.Regex != "" {
			n++
			if _, err := regexp.Compile(m.Regex); err != nil {
				p.add(f+".regex", "%v", err)
			}
		}
		if m.Present {
			n++
		}
		if n != 1 {
			p.add(f, "exactly one of exact, regex or present must be set")
		}
	}
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// IdempotentMethod reports whether a request with method m may be retried.
func IdempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
