// Package wafbypass is the waf-bypass plugin: it asks an external WAF,
// a service of the config, about each sampled request before the request
// goes on. The WAF gets a copy of the request line, headers and a bounded
// body; a 2xx lets the request through, a block status answers the client
// with the WAF's verdict, and a WAF that times out, fails or sits behind an
// open circuit lets the request through (failure open, the default) or
// refuses it (failure closed). A WAF outage never takes the site down
// unless the config says it must.
package wafbypass

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/breaker"
	"pylon.io/pylon/internal/upstream"
)

func init() {
	plugin.Register("waf-bypass", "Asks an external WAF about each request; a 2xx passes, a block status refuses, a failed WAF fails open (or closed)", build)
}

// FailOpenNote is the access log's "waf" word for a request let through
// because the WAF could not answer.
const FailOpenNote = "waf-bypass:fail-open"

// WAFBypass is one waf-bypass instance.
type WAFBypass struct {
	service   string
	timeout   time.Duration
	closed    bool // failure: closed
	refuse    int
	block     [10]uint64 // block statuses 0..639 as a bitmap
	threshold uint64     // of 10000 requests checked
	maxBody   int
	pools     func() *upstream.Pool
	pool      atomic.Pointer[upstream.Pool]

	br    *breaker.Breaker
	set   breaker.Settings
	clock func() int64
	env   *plugin.Env

	m counters
}

var (
	_ plugin.AccessHandler = (*WAFBypass)(nil)
	_ plugin.ServiceUser   = (*WAFBypass)(nil)
)

func build(cfg *Config, env *plugin.Env) (*WAFBypass, error) {
	w := &WAFBypass{
		service:   cfg.Service,
		timeout:   cfg.Timeout.D(),
		closed:    cfg.Failure == "closed",
		refuse:    cfg.FailureStatus,
		threshold: 10000,
		maxBody:   cfg.MaxBody,
		pools:     func() *upstream.Pool { return env.Pool(cfg.Service) },
		set:       cfg.Breaker.settings(),
		clock:     breaker.Mono,
		env:       env,
		m:         newCounters(env),
	}
	for _, s := range cfg.BlockStatuses {
		w.block[s>>6] |= 1 << (s & 63)
	}
	if cfg.Percent != nil {
		w.threshold = uint64(math.Round(*cfg.Percent * 100))
	}
	if p := w.pools(); p != nil {
		w.pool.Store(p)
	}
	// One breaker per WAF service (and thresholds) for every route that
	// asks it: a WAF that is down for one route is down for all, and each
	// need not learn it again.
	key := fmt.Sprintf("waf-bypass\x00breaker\x00%s/%s\x00%+v", env.Namespace, cfg.Service, w.set)
	w.br = env.SharedState(key, func() any { return &breaker.Breaker{Name: cfg.Service} }).(*breaker.Breaker)
	return w, nil
}

// Services names the WAF (plugin.ServiceUser).
func (w *WAFBypass) Services() []string { return []string{w.service} }

func (w *WAFBypass) blocks(status int) bool {
	return status >= 0 && status < 640 && w.block[status>>6]&(1<<(status&63)) != 0
}

// Access asks the WAF about the request and waits for its answer, at most
// the timeout, or until the request no longer needs an answer.
func (w *WAFBypass) Access(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if w.threshold < 10000 && (w.threshold == 0 || rand.Uint64N(10000) >= w.threshold) {
		w.m.unchecked.Inc()
		return plugin.Continue
	}
	verdict, gen := w.br.Admit(&w.set, w.clock)
	if verdict == breaker.Reject {
		w.m.circuitOpen.Inc()
		return w.fail(c)
	}
	if verdict == breaker.HalfOpened {
		w.m.halfOpen.Inc()
	}
	probe := verdict != breaker.Pass
	p := w.pool.Load()
	if p == nil {
		if p = w.pools(); p != nil {
			w.pool.Store(p)
		}
	}
	var ep *upstream.Endpoint
	if p != nil {
		ep = p.Pick(nil, nil)
	}
	if ep == nil {
		w.m.noEndpoint.Inc()
		w.record(gen, probe, true)
		return w.fail(c)
	}
	k := getCheck()
	k.copyRequest(c)
	if w.maxBody > 0 {
		body, _, err := c.ReadBody(w.maxBody)
		if err != nil {
			k.release()
			k.release()
			if probe {
				w.br.Release(gen)
			}
			w.m.clientError.Inc()
			c.Respond(400, []byte("400 request body could not be read\n"))
			return plugin.Stop
		}
		k.body = append(k.body, body[:min(len(body), w.maxBody)]...)
	}
	go k.run(p, ep, w.timeout)
	defer k.release()

	timer := getTimer(w.timeout)
	defer putTimer(timer)
	select {
	case <-k.done:
	case <-timer.C:
		w.m.timeout.Inc()
		w.record(gen, probe, true)
		return w.fail(c)
	case <-c.Done():
		// The client went away or the gateway is stopping: the WAF's
		// answer says nothing about the WAF, and nobody may need ours.
		if probe {
			w.br.Release(gen)
		}
		w.m.canceled.Inc()
		return w.fail(c)
	}
	switch {
	case k.err != nil && isTimeout(k.err):
		// The exchange's own deadline (the same timeout) can fire just
		// before the timer: a timeout all the same.
		w.m.timeout.Inc()
		w.record(gen, probe, true)
		return w.fail(c)
	case k.err != nil:
		w.m.errored.Inc()
		w.record(gen, probe, true)
		return w.fail(c)
	case k.status >= 200 && k.status < 300:
		w.record(gen, probe, false)
		w.m.allowed.Inc()
		return plugin.Continue
	case w.blocks(k.status):
		w.record(gen, probe, false)
		w.m.blocked.Inc()
		c.Respond(k.status, k.respBody)
		if len(k.ctype) > 0 {
			c.SetResponseHeader("Content-Type", string(k.ctype))
		}
		if len(k.location) > 0 {
			c.SetResponseHeader("Location", string(k.location))
		}
		return plugin.Stop
	}
	// Neither a pass nor a verdict (a 5xx, a 404 from a wrong path): the
	// WAF is not doing its job.
	w.m.badStatus.Inc()
	w.record(gen, probe, true)
	return w.fail(c)
}

// fail applies the failure policy to a request the WAF could not judge.
func (w *WAFBypass) fail(c plugin.Ctx) plugin.Action {
	if w.closed {
		w.m.failClosed.Inc()
		c.Respond(w.refuse, refusal)
		return plugin.Stop
	}
	w.m.failOpen.Inc()
	// Seen in the access log only: nothing marks the request upstream, so
	// a client cannot learn (or fake) that the WAF was skipped.
	c.NoteSecurity(FailOpenNote)
	return plugin.Continue
}

var refusal = []byte("request refused: the WAF could not check it\n")

// record gives the breaker the outcome of a check it let through.
func (w *WAFBypass) record(gen uint64, probe, failed bool) {
	to, moved := w.br.Record(&w.set, gen, probe, failed, false, w.clock())
	if !moved {
		return
	}
	switch to {
	case breaker.Open:
		w.m.opened.Inc()
		w.env.Log.Warn("waf-bypass: circuit opened; the WAF is not asked until it closes", "service", w.service)
	case breaker.Closed:
		w.m.closedC.Inc()
		w.env.Log.Info("waf-bypass: circuit closed", "service", w.service)
	}
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
