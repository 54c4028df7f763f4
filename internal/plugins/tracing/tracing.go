// Package tracing is the tracing plugin: a route's (or host's) own
// sampling share of new traces, or tracing turned off for it. Tracing
// itself, its exporter and its default share are the telemetry config's.
package tracing

import (
	"errors"
	"math"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("tracing", "Sets the share of a route's requests that are traced, or turns tracing off for it", build)
}

// Config is the tracing plugin's config.
type Config struct {
	// SampleRatio is the share (0-1) of the route's new traces that are
	// sampled. A request whose parent decided follows its parent, unless
	// the telemetry config's parentBased is false.
	SampleRatio *float64 `json:"sampleRatio,omitempty"`
	// Disabled makes the route's requests untraced: no spans, and their
	// trace headers go upstream as the client sent them.
	Disabled bool `json:"disabled,omitempty"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.SampleRatio == nil && !c.Disabled:
		errs = append(errs, plugin.Errorf("sampleRatio", "required unless disabled is true"))
	case c.SampleRatio != nil && c.Disabled:
		errs = append(errs, plugin.Errorf("disabled", "true together with sampleRatio: choose one"))
	case c.SampleRatio != nil && (math.IsNaN(*c.SampleRatio) || *c.SampleRatio < 0 || *c.SampleRatio > 1):
		errs = append(errs, plugin.Errorf("sampleRatio", "must be between 0 and 1 (got %v)", *c.SampleRatio))
	}
	return errors.Join(errs...)
}

// Sampling is one tracing plugin instance.
type Sampling struct {
	ratio float64
	off   bool
}

var _ plugin.RequestHandler = (*Sampling)(nil)

func build(cfg *Config, _ *plugin.Env) (*Sampling, error) {
	s := &Sampling{off: cfg.Disabled}
	if cfg.SampleRatio != nil {
		s.ratio = *cfg.SampleRatio
	}
	return s, nil
}

// Request sets the request's sampling before any other plugin runs.
func (s *Sampling) Request(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	c.SetTraceSampling(s.ratio, s.off)
	return plugin.Continue
}
