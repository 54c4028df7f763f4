package compression

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

// Config is the compression plugin's config.
type Config struct {
	// Encodings are the codings offered, in the server's order of
	// preference (used when the client weighs several alike).
	Encodings []string `json:"encodings,omitempty"`
	// MinLength is the smallest body compressed, when Content-Length is
	// known; responses of unknown length (streams) are always compressed.
	MinLength int64 `json:"minLength,omitempty"`
	// Types are the Content-Types compressed: exact media types, or
	// patterns with one '*' ("text/*", "application/*+json").
	Types []string `json:"types,omitempty"`
	// GzipLevel is 1 (fastest) to 9 (smallest).
	GzipLevel int `json:"gzipLevel,omitempty"`
	// BrotliLevel is 0 (fastest) to 11 (smallest).
	BrotliLevel int `json:"brotliLevel,omitempty"`
	// ZstdLevel is 1 (fastest), 2 (default), 3 (better) or 4 (best).
	ZstdLevel int `json:"zstdLevel,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() {
	c.Encodings = []string{"zstd", "br", "gzip"}
	c.MinLength = 512
	c.Types = slices.Clone(defaultTypes) // decoding reuses the backing array
	c.GzipLevel = 5
	c.BrotliLevel = 4
	c.ZstdLevel = 2
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Encodings) == 0 {
		errs = append(errs, plugin.Errorf("encodings", "must name at least one of zstd, br, gzip"))
	}
	seen := map[string]bool{}
	for i, e := range c.Encodings {
		if _, ok := codingOf(e); !ok {
			errs = append(errs, plugin.Errorf(field("encodings", i), "must be zstd, br or gzip, got %q", e))
		} else if seen[e] {
			errs = append(errs, plugin.Errorf(field("encodings", i), "%q is listed twice", e))
		}
		seen[e] = true
	}
	if c.MinLength < 0 {
		errs = append(errs, plugin.Errorf("minLength", "must not be negative (got %d)", c.MinLength))
	}
	for i, t := range c.Types {
		if !validType(t) {
			errs = append(errs, plugin.Errorf(field("types", i),
				"must be a media type such as text/html or a pattern with one '*' such as text/* (got %q)", t))
		}
	}
	if c.GzipLevel < 1 || c.GzipLevel > 9 {
		errs = append(errs, plugin.Errorf("gzipLevel", "must be 1-9 (got %d)", c.GzipLevel))
	}
	if c.BrotliLevel < 0 || c.BrotliLevel > 11 {
		errs = append(errs, plugin.Errorf("brotliLevel", "must be 0-11 (got %d)", c.BrotliLevel))
	}
	if c.ZstdLevel < 1 || c.ZstdLevel > 4 {
		errs = append(errs, plugin.Errorf("zstdLevel", "must be 1-4 (got %d)", c.ZstdLevel))
	}
	return errors.Join(errs...)
}

func validType(t string) bool {
	t = strings.TrimSpace(t)
	if t == "" || strings.Count(t, "*") > 1 || strings.ContainsAny(t, " ;,\t") {
		return false
	}
	return t == "*" || strings.Contains(t, "/") || strings.HasPrefix(t, "*")
}

func field(name string, i int) string { return fmt.Sprintf("%s[%d]", name, i) }
