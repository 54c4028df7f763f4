package ir

import (
	"fmt"
	"strings"
)

// ValidateHost checks a route host: a DNS name, optionally starting with
// "*." for a wildcard over every name below it. No ports, no IP literals
// with brackets, no trailing dot.
func ValidateHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if len(h) > 253 {
		return fmt.Errorf("host longer than 253 characters")
	}
	name := h
	if strings.HasPrefix(h, "*.") {
		name = h[2:]
	}
	if name == "" {
		return fmt.Errorf("invalid host %q", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host %q: empty or over-long label", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid host %q: character %q not allowed", h, c)
			}
		}
	}
	return nil
}

// NormalizeHost lowercases a route host.
func NormalizeHost(h string) string { return strings.ToLower(h) }
