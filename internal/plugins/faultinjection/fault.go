// Package faultinjection is the fault-injection plugin: for testing how
// clients and services cope, it delays or aborts a share of requests,
// optionally only those carrying a header.
package faultinjection

import (
	"math/rand/v2"
	"time"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("fault-injection", "Injects delays and aborts into a share of requests, for testing", build)
}

// Faults is one fault-injection instance; read-only after build.
type Faults struct {
	headers []HeaderMatch

	delay          time.Duration
	delayThreshold uint64 // of 10000; 0 = no delay
	abortStatus    int
	abortBody      []byte
	abortThreshold uint64 // of 10000; 0 = no abort

	delayed, aborted *plugin.Counter
}

var _ plugin.AccessHandler = (*Faults)(nil)

func build(cfg *Config, env *plugin.Env) (*Faults, error) {
	f := &Faults{headers: cfg.Headers, delayed: env.Counter("delayed"), aborted: env.Counter("aborted")}
	if d := cfg.Delay; d != nil {
		f.delay, f.delayThreshold = d.Duration.D(), threshold(d.Percent)
	}
	if a := cfg.Abort; a != nil {
		f.abortStatus, f.abortBody, f.abortThreshold = a.Status, []byte(a.Body), threshold(a.Percent)
	}
	return f, nil
}

// Access delays and then maybe aborts the request. It runs after access
// control, so only requests that would reach an upstream get faults.
//
// A delay ends early when the request no longer needs an answer (an
// HTTP/2 client went away, or the gateway is shutting down): the request
// is then answered 499, nginx's "client closed request", and goes no
// further.
func (f *Faults) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if !f.matches(c) {
		return plugin.Continue
	}
	if f.delayThreshold > 0 && roll(f.delayThreshold) {
		f.delayed.Inc()
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-c.Done():
			t.Stop()
			c.Respond(499, []byte("499 client closed request\n"))
			return plugin.Stop
		}
	}
	if f.abortThreshold > 0 && roll(f.abortThreshold) {
		f.aborted.Inc()
		c.Respond(f.abortStatus, f.abortBody)
		return plugin.Stop
	}
	return plugin.Continue
}

func roll(threshold uint64) bool {
	return threshold >= 10000 || rand.Uint64N(10000) < threshold
}

func (f *Faults) matches(c plugin.Ctx) bool {
	for i := range f.headers {
		h := &f.headers[i]
		v, ok := c.Header(h.Name)
		switch {
		case !ok:
			return false
		case h.re != nil:
			if !h.re.Match(v) {
				return false
			}
		case h.Exact != "":
			if string(v) != h.Exact {
				return false
			}
		}
	}
	return true
}
