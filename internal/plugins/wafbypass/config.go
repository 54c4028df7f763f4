package wafbypass

import (
	"errors"
	"fmt"
	"math"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/breaker"
)

// maxTimeout bounds the wait for the WAF: the request's goroutine waits
// that long, and a WAF that needs more than this is down as far as the
// site is concerned.
const maxTimeout = 10 * time.Second

// maxBodyLimit bounds maxBody: every checked request may hold this much in
// memory while the WAF answers.
const maxBodyLimit = 16 << 20

// Config is the waf-bypass config.
type Config struct {
	// Service is the external WAF, a service of the config.
	Service string `json:"service"`
	// Timeout bounds the wait for the WAF's answer. Default 200ms.
	Timeout ir.Duration `json:"timeout,omitempty"`
	// Failure says what a timeout, an error or an open circuit does:
	// "open" (default: the request goes on) or "closed" (it is refused).
	Failure string `json:"failure,omitempty"`
	// FailureStatus answers a request refused with failure closed.
	// Default 403.
	FailureStatus int `json:"failureStatus,omitempty"`
	// BlockStatuses are the WAF's statuses that block the request; the
	// client gets the WAF's answer. Default [403].
	BlockStatuses []int `json:"blockStatuses,omitempty"`
	// Percent of requests checked (0 to 100, steps of 0.01). Default 100.
	Percent *float64 `json:"percent,omitempty"`
	// MaxBody is the most request body bytes sent to the WAF. Default 64 KiB.
	MaxBody int `json:"maxBody"`
	// Breaker is the circuit breaker around the WAF service.
	Breaker Breaker `json:"breaker,omitzero"`
}

// Breaker configures the circuit breaker around the WAF.
type Breaker struct {
	FailureRatio     float64     `json:"failureRatio,omitempty"`
	MinRequests      int         `json:"minRequests,omitempty"`
	Window           ir.Duration `json:"window,omitempty"`
	OpenFor          ir.Duration `json:"openFor,omitempty"`
	HalfOpenRequests int         `json:"halfOpenRequests,omitempty"`
}

// Default fills the defaults before the user's fields are decoded.
func (c *Config) Default() {
	c.Timeout = ir.Duration(200 * time.Millisecond)
	c.Failure = "open"
	c.FailureStatus = 403
	c.BlockStatuses = []int{403}
	c.MaxBody = 64 << 10
	c.Breaker = Breaker{FailureRatio: 0.5, MinRequests: 10, Window: ir.Duration(10 * time.Second),
		OpenFor: ir.Duration(5 * time.Second), HalfOpenRequests: 1}
}

// Services names the WAF for the compile stage (plugin.ServiceUser), which
// checks it exists.
func (c *Config) Services() []string { return []string{c.Service} }

var _ plugin.ServiceUser = (*Config)(nil)

// Validate reports every problem.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	if c.Service == "" {
		add("service", "must name the WAF service")
	}
	if c.Timeout.D() < time.Millisecond || c.Timeout.D() > maxTimeout {
		add("timeout", "must be 1ms to %s (got %s)", maxTimeout, c.Timeout)
	}
	if c.Failure != "open" && c.Failure != "closed" {
		add("failure", "must be open or closed (got %q)", c.Failure)
	}
	if c.FailureStatus < 400 || c.FailureStatus > 599 {
		add("failureStatus", "must be 400 to 599 (got %d)", c.FailureStatus)
	}
	if len(c.BlockStatuses) == 0 {
		add("blockStatuses", "must list at least one status")
	}
	for i, s := range c.BlockStatuses {
		if s < 300 || s > 599 {
			add(fmt.Sprintf("blockStatuses[%d]", i), "must be 300 to 599: a 2xx lets the request through (got %d)", s)
		}
	}
	if p := c.Percent; p != nil && (!(*p >= 0 && *p <= 100) || math.IsNaN(*p)) {
		add("percent", "must be a percentage 0 to 100 (got %v)", *p)
	}
	if c.MaxBody < 0 || c.MaxBody > maxBodyLimit {
		add("maxBody", "must be 0 to %d bytes (got %d)", maxBodyLimit, c.MaxBody)
	}
	b := &c.Breaker
	if !(b.FailureRatio > 0 && b.FailureRatio <= 1) {
		add("breaker.failureRatio", "must be > 0 and <= 1 (got %v)", b.FailureRatio)
	}
	if b.MinRequests < 1 {
		add("breaker.minRequests", "must be >= 1 (got %d)", b.MinRequests)
	}
	if b.Window.D() < time.Millisecond {
		add("breaker.window", "must be at least 1ms (got %s)", b.Window)
	}
	if b.OpenFor.D() < time.Millisecond {
		add("breaker.openFor", "must be at least 1ms (got %s)", b.OpenFor)
	}
	if b.HalfOpenRequests < 1 || b.HalfOpenRequests > breaker.MaxProbes {
		add("breaker.halfOpenRequests", "must be 1 to %d (got %d)", breaker.MaxProbes, b.HalfOpenRequests)
	}
	return errors.Join(errs...)
}

// settings returns the breaker's thresholds.
func (b *Breaker) settings() breaker.Settings {
	return breaker.Settings{FailureRatio: b.FailureRatio, Window: int64(b.Window), MinRequests: int64(b.MinRequests),
		OpenFor: int64(b.OpenFor), Probes: uint64(b.HalfOpenRequests)}
}
