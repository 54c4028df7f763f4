package trafficsplit

import (
	"errors"
	"fmt"
	"math"
	"regexp"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/plugin"
)

// Config is the traffic-split config.
type Config struct {
	// Rules are tried in order; the first that matches sends the request
	// to its service. A request no rule matches goes to the route's backends.
	Rules []Rule `json:"rules"`
	// DefaultTag, if set, tags the requests no rule matched.
	DefaultTag *Tag `json:"defaultTag,omitempty"`
	// Hash is the hash for stable percentages: "xxhash" (default) or "fnv"
	// (FNV-1a, 64 bits). Every node computes the same sides.
	Hash string `json:"hash,omitempty"`
}

// Rule sends matching requests to Service. A rule matches when all its
// conditions hold: Header, Cookie and the percentage (Weight).
type Rule struct {
	Service string      `json:"service"`
	Header  *ValueMatch `json:"header,omitempty"`
	Cookie  *ValueMatch `json:"cookie,omitempty"`
	// Weight is the percentage (0 to 100, in steps of 0.01) of the requests
	// reaching this rule that it takes: at random, or stable per user when
	// HashOn is set.
	Weight *float64 `json:"weight,omitempty"`
	HashOn *HashOn  `json:"hashOn,omitempty"`
	Tag    *Tag     `json:"tag,omitempty"`
}

// ValueMatch matches a header or cookie by name: an Exact value, a Regex
// (RE2, whole value), or, with neither, its presence.
type ValueMatch struct {
	Name  string `json:"name"`
	Exact string `json:"exact,omitempty"`
	Regex string `json:"regex,omitempty"`

	re *regexp.Regexp
}

// HashOn makes a rule's Weight stable: the side is chosen from a hash of a
// header's or a cookie's value, so one user always lands on the same side.
type HashOn struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
	// Salt is hashed with the value, so rules (and canaries) with the same
	// percentage pick different users. Default: the rule's service name.
	Salt string `json:"salt,omitempty"`
	// Missing says what a request without the header or cookie gets:
	// "weight" (default: the rule's weight at random) or "skip" (the rule
	// does not match; later rules or the route's backends decide).
	Missing string `json:"missing,omitempty"`
}

// Tag is a request header set on the requests a rule takes, so that the
// gray decision travels with the request to the next services (whose
// routes match on the header).
type Tag struct {
	// Header defaults to "x-pylon-tag".
	Header string `json:"header,omitempty"`
	Value  string `json:"value"`
}

// Services lists the services the rules send to, for the compile stage
// (plugin.ServiceUser).
func (c *Config) Services() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range c.Rules {
		if r.Service != "" && !seen[r.Service] {
			seen[r.Service] = true
			out = append(out, r.Service)
		}
	}
	return out
}

var _ plugin.ServiceUser = (*Config)(nil)

// Validate checks every rule and reports all problems. It also compiles
// the regular expressions for build.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	if len(c.Rules) == 0 {
		add("rules", "must list at least one rule")
	}
	switch c.Hash {
	case "", "xxhash", "fnv":
	default:
		add("hash", "must be xxhash or fnv (got %q)", c.Hash)
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		f := fmt.Sprintf("rules[%d]", i)
		if r.Service == "" {
			add(f+".service", "must name a service")
		}
		if r.Header == nil && r.Cookie == nil && r.Weight == nil {
			add(f, "must set at least one of header, cookie and weight")
		}
		errs = append(errs, r.Header.check(f+".header", true), r.Cookie.check(f+".cookie", false))
		if w := r.Weight; w != nil && (!(*w >= 0 && *w <= 100) || math.IsNaN(*w)) {
			add(f+".weight", "must be a percentage 0 to 100 (got %v)", *w)
		}
		if h := r.HashOn; h != nil {
			if r.Weight == nil {
				add(f+".hashOn", "needs weight: the percentage to take")
			}
			if (h.Header == "") == (h.Cookie == "") {
				add(f+".hashOn", "must set exactly one of header and cookie")
			}
			if h.Header != "" && !httpguts.ValidHeaderFieldName(h.Header) {
				add(f+".hashOn.header", "must be a header name (got %q)", h.Header)
			}
			if h.Missing != "" && h.Missing != "weight" && h.Missing != "skip" {
				add(f+".hashOn.missing", "must be weight or skip (got %q)", h.Missing)
			}
		}
		errs = append(errs, r.Tag.check(f+".tag"))
	}
	errs = append(errs, c.DefaultTag.check("defaultTag"))
	return errors.Join(errs...)
}

func (m *ValueMatch) check(field string, header bool) error {
	if m == nil {
		return nil
	}
	var errs []error
	if m.Name == "" || (header && !httpguts.ValidHeaderFieldName(m.Name)) {
		errs = append(errs, plugin.Errorf(field+".name", "must be a %s name (got %q)", map[bool]string{true: "header", false: "cookie"}[header], m.Name))
	}
	if m.Exact != "" && m.Regex != "" {
		errs = append(errs, plugin.Errorf(field, "set exact or regex, not both"))
	}
	if m.Regex != "" {
		re, err := regexp.Compile("^(?:" + m.Regex + ")$")
		if err != nil {
			errs = append(errs, plugin.Errorf(field+".regex", "invalid regular expression: %v", err))
		}
		m.re = re
	}
	return errors.Join(errs...)
}

func (t *Tag) check(field string) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.Header == "" {
		t.Header = "x-pylon-tag"
	}
	if !httpguts.ValidHeaderFieldName(t.Header) {
		errs = append(errs, plugin.Errorf(field+".header", "must be a header name (got %q)", t.Header))
	}
	if t.Value == "" {
		errs = append(errs, plugin.Errorf(field+".value", "must not be empty"))
	}
	for _, b := range []byte(t.Value) {
		if b < ' ' && b != '\t' || b == 0x7f {
			errs = append(errs, plugin.Errorf(field+".value", "must not hold control characters"))
			break
		}
	}
	return errors.Join(errs...)
}
