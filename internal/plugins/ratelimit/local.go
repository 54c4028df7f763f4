package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/plugin"
)

// decision is one request's verdict and what the RateLimit headers say.
type decision struct {
	ok        bool
	limit     string // RateLimit-Limit, preformatted
	remaining int64
	reset     int64 // ns until the quota is whole again
	retry     int64 // ns until a refused request could pass
}

// params is a node's share of the limit. Cluster mode replaces it when the
// number of live nodes changes; requests read it through an atomic pointer.
type params struct {
	limit    int64 // requests per window, or the bucket's capacity
	emission int64 // token bucket: ns per token
	limitStr string
}

// divide returns the per-node params for n live nodes: the rate and the
// burst are split evenly, each node keeping at least one request.
func divide(rate, burst int64, period time.Duration, n int) *params {
	n = max(n, 1)
	p := &params{
		limit:    max(1, int64(math.Round(float64(burst)/float64(n)))),
		emission: max(1, int64(math.Round(float64(period)*float64(n)/float64(rate)))),
	}
	p.limitStr = itoa(p.limit)
	return p
}

// counter is one key's local state: a token bucket's theoretical arrival
// time (GCRA), or a fixed window's number (high 32 bits) and count (low 32
// bits). One word, so a request updates it with a compare-and-swap and
// never locks.
type counter struct{ v atomic.Int64 }

// bucket admits a request under the generic cell rate algorithm: a token
// bucket kept as the time at which it will be full again.
func (p *params) bucket(e *counter, now int64) decision {
	tol := p.limit * p.emission
	for {
		tat := e.v.Load()
		next := max(tat, now) + p.emission
		if next-now > tol {
			return decision{limit: p.limitStr, reset: max(0, tat-now), retry: next - now - tol}
		}
		if e.v.CompareAndSwap(tat, next) {
			return decision{ok: true, limit: p.limitStr, remaining: (tol - (next - now)) / p.emission, reset: next - now}
		}
	}
}

// window admits a request in the fixed window now falls in.
func (p *params) window(e *counter, now, period int64) decision {
	w := now / period
	tag := uint64(uint32(w)) << 32
	end := (w+1)*period - now
	for {
		v := uint64(e.v.Load())
		var n int64
		if v&^0xffffffff == tag {
			n = int64(uint32(v))
		}
		if n >= p.limit {
			return decision{limit: p.limitStr, reset: end, retry: end}
		}
		if e.v.CompareAndSwap(int64(v), int64(tag|uint64(n+1))) {
			return decision{ok: true, limit: p.limitStr, remaining: p.limit - n - 1, reset: end}
		}
	}
}

// localState is a local or cluster-divided limit's state: it lives in the
// plugin's state store, so a config change elsewhere never resets it.
type localState struct {
	window bool
	period int64
	p      atomic.Pointer[params]
	keys   *table[counter]
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newLocalState(cfg *Config, members plugin.Membership) *localState {
	s := &localState{window: cfg.algorithm() == FixedWindow, period: int64(cfg.period()), stop: make(chan struct{})}
	burst := cfg.burst()
	if s.window {
		burst = cfg.Rate
	}
	if cfg.Mode != ModeCluster {
		members = nil
	}
	n := live(members)
	s.p.Store(divide(cfg.Rate, burst, cfg.period(), n))
	s.keys = newTable(cfg.maxKeys(), func(string) *counter { return new(counter) }, s.expiry)
	s.wg.Go(func() { sweepLoop(s.keys, s.stop, &nowFunc) })
	if members != nil {
		s.wg.Go(func() {
			watchMembers(members, n, s.stop, func(n int) { s.p.Store(divide(cfg.Rate, burst, cfg.period(), n)) })
		})
	}
	return s
}

func (s *localState) expiry(e *counter, now int64) int64 {
	v := e.v.Load()
	if !s.window {
		return v // the bucket is full at its theoretical arrival time
	}
	w := now / s.period
	if uint32(uint64(v)>>32) == uint32(w) && v != 0 {
		return (w + 1) * s.period
	}
	return 0
}

func (s *localState) allow(key []byte, now int64) decision {
	e := s.keys.get(key, now)
	p := s.p.Load()
	if s.window {
		return p.window(e, now, s.period)
	}
	return p.bucket(e, now)
}

// Close stops the state's goroutines.
func (s *localState) Close() error {
	close(s.stop)
	s.wg.Wait()
	return nil
}

// live returns the number of live nodes (1 without a membership).
func live(m plugin.Membership) int {
	if m == nil {
		return 1
	}
	return max(1, m.Live())
}

// membersPoll bounds how long a missed change signal can go unnoticed:
// Changed may have other readers, and a poll of Live costs nothing.
const membersPoll = time.Second

// watchMembers calls set with the number of live nodes whenever it differs
// from last (the number the caller divided by), until stop closes.
func watchMembers(m plugin.Membership, last int, stop <-chan struct{}, set func(n int)) {
	t := time.NewTicker(membersPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-m.Changed():
		case <-t.C:
		}
		if n := live(m); n != last {
			last = n
			set(n)
		}
	}
}

// sweepInterval is how often idle keys are dropped.
const sweepInterval = 10 * time.Second

func sweepLoop[E any](t *table[E], stop <-chan struct{}, clock *func() int64) {
	tk := time.NewTicker(sweepInterval)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			t.sweep((*clock)())
		}
	}
}
