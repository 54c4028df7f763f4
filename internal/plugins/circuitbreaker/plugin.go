// Package circuitbreaker is the circuit-breaker plugin: per service, it stops
// sending requests to a service whose recent requests mostly failed (or were
// slow), answers with a fallback while open, and lets a few probes through
// after the open time to see whether the service has recovered.
package circuitbreaker

import (
	"sync"
	"sync/atomic"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugins/internal/breaker"
)

func init() {
	plugin.Register("circuit-breaker", "Stops sending to a failing service; closed / open / half-open per service", build)
}

// Breaker is one circuit-breaker instance: settings plus the per-service
// breakers it has met, each taken from the state store on first use.
type Breaker struct {
	env      *plugin.Env
	set      breaker.Settings
	statuses statusSet
	failures uint8
	status   int
	body     []byte
	headers  [][2]string
	clock    func() int64

	byService sync.Map // service name → *breaker
	mu        sync.Mutex
	closed    atomic.Bool

	opened, halfOpened, closedC, rejected *plugin.Counter
}

var (
	_ plugin.UpstreamHandler = (*Breaker)(nil)
	_ plugin.LogHandler      = (*Breaker)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Breaker, error) {
	statuses, err := parseStatuses(cfg.FailureStatuses)
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		env: env,
		set: breaker.Settings{
			FailureRatio: cfg.FailureRatio, SlowRatio: cfg.SlowCallRatio,
			Window: int64(cfg.Window), MinRequests: int64(cfg.MinRequests),
			OpenFor: int64(cfg.OpenFor), Probes: uint64(cfg.HalfOpenRequests),
		},
		statuses:   statuses,
		status:     cfg.Fallback.Status,
		body:       []byte(cfg.Fallback.Body),
		clock:      breaker.Mono,
		opened:     env.Counter("opened"),
		halfOpened: env.Counter("half-open"),
		closedC:    env.Counter("closed"),
		rejected:   env.Counter("rejected"),
	}
	if cfg.SlowCallRatio > 0 {
		b.set.SlowAfter = int64(cfg.SlowCallDuration)
	}
	for _, f := range cfg.Failures {
		b.failures |= failureBit(f)
	}
	for _, h := range cfg.Fallback.Headers {
		b.headers = append(b.headers, [2]string{h.Name, h.Value})
	}
	env.OnClose(func() { b.closed.Store(true) })
	return b, nil
}

// forService returns the service's breaker, from the state store the first
// time, so it outlives this instance when the next config keeps it.
func (b *Breaker) forService(service string) *breaker.Breaker {
	if v, ok := b.byService.Load(service); ok {
		return v.(*breaker.Breaker)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.byService.Load(service); ok {
		return v.(*breaker.Breaker)
	}
	var br *breaker.Breaker
	if b.closed.Load() {
		// A request still running on a dropped instance: a throwaway
		// breaker, since taking state now would never be released.
		br = &breaker.Breaker{Name: service}
	} else {
		br = b.env.State("service\x00"+service, func() any { return &breaker.Breaker{Name: service} }).(*breaker.Breaker)
	}
	b.byService.Store(service, br)
	return br
}

// Slot.N kinds, under the generation in the higher bits.
const (
	slotPass  = 1
	slotProbe = 2
)

// Upstream lets the request through to its service, or answers with the
// fallback while the service's breaker is open.
func (b *Breaker) Upstream(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	service := c.Service()
	if service == "" {
		return plugin.Continue
	}
	br := b.forService(service)
	v, gen := br.Admit(&b.set, b.clock)
	switch v {
	case breaker.Reject:
		b.rejected.Inc()
		c.Respond(b.status, b.body)
		for _, h := range b.headers {
			c.SetResponseHeader(h[0], h[1])
		}
		return plugin.Stop
	case breaker.Pass:
		s.N = int64(gen<<2 | slotPass)
	case breaker.HalfOpened:
		b.halfOpened.Inc()
		s.N = int64(gen<<2 | slotProbe)
	default:
		s.N = int64(gen<<2 | slotProbe)
	}
	s.P = br
	return plugin.Continue
}

// Log records the outcome of a request the breaker let through.
func (b *Breaker) Log(c plugin.Ctx, s *plugin.Slot, o *plugin.Outcome) {
	br, ok := s.P.(*breaker.Breaker)
	if !ok {
		return
	}
	gen, wasProbe := uint64(s.N)>>2, s.N&3 == slotProbe
	if o.UpstreamStatus == 0 && o.Failure == "" {
		// No answer and no upstream failure (the client went away first):
		// nothing learnt about the service.
		if wasProbe {
			br.Release(gen)
		}
		return
	}
	failed := false
	if o.Failure != "" {
		failed = b.failures&failureBit(o.Failure) != 0
	} else {
		failed = b.statuses.has(o.UpstreamStatus)
	}
	slow := b.set.SlowAfter > 0 && int64(o.Duration) > b.set.SlowAfter
	to, moved := br.Record(&b.set, gen, wasProbe, failed, slow, b.clock())
	if !moved {
		return
	}
	switch to {
	case breaker.Open:
		b.opened.Inc()
		b.env.Log.Warn("circuit-breaker: opened", "service", br.Name)
	case breaker.Closed:
		b.closedC.Inc()
		b.env.Log.Info("circuit-breaker: closed", "service", br.Name)
	}
}
