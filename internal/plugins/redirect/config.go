package redirect

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/rewrite"
)

// Config is the redirect plugin's config.
type Config struct {
	// Code is the redirect status: 301, 302, 303, 307 or 308.
	Code int `json:"code,omitempty"`
	// URL is a fixed absolute target; it excludes every field below.
	URL string `json:"url,omitempty"`
	// Scheme is the target's scheme, "http" or "https".
	Scheme string `json:"scheme,omitempty"`
	// Host is the target's host, without a port.
	Host string `json:"host,omitempty"`
	// Port is the target's port.
	Port int `json:"port,omitempty"`
	// Path replaces the whole path.
	Path string `json:"path,omitempty"`
	// Prefix replaces a leading part of the path.
	Prefix *rewrite.Prefix `json:"prefix,omitempty"`
	// Regex builds the path from a regular expression's captures.
	Regex *rewrite.Regex `json:"regex,omitempty"`
	// StripQuery drops the request's query from the target.
	StripQuery bool `json:"stripQuery,omitempty"`
	// OnlyPlainHTTP redirects only requests that did not arrive over TLS.
	OnlyPlainHTTP bool `json:"onlyPlainHTTP,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() { c.Code = 302 }

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if !slices.Contains([]int{301, 302, 303, 307, 308}, c.Code) {
		errs = append(errs, plugin.Errorf("code", "must be 301, 302, 303, 307 or 308 (got %d)", c.Code))
	}
	paths := 0
	if c.Path != "" {
		paths++
		if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "?# \t\r\n") {
			errs = append(errs, plugin.Errorf("path", "must start with / and hold no spaces, ? or # (got %q)", c.Path))
		}
	}
	if c.Prefix != nil {
		paths++
		errs = append(errs, c.Prefix.Check("prefix"))
	}
	if c.Regex != nil {
		paths++
		errs = append(errs, c.Regex.Check("regex"))
	}
	if paths > 1 {
		errs = append(errs, plugin.Errorf("", "path, prefix and regex exclude each other: set one"))
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(c.URL, " \t\r\n") {
			errs = append(errs, plugin.Errorf("url", "must be an absolute http or https URL (got %q)", c.URL))
		}
		if paths > 0 || c.Scheme != "" || c.Host != "" || c.Port != 0 || c.StripQuery {
			errs = append(errs, plugin.Errorf("url", "is a whole target: scheme, host, port, path, prefix, regex and stripQuery cannot be set with it"))
		}
	} else if paths == 0 && c.Scheme == "" && c.Host == "" && c.Port == 0 && !c.StripQuery {
		errs = append(errs, plugin.Errorf("", "nothing to redirect to: set url, scheme, host, port, path, prefix, regex or stripQuery"))
	}
	if c.Scheme != "" && c.Scheme != "http" && c.Scheme != "https" {
		errs = append(errs, plugin.Errorf("scheme", `must be "http" or "https" (got %q)`, c.Scheme))
	}
	if c.Host != "" && (strings.ContainsAny(c.Host, ":/?#@[] \t\r\n\\") || strings.HasPrefix(c.Host, ".")) {
		errs = append(errs, plugin.Errorf("host", "must be a host name or IPv4 address without a port (set port), got %q", c.Host))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, plugin.Errorf("port", "must be 1-65535 (got %d)", c.Port))
	}
	return errors.Join(errs...)
}
