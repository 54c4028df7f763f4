package rewrite

import (
	"errors"
	"regexp"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

// Config is the rewrite plugin's config.
type Config struct {
	// Path replaces the whole path.
	Path string `json:"path,omitempty"`
	// Prefix replaces a leading part of the path.
	Prefix *Prefix `json:"prefix,omitempty"`
	// Regex builds the path from a regular expression's captures.
	Regex *Regex `json:"regex,omitempty"`
	// Host is the Host header sent upstream.
	Host string `json:"host,omitempty"`
	// StripQuery drops the query the client sent.
	StripQuery bool `json:"stripQuery,omitempty"`
	// AddQuery is appended to the query ("a=1&b=2").
	AddQuery string `json:"addQuery,omitempty"`
}

// Prefix replaces Match at the start of the path with Replacement.
type Prefix struct {
	Match       string `json:"match"`
	Replacement string `json:"replacement"`
}

// Regex replaces the path, when Pattern matches it, with Replacement
// expanded ($1, ${1}, ${name}).
type Regex struct {
	Pattern     string `json:"pattern"`
	Replacement string `json:"replacement"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	n := 0
	if c.Path != "" {
		n++
		if !validPath(c.Path) {
			errs = append(errs, plugin.Errorf("path", "must start with / and hold no spaces, control characters, ? or # (got %q)", c.Path))
		}
	}
	if c.Prefix != nil {
		n++
		errs = append(errs, c.Prefix.Check("prefix"))
	}
	if c.Regex != nil {
		n++
		errs = append(errs, c.Regex.Check("regex"))
	}
	if n > 1 {
		errs = append(errs, plugin.Errorf("", "path, prefix and regex exclude each other: set one"))
	}
	if c.Host != "" && !validHost(c.Host) {
		errs = append(errs, plugin.Errorf("host", "must be a host name or address, optionally with a port (got %q)", c.Host))
	}
	if strings.ContainsFunc(c.AddQuery, badChar) || strings.Contains(c.AddQuery, "#") || strings.HasPrefix(c.AddQuery, "?") {
		errs = append(errs, plugin.Errorf("addQuery", "must be a query string without '?' and without spaces, control characters or # (got %q)", c.AddQuery))
	}
	if n == 0 && c.Host == "" && !c.StripQuery && c.AddQuery == "" {
		errs = append(errs, plugin.Errorf("", "nothing to rewrite: set path, prefix, regex, host, stripQuery or addQuery"))
	}
	return errors.Join(errs...)
}

// Check validates p; field names it in errors.
func (p *Prefix) Check(field string) error {
	var errs []error
	if !validPath(p.Match) {
		errs = append(errs, plugin.Errorf(field+".match", "must start with / and hold no spaces, control characters, ? or # (got %q)", p.Match))
	}
	if p.Replacement != "" && !validPath(p.Replacement) {
		errs = append(errs, plugin.Errorf(field+".replacement", "must be empty or start with / and hold no spaces, control characters, ? or # (got %q)", p.Replacement))
	}
	return errors.Join(errs...)
}

// Check validates r; field names it in errors.
func (r *Regex) Check(field string) error {
	var errs []error
	if re, err := regexp.Compile(r.Pattern); err != nil || r.Pattern == "" {
		errs = append(errs, plugin.Errorf(field+".pattern", "must be an RE2 regular expression: %v", errOrEmpty(err)))
	} else if err := CheckTemplate(re, r.Replacement); err != nil {
		errs = append(errs, plugin.Errorf(field+".replacement", "%v", err))
	}
	if strings.ContainsFunc(r.Replacement, badChar) || strings.Contains(r.Replacement, "#") {
		errs = append(errs, plugin.Errorf(field+".replacement", "must hold no spaces, control characters or # (got %q)", r.Replacement))
	}
	return errors.Join(errs...)
}

func errOrEmpty(err error) string {
	if err == nil {
		return "empty"
	}
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// CheckTemplate checks a regex replacement for the pattern re: it must not
// be empty nor refer to groups the pattern does not have (regexp.Expand
// would silently make them empty). The redirect plugin shares it.
func CheckTemplate(re *regexp.Regexp, tmpl string) error {
	if tmpl == "" {
		return errors.New("must not be empty")
	}
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '$' || i+1 == len(tmpl) {
			continue
		}
		i++
		if tmpl[i] == '$' {
			continue
		}
		var name string
		if tmpl[i] == '{' {
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return errors.New("an unclosed ${")
			}
			name, i = tmpl[i+1:i+end], i+end
		} else {
			j := i
			for j < len(tmpl) && (isDigit(tmpl[j]) || isLetter(tmpl[j]) || tmpl[j] == '_') {
				j++
			}
			name, i = tmpl[i:j], j-1
		}
		if !groupExists(re, name) {
			return errors.New("refers to $" + name + ", which the pattern does not capture (write ${1} to separate a group from text after it)")
		}
	}
	return nil
}

func groupExists(re *regexp.Regexp, name string) bool {
	if name == "" {
		return false
	}
	if n, ok := atoi(name); ok {
		return n <= re.NumSubexp()
	}
	return re.SubexpIndex(name) >= 0
}

func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func badChar(r rune) bool { return r <= ' ' || r == 0x7f }

func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsFunc(p, badChar) && !strings.ContainsAny(p, "?#")
}

func validHost(h string) bool {
	return !strings.ContainsFunc(h, badChar) && !strings.ContainsAny(h, "/?#@\\") && h != ""
}
