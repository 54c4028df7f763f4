// Package cors is the cors plugin: it answers CORS preflight requests
// itself and adds the CORS headers to actual responses for allowed origins.
package cors

import (
	"regexp"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("cors", "Answers CORS preflights and adds CORS headers for allowed origins", build)
}

// CORS is one cors instance.
type CORS struct {
	anyOrigin   bool
	origins     []origin
	regexes     []*regexp.Regexp
	methods     string // "" echoes the request's
	headers     string // "" echoes the request's
	expose      string
	credentials bool
	maxAge      string
	preflights  *plugin.Counter
	refused     *plugin.Counter
}

var (
	_ plugin.RequestHandler  = (*CORS)(nil)
	_ plugin.ResponseHandler = (*CORS)(nil)
)

func build(cfg *Config, env *plugin.Env) (*CORS, error) {
	p := &CORS{credentials: cfg.AllowCredentials, expose: strings.Join(cfg.ExposeHeaders, ", ")}
	for _, s := range cfg.AllowOrigins {
		o, err := parseOrigin(s)
		if err != nil {
			return nil, err
		}
		p.anyOrigin = p.anyOrigin || o.any
		p.origins = append(p.origins, o)
	}
	for _, s := range cfg.AllowOriginRegexes {
		re, err := regexp.Compile("^(?:" + s + ")$")
		if err != nil {
			return nil, err
		}
		p.regexes = append(p.regexes, re)
	}
	if !contains(cfg.AllowMethods, "*") {
		p.methods = strings.Join(cfg.AllowMethods, ", ")
	}
	if !contains(cfg.AllowHeaders, "*") {
		p.headers = strings.Join(cfg.AllowHeaders, ", ")
	}
	if s := int64(cfg.MaxAge.D().Seconds()); s > 0 {
		p.maxAge = strconv.FormatInt(s, 10)
	}
	if env != nil {
		p.preflights, p.refused = env.Counter("preflight"), env.Counter("refused")
	}
	return p, nil
}

// Slot.N values.
const (
	slotNone    = iota
	slotAllowed // an actual request from an allowed origin
)

// Request answers preflights (OPTIONS with Origin and
// Access-Control-Request-Method) with 204. It runs before authentication
// and limits: browsers send preflights without credentials, and they must
// not spend the client's quota.
func (p *CORS) Request(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	s.N = slotNone
	orig, ok := c.Header("Origin")
	if !ok {
		return plugin.Continue
	}
	allowed := p.allowed(orig)
	reqMethod, preflight := c.Header("Access-Control-Request-Method")
	if !preflight || string(c.Method()) != "OPTIONS" {
		if allowed {
			s.N = slotAllowed
		} else if p.refused != nil {
			p.refused.Inc()
		}
		return plugin.Continue
	}
	if p.preflights != nil {
		p.preflights.Inc()
	}
	c.Respond(204, nil)
	c.AddResponseHeader("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !allowed {
		// No CORS headers: the browser refuses the real request.
		if p.refused != nil {
			p.refused.Inc()
		}
		return plugin.Stop
	}
	p.allowOrigin(c, orig)
	if p.methods != "" {
		c.SetResponseHeader("Access-Control-Allow-Methods", p.methods)
	} else {
		c.SetResponseHeader("Access-Control-Allow-Methods", string(reqMethod))
	}
	if h, ok := c.Header("Access-Control-Request-Headers"); ok || p.headers != "" {
		if p.headers != "" {
			c.SetResponseHeader("Access-Control-Allow-Headers", p.headers)
		} else if len(h) > 0 {
			c.SetResponseHeader("Access-Control-Allow-Headers", string(h))
		}
	}
	if p.maxAge != "" {
		c.SetResponseHeader("Access-Control-Max-Age", p.maxAge)
	}
	return plugin.Stop
}

// Response adds the CORS headers to an actual response for an allowed
// origin, and Vary: Origin whenever the answer depends on the origin.
func (p *CORS) Response(c plugin.Ctx, s *plugin.Slot) {
	if c.Responded() && string(c.Method()) == "OPTIONS" {
		if _, pre := c.Header("Access-Control-Request-Method"); pre {
			return // our own preflight answer
		}
	}
	if !p.anyOrigin || p.credentials {
		c.AddResponseHeader("Vary", "Origin")
	}
	if s.N != slotAllowed {
		return
	}
	orig, _ := c.Header("Origin")
	p.allowOrigin(c, orig)
	if p.expose != "" {
		c.SetResponseHeader("Access-Control-Expose-Headers", p.expose)
	}
}

func (p *CORS) allowOrigin(c plugin.Ctx, orig []byte) {
	if p.anyOrigin && !p.credentials {
		c.SetResponseHeader("Access-Control-Allow-Origin", "*")
		return
	}
	// With credentials a browser refuses "*": the origin is echoed.
	c.SetResponseHeader("Access-Control-Allow-Origin", string(orig))
	if p.credentials {
		c.SetResponseHeader("Access-Control-Allow-Credentials", "true")
	}
}

// allowed reports whether the Origin header value is allowed.
func (p *CORS) allowed(o []byte) bool {
	if p.anyOrigin {
		return true
	}
	for i := range p.origins {
		r := &p.origins[i]
		if r.wildcard {
			if len(o) > len(r.prefix)+len(r.suffix) && equalFold(o[:len(r.prefix)], r.prefix) &&
				equalFold(o[len(o)-len(r.suffix):], r.suffix) && hostChars(o[len(r.prefix):len(o)-len(r.suffix)]) {
				return true
			}
		} else if equalFold(o, r.exact) {
			return true
		}
	}
	for _, re := range p.regexes {
		if re.Match(o) {
			return true
		}
	}
	return false
}

// hostChars reports whether b can be the subdomain labels a wildcard
// stands for.
func hostChars(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return len(b) > 0 && b[0] != '.' && b[len(b)-1] != '.'
}

// equalFold compares b with the lower-case s, ignoring b's ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
