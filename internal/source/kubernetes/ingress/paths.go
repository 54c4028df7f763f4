package ingress

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
)

// match is one IR path match a Kubernetes path becomes.
type match struct {
	suffix string // added to the route name
	path   *ir.PathMatch
	rank   int
}

// Ranks inside one Ingress: an Exact path beats the exact half of a Prefix
// path; any rule path beats the default backend.
const (
	rankExact   = 0
	rankPath    = 1
	rankDefault = 2
)

// regexMode reports whether ImplementationSpecific and Prefix paths are
// regular expressions: use-regex, or rewrite-target (which implies it in
// ingress-nginx).
func (t *translator) regexMode() bool {
	return t.cfg.UseRegex || t.cfg.RewriteTarget != ""
}

// matches converts one Ingress path into IR path matches with the exact
// Kubernetes semantics. field names the path for errors.
func (t *translator) matches(p *networkingv1.HTTPIngressPath, field string) []match {
	pt := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pt = *p.PathType
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	switch {
	case pt == networkingv1.PathTypeExact:
		return []match{{"", &ir.PathMatch{Exact: path}, rankExact}}
	case t.regexMode() && (pt == networkingv1.PathTypePrefix || pt == networkingv1.PathTypeImplementationSpecific):
		// ingress-nginx's regex locations are case-insensitive and
		// anchored at the start only; IR regexes match the whole path.
		re := "(?i)(?:" + path + ").*"
		if _, err := regexp.Compile(re); err != nil {
			t.fail("%s: invalid regular expression %q: %v", field, path, err)
			return nil
		}
		return []match{{"", &ir.PathMatch{Regex: re}, rankPath}}
	case pt == networkingv1.PathTypePrefix:
		// Path-element prefix: /foo matches /foo and /foo/bar, not /foobar;
		// a trailing slash changes nothing.
		trimmed := strings.TrimRight(path, "/")
		if trimmed == "" {
			return []match{{"", &ir.PathMatch{Prefix: "/"}, rankPath}}
		}
		return []match{
			{"-exact", &ir.PathMatch{Exact: trimmed}, rankPath},
			{"", &ir.PathMatch{Prefix: trimmed + "/"}, rankPath},
		}
	case pt == networkingv1.PathTypeImplementationSpecific:
		// As in ingress-nginx: an nginx prefix location, a plain string prefix.
		return []match{{"", &ir.PathMatch{Prefix: path}, rankPath}}
	}
	t.fail("%s: unknown pathType %q", field, pt)
	return nil
}

// ConflictKey is what a route competes for: its host and its whole match.
// Two routes from different Ingresses with the same key cannot both serve;
// the caller keeps the oldest Ingress's.
func ConflictKey(r *ir.Route) string {
	var b strings.Builder
	if len(r.Hosts) == 0 {
		b.WriteString("*")
	}
	for i, h := range r.Hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ToLower(h))
	}
	pm := r.PathOrDefault()
	switch {
	case pm.Exact != "":
		b.WriteString(" exact:" + pm.Exact)
	case pm.Regex != "":
		b.WriteString(" regex:" + pm.Regex)
	default:
		b.WriteString(" prefix:" + pm.Prefix)
	}
	if r.Priority != 0 {
		b.WriteString(" priority:" + strconv.Itoa(int(r.Priority)))
	}
	if len(r.Match.Methods) > 0 {
		m := slices.Clone(r.Match.Methods)
		slices.Sort(m)
		b.WriteString(" methods:" + strings.Join(m, ","))
	}
	for _, set := range []struct {
		what string
		ms   []ir.StringMatch
	}{{"header", r.Match.Headers}, {"query", r.Match.Query}} {
		parts := make([]string, len(set.ms))
		for i, m := range set.ms {
			parts[i] = fmt.Sprintf(" %s:%s=%q/%q/%t", set.what, strings.ToLower(m.Name), m.Exact, m.Regex, m.Present)
		}
		slices.Sort(parts)
		b.WriteString(strings.Join(parts, ""))
	}
	return b.String()
}
