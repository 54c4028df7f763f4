package mirror

import (
	"errors"
	"math"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// Config is the mirror config.
type Config struct {
	// Service receives the copies.
	Service string `json:"service"`
	// Percent of requests copied (0 to 100, steps of 0.01). Default 100.
	Percent *float64 `json:"percent,omitempty"`
	// QueueSize bounds the copies waiting for a worker; more are dropped
	// (and counted). Default 1000.
	QueueSize int `json:"queueSize,omitempty"`
	// Workers send the copies, each one at a time. Default 8.
	Workers int `json:"workers,omitempty"`
	// Timeout bounds one copy's exchange with the mirror target. Default 5s.
	Timeout ir.Duration `json:"timeout,omitempty"`
	// MaxBodySize is the largest request body copied, in bytes. Default 1 MiB.
	MaxBodySize int64 `json:"maxBodySize,omitempty"`
	// OversizedBody says what happens to a request with a larger body:
	// "skip" (default: no copy) or "truncate" (copy the first MaxBodySize
	// bytes).
	OversizedBody string `json:"oversizedBody,omitempty"`
	// MarkHeader is set on every copy so the target can tell copies from
	// real traffic. Default "X-Pylon-Mirror".
	MarkHeader string `json:"markHeader,omitempty"`
	// MarkValue is MarkHeader's value. Default "1".
	MarkValue string `json:"markValue,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() {
	c.QueueSize = 1000
	c.Workers = 8
	c.Timeout = ir.Duration(5e9)
	c.MaxBodySize = 1 << 20
	c.OversizedBody = "skip"
	c.MarkHeader = "X-Pylon-Mirror"
	c.MarkValue = "1"
}

// Services names the mirror target for the compile stage (plugin.ServiceUser).
func (c *Config) Services() []string { return []string{c.Service} }

var _ plugin.ServiceUser = (*Config)(nil)

// Validate reports every problem.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	if c.Service == "" {
		add("service", "must name the service that receives the copies")
	}
	if p := c.Percent; p != nil && (!(*p >= 0 && *p <= 100) || math.IsNaN(*p)) {
		add("percent", "must be a percentage 0 to 100 (got %v)", *p)
	}
	if c.QueueSize < 1 || c.QueueSize > 1_000_000 {
		add("queueSize", "must be 1 to 1000000 (got %d)", c.QueueSize)
	}
	if c.Workers < 1 || c.Workers > 1024 {
		add("workers", "must be 1 to 1024 (got %d)", c.Workers)
	}
	if c.Timeout.D() < 1e6 {
		add("timeout", "must be at least 1ms (got %s)", c.Timeout)
	}
	if c.MaxBodySize < 0 {
		add("maxBodySize", "must be >= 0 (got %d)", c.MaxBodySize)
	}
	if c.OversizedBody != "skip" && c.OversizedBody != "truncate" {
		add("oversizedBody", "must be skip or truncate (got %q)", c.OversizedBody)
	}
	if !httpguts.ValidHeaderFieldName(c.MarkHeader) {
		add("markHeader", "must be a header name (got %q)", c.MarkHeader)
	}
	for _, b := range []byte(c.MarkValue) {
		if b < ' ' && b != '\t' || b == 0x7f {
			add("markValue", "must not hold control characters")
			break
		}
	}
	return errors.Join(errs...)
}
