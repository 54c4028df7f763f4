package customerrors

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// Config is the custom-errors plugin's config.
type Config struct {
	// Statuses are the response statuses replaced by the error service's
	// page (400-599).
	Statuses []int `json:"statuses"`
	// Service answers for them: it gets a GET for the original URI with
	// X-Code, X-Format, X-Original-URI and X-Request-ID set.
	Service string `json:"service"`
	// Headers are added to the request to Service (ingress-nginx sends
	// X-Namespace, X-Ingress-Name, X-Service-Name and X-Service-Port).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds the request to Service (default 5s); when it fails,
	// the original response goes out unchanged.
	Timeout ir.Duration `json:"timeout,omitempty"`
}

// Services names the error service for the compile stage.
func (c *Config) Services() []string { return []string{c.Service} }

var _ plugin.ServiceUser = (*Config)(nil)

// Validate checks the config, naming each wrong field.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	if len(c.Statuses) == 0 {
		add("statuses", "must list at least one status")
	}
	for i, s := range c.Statuses {
		if s < 400 || s > 599 {
			add(fmt.Sprintf("statuses[%d]", i), "must be 400-599 (got %d)", s)
		}
	}
	if c.Service == "" {
		add("service", "required")
	}
	for name, v := range c.Headers {
		if http.CanonicalHeaderKey(name) == "" || strings.ContainsAny(name, " :\r\n") {
			add("headers", "%q is not a header name", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			add("headers."+name, "must not contain line breaks")
		}
	}
	if c.Timeout < 0 || c.Timeout.D() > time.Minute {
		add("timeout", "must be between 0 and 1m (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}
