// Package requestsize is the request-size plugin: it refuses request bodies
// larger than a limit with 413, per route or host, below the listener's own
// body limit.
package requestsize

import (
	"errors"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("request-size", "Refuses request bodies over a size limit (413)", build)
}

// Config is the request-size plugin's config.
type Config struct {
	// MaxBytes is the largest body admitted; 0 means no limit.
	MaxBytes int64 `json:"maxBytes"`
	// Message is the body of the 413 answer.
	Message string `json:"message,omitempty"`
}

// Default fills the defaults.
func (c *Config) Default() { c.Message = "413 request body too large\n" }

// Validate checks the config.
func (c *Config) Validate() error {
	if c.MaxBytes < 0 {
		return errors.Join(plugin.Errorf("maxBytes", "must not be negative (got %d)", c.MaxBytes))
	}
	return nil
}

// Limit is one request-size instance.
type Limit struct {
	max     int64
	message []byte
	refused *plugin.Counter
}

var _ plugin.RequestHandler = (*Limit)(nil)

func build(cfg *Config, env *plugin.Env) (*Limit, error) {
	l := &Limit{max: cfg.MaxBytes, message: []byte(cfg.Message)}
	if env != nil {
		l.refused = env.Counter("refused")
	}
	return l, nil
}

// Request refuses a body over the limit: by its declared Content-Length,
// or, when the length was not declared (chunked), by the body the engine
// buffered. A streamed body of unknown length (HTTP/2 without
// Content-Length) is bounded as it arrives: the proxy cuts it off past the
// limit and answers 413.
func (l *Limit) Request(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if l.max == 0 {
		return plugin.Continue
	}
	n := c.ContentLength()
	if n < 0 {
		b, ok := c.Body()
		if !ok {
			c.LimitBody(l.max, l.message, l.refused)
			return plugin.Continue
		}
		n = int64(len(b))
	}
	if n <= l.max {
		return plugin.Continue
	}
	if l.refused != nil {
		l.refused.Inc()
	}
	c.Respond(413, l.message)
	return plugin.Stop
}
