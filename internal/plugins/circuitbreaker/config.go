package circuitbreaker

import (
	"errors"
	"fmt"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/breaker"
)

// Config is the circuit-breaker's config.
type Config struct {
	// FailureRatio opens the breaker when this share of a window's requests
	// failed (0 < r <= 1). Default 0.5.
	FailureRatio float64 `json:"failureRatio,omitempty"`
	// SlowCallRatio opens the breaker when this share of a window's requests
	// took longer than SlowCallDuration. 0 (the default) turns it off.
	SlowCallRatio float64 `json:"slowCallRatio,omitempty"`
	// SlowCallDuration is how long a request may take before it counts as slow.
	SlowCallDuration ir.Duration `json:"slowCallDuration,omitempty"`
	// Window is the fixed window the ratios are taken over. Default 10s.
	Window ir.Duration `json:"window,omitempty"`
	// MinRequests is how many requests a window needs before its ratios can
	// open the breaker. Default 20.
	MinRequests int `json:"minRequests,omitempty"`
	// OpenFor is how long the breaker stays open before it lets probes
	// through. Default 30s.
	OpenFor ir.Duration `json:"openFor,omitempty"`
	// HalfOpenRequests is how many probes the half-open breaker lets
	// through; all must succeed to close it. Default 3.
	HalfOpenRequests int `json:"halfOpenRequests,omitempty"`
	// FailureStatuses are the upstream statuses that count as failures:
	// exact codes ("502") or classes ("5xx"). Default ["5xx"].
	FailureStatuses []string `json:"failureStatuses,omitempty"`
	// Failures are the transport failures that count: "connect", "timeout",
	// "reset", "no-endpoint". Default all four.
	Failures []string `json:"failures,omitempty"`
	// Fallback is the answer while the breaker is open.
	Fallback Fallback `json:"fallback,omitzero"`
}

// Fallback is the response sent instead of forwarding while open.
type Fallback struct {
	// Status defaults to 503.
	Status int `json:"status,omitempty"`
	// Body defaults to "503 service unavailable (circuit open)\n".
	Body    string      `json:"body,omitempty"`
	Headers []ir.Header `json:"headers,omitempty"`
}

var knownFailures = []string{"connect", "timeout", "reset", "no-endpoint"}

// Default fills the defaults before the user's fields are decoded.
func (c *Config) Default() {
	c.FailureRatio = 0.5
	c.Window = ir.Duration(10e9)
	c.MinRequests = 20
	c.OpenFor = ir.Duration(30e9)
	c.HalfOpenRequests = 3
	c.FailureStatuses = []string{"5xx"}
	c.Failures = append([]string(nil), knownFailures...)
	c.Fallback.Status = 503
	c.Fallback.Body = "503 service unavailable (circuit open)\n"
}

// Validate checks every field and reports all problems.
func (c *Config) Validate() error {
	var errs []error
	if !(c.FailureRatio > 0 && c.FailureRatio <= 1) {
		errs = append(errs, plugin.Errorf("failureRatio", "must be > 0 and <= 1 (got %v)", c.FailureRatio))
	}
	if !(c.SlowCallRatio >= 0 && c.SlowCallRatio <= 1) {
		errs = append(errs, plugin.Errorf("slowCallRatio", "must be 0 (off) to 1 (got %v)", c.SlowCallRatio))
	}
	if c.SlowCallRatio > 0 && c.SlowCallDuration <= 0 {
		errs = append(errs, plugin.Errorf("slowCallDuration", "must be set when slowCallRatio is"))
	}
	if c.Window.D() < 1e6 {
		errs = append(errs, plugin.Errorf("window", "must be at least 1ms (got %s)", c.Window))
	}
	if c.MinRequests < 1 {
		errs = append(errs, plugin.Errorf("minRequests", "must be >= 1 (got %d)", c.MinRequests))
	}
	if c.OpenFor.D() < 1e6 {
		errs = append(errs, plugin.Errorf("openFor", "must be at least 1ms (got %s)", c.OpenFor))
	}
	if c.HalfOpenRequests < 1 || c.HalfOpenRequests > breaker.MaxProbes {
		errs = append(errs, plugin.Errorf("halfOpenRequests", "must be 1 to %d (got %d)", breaker.MaxProbes, c.HalfOpenRequests))
	}
	for i, s := range c.FailureStatuses {
		if _, err := parseStatus(s); err != nil {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("failureStatuses[%d]", i), "%v", err))
		}
	}
	for i, f := range c.Failures {
		if failureBit(f) == 0 {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("failures[%d]", i), "must be one of connect, timeout, reset, no-endpoint (got %q)", f))
		}
	}
	if c.Fallback.Status < 200 || c.Fallback.Status > 599 {
		errs = append(errs, plugin.Errorf("fallback.status", "must be 200 to 599 (got %d)", c.Fallback.Status))
	}
	for i, h := range c.Fallback.Headers {
		if h.Name == "" {
			errs = append(errs, plugin.Errorf(fmt.Sprintf("fallback.headers[%d].name", i), "must not be empty"))
		}
	}
	return errors.Join(errs...)
}
