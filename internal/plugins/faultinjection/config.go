package faultinjection

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
)

// maxDelay bounds an injected delay: the delay holds the request's
// goroutine, so it must not be able to hold it for ever.
const maxDelay = time.Minute

// Config is the fault-injection config.
type Config struct {
	Delay *Delay `json:"delay,omitempty"`
	Abort *Abort `json:"abort,omitempty"`
	// Headers limits the faults to requests whose headers all match.
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// Delay holds matching requests for Duration before they go on.
type Delay struct {
	Duration ir.Duration `json:"duration"`
	// Percent of matching requests delayed; default 100.
	Percent *float64 `json:"percent,omitempty"`
}

// Abort answers matching requests with Status and Body instead of
// forwarding them.
type Abort struct {
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
	// Percent of matching requests aborted; default 100.
	Percent *float64 `json:"percent,omitempty"`
}

// HeaderMatch matches a request header by Name: an Exact value, a Regex
// (RE2, whole value), or, with neither, its presence.
type HeaderMatch struct {
	Name  string `json:"name"`
	Exact string `json:"exact,omitempty"`
	Regex string `json:"regex,omitempty"`

	re *regexp.Regexp
}

// Validate checks the config and compiles the header regexes for build.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, plugin.Errorf(field, format, args...)) }
	if c.Delay == nil && c.Abort == nil {
		add("", "must set delay, abort or both")
	}
	if d := c.Delay; d != nil {
		if d.Duration <= 0 || d.Duration.D() > maxDelay {
			add("delay.duration", "must be more than 0 and at most %s (got %s)", maxDelay, d.Duration)
		}
		checkPercent(add, "delay.percent", d.Percent)
	}
	if a := c.Abort; a != nil {
		if a.Status < 200 || a.Status > 599 {
			add("abort.status", "must be 200 to 599 (got %d)", a.Status)
		}
		checkPercent(add, "abort.percent", a.Percent)
	}
	for i := range c.Headers {
		h := &c.Headers[i]
		f := fmt.Sprintf("headers[%d]", i)
		if h.Name == "" {
			add(f+".name", "must not be empty")
		}
		if h.Exact != "" && h.Regex != "" {
			add(f, "set exact or regex, not both")
		}
		if h.Regex != "" {
			re, err := regexp.Compile("^(?:" + h.Regex + ")$")
			if err != nil {
				add(f+".regex", "invalid regular expression: %v", err)
			}
			h.re = re
		}
	}
	return errors.Join(errs...)
}

func checkPercent(add func(string, string, ...any), field string, p *float64) {
	if p != nil && (!(*p >= 0 && *p <= 100) || math.IsNaN(*p)) {
		add(field, "must be a percentage 0 to 100 (got %v)", *p)
	}
}

// threshold turns a percentage into a bound for rand.Uint64N(10000).
func threshold(p *float64) uint64 {
	if p == nil {
		return 10000
	}
	return uint64(math.Round(*p * 100))
}
