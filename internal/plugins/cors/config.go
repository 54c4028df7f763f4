package cors

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// Config is the cors plugin's config.
type Config struct {
	// AllowOrigins are the origins allowed: "*", exact origins
	// ("https://app.example.com"), or one '*' standing for subdomains
	// ("https://*.example.com").
	AllowOrigins []string `json:"allowOrigins,omitempty"`
	// AllowOriginRegexes are RE2 patterns an origin must match as a whole.
	AllowOriginRegexes []string `json:"allowOriginRegexes,omitempty"`
	// AllowMethods answer Access-Control-Allow-Methods; ["*"] echoes the
	// method asked for.
	AllowMethods []string `json:"allowMethods,omitempty"`
	// AllowHeaders answer Access-Control-Allow-Headers; ["*"] echoes the
	// headers asked for.
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// ExposeHeaders are the response headers scripts may read.
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// AllowCredentials lets requests with cookies or HTTP auth through.
	AllowCredentials bool `json:"allowCredentials,omitempty"`
	// MaxAge is how long browsers may cache a preflight answer.
	MaxAge ir.Duration `json:"maxAge,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() {
	c.AllowMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	c.AllowHeaders = []string{"*"}
	c.MaxAge = ir.Duration(24 * time.Hour)
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if len(c.AllowOrigins) == 0 && len(c.AllowOriginRegexes) == 0 {
		errs = append(errs, plugin.Errorf("allowOrigins", `must list at least one origin ("*" for any), unless allowOriginRegexes does`))
	}
	for i, o := range c.AllowOrigins {
		if _, err := parseOrigin(o); err != nil {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("allowOrigins[%d]", i), "%v", err))
		}
	}
	for i, re := range c.AllowOriginRegexes {
		if _, err := regexp.Compile(re); err != nil {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("allowOriginRegexes[%d]", i), "must be an RE2 regular expression: %v",
				strings.TrimPrefix(err.Error(), "error parsing regexp: ")))
		}
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"allowMethods", c.AllowMethods}, {"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}} {
		for i, v := range l.list {
			if !validToken(v) && v != "*" {
				errs = append(errs, plugin.Errorf(fmt.Sprintf("%s[%d]", l.field, i), "must be a token such as GET or X-Request-Id, or *; got %q", v))
			}
		}
	}
	if len(c.AllowMethods) == 0 {
		errs = append(errs, plugin.Errorf("allowMethods", "must list at least one method"))
	}
	if c.MaxAge < 0 {
		errs = append(errs, plugin.Errorf("maxAge", "must not be negative"))
	}
	return errors.Join(errs...)
}

func validToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}*`, r)
	})
}

// origin is one allowOrigins entry: any, exact, or prefix*suffix.
type origin struct {
	any            bool
	exact          string
	prefix, suffix string
	wildcard       bool
}

// parseOrigin reads an allowOrigins entry.
func parseOrigin(s string) (origin, error) {
	if s == "*" {
		return origin{any: true}, nil
	}
	if s == "null" {
		return origin{exact: s}, nil // sandboxed frames and file: pages send it
	}
	// Browsers never send a path, but "https://app.example.com/" is a
	// common way to write an origin: take it as meant.
	if strings.Count(s, "/") == 3 && strings.HasSuffix(s, "/") {
		s = strings.TrimSuffix(s, "/")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(rest, "/?# \t") || strings.ContainsAny(scheme, "*:/") {
		return origin{}, fmt.Errorf(`must be "*", "null" or an origin such as https://app.example.com or https://*.example.com (scheme://host[:port], no path), got %q`, s)
	}
	s = strings.ToLower(s)
	switch strings.Count(rest, "*") {
	case 0:
		return origin{exact: s}, nil
	case 1:
		if !strings.HasPrefix(rest, "*.") {
			return origin{}, fmt.Errorf(`a wildcard must be the first label ("https://*.example.com"), got %q`, s)
		}
		i := strings.IndexByte(s, '*')
		return origin{wildcard: true, prefix: s[:i], suffix: s[i+1:]}, nil
	}
	return origin{}, fmt.Errorf("must hold at most one '*', got %q", s)
}
