// Package rewrite is the rewrite plugin: it changes the path, query and
// Host of the request sent upstream — a fixed path, a prefix replaced, or
// a regular expression's captures, as ingress-nginx's rewrite-target.
package rewrite

import (
	"regexp"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("rewrite", "Rewrites the path (fixed, prefix or regex), query and Host sent upstream", build)
}

// Rewriter is one rewrite instance.
type Rewriter struct {
	path          string
	prefix        *Prefix
	re            *regexp.Regexp
	tmpl          []byte
	host          string
	stripQuery    bool
	addQuery      string
	queryChanging bool
}

var _ plugin.AccessHandler = (*Rewriter)(nil)

func build(cfg *Config, _ *plugin.Env) (*Rewriter, error) {
	r := &Rewriter{path: cfg.Path, prefix: cfg.Prefix, host: cfg.Host, stripQuery: cfg.StripQuery, addQuery: cfg.AddQuery}
	if cfg.Regex != nil {
		re, err := regexp.Compile(cfg.Regex.Pattern)
		if err != nil {
			return nil, err
		}
		r.re, r.tmpl = re, []byte(cfg.Regex.Replacement)
	}
	r.queryChanging = r.stripQuery || r.addQuery != ""
	return r, nil
}

// Access rewrites the request. It runs in the access phase, after
// authentication and limits (see the ordering table): those see the path
// the client sent; the upstream gets the rewritten one.
func (r *Rewriter) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	query, queryFromPath := "", false
	switch {
	case r.path != "":
		c.SetPath(r.path)
	case r.prefix != nil:
		if p, ok := ReplacePrefix(c.Path(), r.prefix.Match, r.prefix.Replacement); ok {
			c.SetPath(p)
		}
	case r.re != nil:
		path := c.Path()
		if m := r.re.FindSubmatchIndex(path); m != nil {
			var buf [256]byte
			out := string(r.re.Expand(buf[:0], r.tmpl, path, m))
			// As nginx's rewrite: a '?' in the result starts new query
			// arguments, followed by the client's.
			if i := strings.IndexByte(out, '?'); i >= 0 {
				out, query, queryFromPath = out[:i], out[i+1:], true
			}
			if !strings.HasPrefix(out, "/") {
				out = "/" + out
			}
			c.SetPath(out)
		}
	}
	if r.host != "" {
		c.SetUpstreamHost(r.host)
	}
	if r.queryChanging || queryFromPath {
		c.SetQuery(r.query(c.RawQuery(), query))
	}
	return plugin.Continue
}

// query joins the rewritten query's parts: arguments from a regex
// replacement, the client's (unless stripped), then addQuery.
func (r *Rewriter) query(orig []byte, fromPath string) string {
	parts := make([]string, 0, 3)
	if fromPath != "" {
		parts = append(parts, fromPath)
	}
	if !r.stripQuery && len(orig) > 0 {
		parts = append(parts, string(orig))
	}
	if r.addQuery != "" {
		parts = append(parts, r.addQuery)
	}
	return strings.Join(parts, "&")
}

// ReplacePrefix replaces match at the start of path with repl, as a plain
// string prefix (the way routes match prefixes), keeping one '/' at the
// seam: "/api" → "/" turns "/api/users" into "/users" and "/api" into "/".
func ReplacePrefix(path []byte, match, repl string) (string, bool) {
	if len(path) < len(match) || string(path[:len(match)]) != match {
		return "", false
	}
	rest := path[len(match):]
	if strings.HasSuffix(repl, "/") && len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
	}
	out := repl + string(rest)
	if !strings.HasPrefix(out, "/") {
		out = "/" + out
	}
	return out, true
}
