// Package breaker is the circuit-breaker state machine shared by the
// plugins that guard a service: the circuit-breaker plugin (around a
// route's upstream) and waf-bypass (around its WAF service). A breaker is
// closed, open or half-open; the request path takes no lock.
package breaker

import (
	"sync/atomic"
	"time"
)

// Breaker states.
const (
	Closed uint64 = iota
	Open
	HalfOpen
)

// MaxProbes bounds Settings.Probes so the probe counts fit their bits.
const MaxProbes = 1000

// epoch anchors the monotonic clock breakers measure with.
var epoch = time.Now()

// Mono is the monotonic clock, in nanoseconds, that Admit and Record take.
func Mono() int64 { return int64(time.Since(epoch)) }

// Settings are the parsed thresholds a breaker works with; durations are
// nanoseconds.
type Settings struct {
	// FailureRatio opens the breaker when this share of a window's
	// outcomes failed.
	FailureRatio float64
	// SlowRatio opens it when this share was slow; 0 turns it off.
	SlowRatio float64
	// SlowAfter is how long a call may take before it is slow; 0 counts
	// no call as slow.
	SlowAfter int64
	// Window is the fixed window the ratios are taken over.
	Window int64
	// MinRequests is how many outcomes a window needs before its ratios
	// can open the breaker.
	MinRequests int64
	// OpenFor is how long the breaker stays open before probes.
	OpenFor int64
	// Probes is how many probes the half-open breaker lets through; all
	// must succeed to close it.
	Probes uint64
}

// word packs a breaker's state, generation and half-open probe counts into
// one uint64, so every transition is a single compare-and-swap and no two
// requests can both move the breaker on:
//
//	bits 0-1   state
//	bits 2-17  probes let through (half-open)
//	bits 18-33 probes that succeeded (half-open)
//	bits 34-63 generation, bumped by every transition
type word uint64

func (w word) state() uint64  { return uint64(w) & 3 }
func (w word) issued() uint64 { return uint64(w) >> 2 & 0xffff }
func (w word) passed() uint64 { return uint64(w) >> 18 & 0xffff }
func (w word) gen() uint64    { return uint64(w) >> 34 }

func makeWord(gen, state, issued, passed uint64) word {
	return word(gen<<34 | passed<<18 | issued<<2 | state)
}

// Breaker is one guarded service's state; its zero value is closed. The
// request path takes no lock: it loads one word, and in the closed state
// adds to the window's counters. Plugins keep it in their state store, so
// config changes elsewhere leave it as it is.
//
// A request remembers the generation it was let through in, and its
// outcome is ignored once the breaker has moved on (a slow request from
// before the breaker opened must not count towards closing it).
type Breaker struct {
	// Name is the guarded service's, for the plugins' logs.
	Name     string
	w        atomic.Uint64
	openedAt atomic.Int64 // mono ns when the breaker last opened

	// The fixed window: epoch is the window's index (now / window); the
	// first outcome of a new window resets the counts. Outcomes racing
	// with that reset may be lost, which a ratio over a window tolerates.
	epoch atomic.Int64
	total atomic.Int64
	fails atomic.Int64
	slow  atomic.Int64
}

func (b *Breaker) load() word { return word(b.w.Load()) }

func (b *Breaker) cas(old, new word) bool { return b.w.CompareAndSwap(uint64(old), uint64(new)) }

// Verdict is what Admit decided.
type Verdict uint8

// Verdicts.
const (
	Reject     Verdict = iota // open: the call must not be made
	Pass                      // closed: a normal call
	Probe                     // half-open: a probe
	HalfOpened                // the open time ran out: the breaker is half-open now, and this is its first probe
)

// Admit decides whether a request may go to the service, and returns the
// generation to record its outcome under.
func (b *Breaker) Admit(s *Settings, clock func() int64) (Verdict, uint64) {
	for {
		w := b.load()
		switch w.state() {
		case Closed:
			return Pass, w.gen()
		case Open:
			now := clock()
			if now-b.openedAt.Load() < s.OpenFor {
				return Reject, w.gen()
			}
			if b.startProbes(w, now) {
				return HalfOpened, w.gen() + 1
			}
		default: // half-open
			if w.issued() >= s.Probes {
				// Probes whose outcome never came (the request was cut
				// short) must not keep the breaker half-open for ever: after
				// another open time, a new round of probes starts.
				now := clock()
				if now-b.openedAt.Load() < s.OpenFor {
					return Reject, w.gen()
				}
				if b.startProbes(w, now) {
					return HalfOpened, w.gen() + 1
				}
				continue
			}
			if b.cas(w, makeWord(w.gen(), HalfOpen, w.issued()+1, w.passed())) {
				return Probe, w.gen()
			}
		}
	}
}

// startProbes moves the breaker from w to a new half-open round whose first
// probe is the caller's.
func (b *Breaker) startProbes(w word, now int64) bool {
	// openedAt goes first so no request reads the previous round's time
	// (see trip); a loser of the race rewrites it with about the same time.
	b.openedAt.Store(now)
	return b.cas(w, makeWord(w.gen()+1, HalfOpen, 1, 0))
}

// Release gives back the slot of a probe whose outcome says nothing about
// the service (the client went away before an answer came).
func (b *Breaker) Release(gen uint64) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != HalfOpen || w.issued() == 0 {
			return
		}
		if b.cas(w, makeWord(gen, HalfOpen, w.issued()-1, w.passed())) {
			return
		}
	}
}

// Record takes the outcome of a request admitted in generation gen, as a
// normal request or a probe. It returns the state it moved the breaker to,
// or ok false when it caused no transition.
func (b *Breaker) Record(s *Settings, gen uint64, wasProbe, failed, slow bool, now int64) (to uint64, ok bool) {
	if wasProbe {
		return b.recordProbe(s, gen, failed || slow, now)
	}
	if w := b.load(); w.gen() != gen || w.state() != Closed {
		return 0, false
	}
	epoch := now / s.Window
	if e := b.epoch.Load(); e != epoch && b.epoch.CompareAndSwap(e, epoch) {
		b.total.Store(0)
		b.fails.Store(0)
		b.slow.Store(0)
	}
	total := b.total.Add(1)
	fails, slows := b.fails.Load(), b.slow.Load()
	if failed {
		fails = b.fails.Add(1)
	}
	if slow {
		slows = b.slow.Add(1)
	}
	// Only a failure or a slow call can raise a ratio; others need no check.
	if (!failed && !slow) || total < s.MinRequests {
		return 0, false
	}
	if float64(fails) >= s.FailureRatio*float64(total) ||
		(s.SlowRatio > 0 && float64(slows) >= s.SlowRatio*float64(total)) {
		return b.trip(gen, Closed, now)
	}
	return 0, false
}

func (b *Breaker) recordProbe(s *Settings, gen uint64, bad bool, now int64) (uint64, bool) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != HalfOpen {
			return 0, false
		}
		if bad {
			return b.trip(gen, HalfOpen, now)
		}
		if w.passed()+1 < s.Probes {
			if b.cas(w, makeWord(gen, HalfOpen, w.issued(), w.passed()+1)) {
				return 0, false
			}
			continue
		}
		// Every probe succeeded: close with a fresh window.
		b.epoch.Store(now / s.Window)
		b.total.Store(0)
		b.fails.Store(0)
		b.slow.Store(0)
		if b.cas(w, makeWord(gen+1, Closed, 0, 0)) {
			return Closed, true
		}
	}
}

// trip opens the breaker if it is still in generation gen and state from.
func (b *Breaker) trip(gen, from uint64, now int64) (uint64, bool) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != from {
			return 0, false
		}
		// openedAt goes first: a request seeing the open state must not read
		// the time of an earlier opening and let probes through at once.
		b.openedAt.Store(now)
		if b.cas(w, makeWord(gen+1, Open, 0, 0)) {
			return Open, true
		}
	}
}
