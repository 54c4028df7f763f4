// Package redirect is the redirect plugin: it answers requests with a
// redirect to another scheme, host, port or path (ssl-redirect,
// permanent-redirect, a moved prefix), without reaching an upstream.
package redirect

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/rewrite"
)

func init() {
	plugin.Register("redirect", "Answers with a redirect (scheme, host, port, path, code)", build)
}

// Redirector is one redirect instance.
type Redirector struct {
	cfg  Config
	re   *regexp.Regexp
	tmpl []byte
	port string
}

var _ plugin.RequestHandler = (*Redirector)(nil)

func build(cfg *Config, _ *plugin.Env) (*Redirector, error) {
	r := &Redirector{cfg: *cfg}
	if cfg.Regex != nil {
		re, err := regexp.Compile(cfg.Regex.Pattern)
		if err != nil {
			return nil, err
		}
		r.re, r.tmpl = re, []byte(cfg.Regex.Replacement)
	}
	if cfg.Port != 0 {
		r.port = strconv.Itoa(cfg.Port)
	}
	return r, nil
}

// Request answers with the redirect. It runs in the request phase, before
// authentication and limits: a request that is only sent elsewhere needs
// no credentials and spends no quota.
func (r *Redirector) Request(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if r.cfg.OnlyPlainHTTP && c.TLS() {
		return plugin.Continue
	}
	c.Respond(r.cfg.Code, nil)
	c.SetResponseHeader("Location", r.Location(c))
	return plugin.Stop
}

// Location builds the redirect target for the request.
func (r *Redirector) Location(c plugin.Ctx) string {
	if r.cfg.URL != "" {
		return r.cfg.URL
	}
	scheme := "http"
	if c.TLS() {
		scheme = "https"
	}
	reqHost, reqPort := splitHost(string(c.Host()))
	host, port := reqHost, reqPort
	if r.cfg.Scheme != "" && r.cfg.Scheme != scheme {
		port = "" // a new scheme means its default port
	}
	if r.cfg.Scheme != "" {
		scheme = r.cfg.Scheme
	}
	if r.cfg.Host != "" {
		host, port = r.cfg.Host, ""
	}
	if r.port != "" {
		port = r.port
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	u := url.URL{Scheme: scheme, Host: host}
	if port != "" {
		u.Host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	path, query := string(c.Path()), ""
	switch {
	case r.cfg.Path != "":
		path = r.cfg.Path
	case r.cfg.Prefix != nil:
		if p, ok := rewrite.ReplacePrefix(c.Path(), r.cfg.Prefix.Match, r.cfg.Prefix.Replacement); ok {
			path = p
		}
	case r.re != nil:
		if m := r.re.FindSubmatchIndex(c.Path()); m != nil {
			path = string(r.re.Expand(nil, r.tmpl, c.Path(), m))
			if i := strings.IndexByte(path, '?'); i >= 0 {
				path, query = path[:i], path[i+1:]
			}
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
		}
	}
	u.Path = path
	if q := c.RawQuery(); len(q) > 0 && !r.cfg.StripQuery {
		if query != "" {
			query += "&"
		}
		query += string(q)
	}
	u.RawQuery = query
	return u.String()
}

// splitHost splits a Host header into host and port ("" if none), keeping
// an IPv6 literal's brackets.
func splitHost(h string) (host, port string) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.HasSuffix(h, "]") {
		return h, ""
	}
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		return h[:i], h[i+1:]
	}
	return h, "" // a bare IPv6 address (not valid in Host, kept as is)
}
