package circuitbreaker

import (
	"sync/atomic"
)

// Breaker states.
const (
	closed uint64 = iota
	open
	halfOpen
)

// maxProbes bounds halfOpenRequests so the probe counts fit their bits.
const maxProbes = 1000

// settings are the parsed thresholds a breaker works with.
type settings struct {
	failureRatio, slowRatio float64
	slowAfter               int64 // nanoseconds; 0 = slow calls not counted
	window                  int64
	minRequests             int64
	openFor                 int64
	probes                  uint64
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

// breaker is one service's state. The request path takes no lock: it
// loads one word, and in the closed state adds to the window's counters.
// It lives in the plugin's state store, keyed by instance and service, so
// config changes elsewhere leave it as it is.
//
// A request remembers the generation it was let through in, and its
// outcome is ignored once the breaker has moved on (a slow request from
// before the breaker opened must not count towards closing it).
type breaker struct {
	service  string
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

func (b *breaker) load() word { return word(b.w.Load()) }

func (b *breaker) cas(old, new word) bool { return b.w.CompareAndSwap(uint64(old), uint64(new)) }

// verdict is what admit decided.
type verdict uint8

const (
	reject     verdict = iota
	pass               // closed: a normal request
	probe              // half-open: a probe
	halfOpened         // the open time ran out: the breaker is half-open now, and this is its first probe
)

// admit decides whether a request may go to the service, and returns the
// generation to record its outcome under.
func (b *breaker) admit(s *settings, clock func() int64) (verdict, uint64) {
	for {
		w := b.load()
		switch w.state() {
		case closed:
			return pass, w.gen()
		case open:
			now := clock()
			if now-b.openedAt.Load() < s.openFor {
				return reject, w.gen()
			}
			if b.halfOpen(w, now) {
				return halfOpened, w.gen() + 1
			}
		default: // half-open
			if w.issued() >= s.probes {
				// Probes whose outcome never came (the request was cut
				// short) must not keep the breaker half-open for ever: after
				// another open time, a new round of probes starts.
				now := clock()
				if now-b.openedAt.Load() < s.openFor {
					return reject, w.gen()
				}
				if b.halfOpen(w, now) {
					return halfOpened, w.gen() + 1
				}
				continue
			}
			if b.cas(w, makeWord(w.gen(), halfOpen, w.issued()+1, w.passed())) {
				return probe, w.gen()
			}
		}
	}
}

// halfOpen moves the breaker from w to a new half-open round whose first
// probe is the caller's.
func (b *breaker) halfOpen(w word, now int64) bool {
	// openedAt goes first so no request reads the previous round's time
	// (see trip); a loser of the race rewrites it with about the same time.
	b.openedAt.Store(now)
	return b.cas(w, makeWord(w.gen()+1, halfOpen, 1, 0))
}

// release gives back the slot of a probe whose outcome says nothing about
// the service (the client went away before an answer came).
func (b *breaker) release(gen uint64) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != halfOpen || w.issued() == 0 {
			return
		}
		if b.cas(w, makeWord(gen, halfOpen, w.issued()-1, w.passed())) {
			return
		}
	}
}

// record takes the outcome of a request admitted in generation gen, as a
// normal request or a probe. It returns the state it moved the breaker to,
// or ok false when it caused no transition.
func (b *breaker) record(s *settings, gen uint64, wasProbe, failed, slow bool, now int64) (to uint64, ok bool) {
	if wasProbe {
		return b.recordProbe(s, gen, failed || slow, now)
	}
	if w := b.load(); w.gen() != gen || w.state() != closed {
		return 0, false
	}
	epoch := now / s.window
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
	if (!failed && !slow) || total < s.minRequests {
		return 0, false
	}
	if float64(fails) >= s.failureRatio*float64(total) ||
		(s.slowRatio > 0 && float64(slows) >= s.slowRatio*float64(total)) {
		return b.trip(gen, closed, now)
	}
	return 0, false
}

func (b *breaker) recordProbe(s *settings, gen uint64, bad bool, now int64) (uint64, bool) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != halfOpen {
			return 0, false
		}
		if bad {
			return b.trip(gen, halfOpen, now)
		}
		if w.passed()+1 < s.probes {
			if b.cas(w, makeWord(gen, halfOpen, w.issued(), w.passed()+1)) {
				return 0, false
			}
			continue
		}
		// Every probe succeeded: close with a fresh window.
		b.epoch.Store(now / s.window)
		b.total.Store(0)
		b.fails.Store(0)
		b.slow.Store(0)
		if b.cas(w, makeWord(gen+1, closed, 0, 0)) {
			return closed, true
		}
	}
}

// trip opens the breaker if it is still in generation gen and state from.
func (b *breaker) trip(gen, from uint64, now int64) (uint64, bool) {
	for {
		w := b.load()
		if w.gen() != gen || w.state() != from {
			return 0, false
		}
		// openedAt goes first: a request seeing the open state must not read
		// the time of an earlier opening and let probes through at once.
		b.openedAt.Store(now)
		if b.cas(w, makeWord(gen+1, open, 0, 0)) {
			return open, true
		}
	}
}
