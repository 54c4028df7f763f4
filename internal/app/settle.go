package app

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/ir"
)

// sink is what every source feeds: the compile stage's Apply.
type sink interface {
	Apply(ir.Change) ir.Result
}

// settleLimit bounds how long the first load waits for a slow source (a
// store or cluster that is away) before the others go live without it.
const settleLimit = 10 * time.Second

// startGate makes the sources' first loads one change. Sources start at
// once and finish their first load in any order; an API route using a file
// service would otherwise be compiled (and reported rejected) before the
// file was read, and accepted a moment later. The gate holds each source's
// first change until every source has sent one, or has shown it has none
// to send (its ready channel closed), then applies them together: what is
// still rejected then is rejected for real. After that, changes pass
// straight through.
type startGate struct {
	next  sink
	log   *slog.Logger
	after func() // called after every change applied, e.g. to update readiness

	mu      sync.Mutex
	open    bool
	sources []*gatedSource
}

// gatedSource is one source's way into the gate.
type gatedSource struct {
	g     *startGate
	name  string
	ready <-chan struct{} // closed once the source's first load is live
	in    bool            // its first change is held, or it has none
	held  *ir.Change
	res   chan ir.Result
	// revived is told of objects an apply let in that an earlier one had
	// rejected, whichever source's change it was (see ir.Result.Revived).
	revived atomic.Pointer[func([]ir.Key)]
}

// OnRevived makes f hear of the objects that a change let in after an
// earlier one rejected them, of every source: a source that reports what
// serves (Ingress status) learns that one of its objects does now. f is
// called inside an apply and must only queue work.
func (s *gatedSource) OnRevived(f func([]ir.Key)) { s.revived.Store(&f) }

func newStartGate(next sink, log *slog.Logger) *startGate {
	return &startGate{next: next, log: log}
}

// join adds a source; all join before start. ready may be set later, but
// before start.
func (g *startGate) join(name string, ready <-chan struct{}) *gatedSource {
	s := &gatedSource{g: g, name: name, ready: ready}
	g.sources = append(g.sources, s)
	return s
}

// start opens the gate once every source is in, after settleLimit, or when
// ctx ends, whichever comes first.
func (g *startGate) start(ctx context.Context) {
	for _, s := range g.sources {
		go func() {
			select {
			case <-s.ready:
				g.mu.Lock()
				s.in = true
				g.openIfAllIn()
				g.mu.Unlock()
			case <-ctx.Done():
			}
		}()
	}
	go func() {
		t := time.NewTimer(settleLimit)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.open {
			return
		}
		var late []string
		for _, s := range g.sources {
			if !s.in {
				late = append(late, s.name)
			}
		}
		g.log.Warn("config sources still loading; applying the others without them", "waiting", late, "after", settleLimit.String())
		g.flush()
	}()
	g.mu.Lock()
	g.openIfAllIn()
	g.mu.Unlock()
}

// Apply holds the source's change until the gate opens, then returns what
// the compile stage said of this source's objects.
func (s *gatedSource) Apply(ch ir.Change) ir.Result {
	g := s.g
	g.mu.Lock()
	if g.open {
		g.mu.Unlock()
		return g.apply(ch)
	}
	res := make(chan ir.Result, 1)
	s.held, s.res, s.in = &ch, res, true
	g.openIfAllIn()
	g.mu.Unlock()
	return <-res
}

func (g *startGate) apply(ch ir.Change) ir.Result {
	res := g.next.Apply(ch)
	if g.after != nil {
		g.after()
	}
	if len(res.Revived) > 0 {
		for _, s := range g.sources {
			if f := s.revived.Load(); f != nil {
				(*f)(res.Revived)
			}
		}
	}
	return res
}

// openIfAllIn opens the gate once every source is in. g.mu is held.
func (g *startGate) openIfAllIn() {
	if g.open {
		return
	}
	for _, s := range g.sources {
		if !s.in {
			return
		}
	}
	g.flush()
}

// flush applies the held changes as one, hands each source its part of the
// result, and opens the gate. g.mu is held, so a change sent meanwhile
// waits and then goes straight through, after these.
func (g *startGate) flush() {
	g.open = true
	var held []*gatedSource
	for _, s := range g.sources {
		if s.held != nil {
			held = append(held, s)
		}
	}
	switch len(held) {
	case 0:
		return
	case 1:
		held[0].res <- g.apply(*held[0].held)
		held[0].held = nil
		return
	}
	var all ir.Change
	for _, s := range held {
		all.Upserts = append(all.Upserts, s.held.Upserts...)
		all.Deletes = append(all.Deletes, s.held.Deletes...)
		if e := s.held.Event; !e.IsZero() && (all.Event.IsZero() || e.Before(all.Event)) {
			all.Event = e
		}
	}
	res := g.apply(all)
	for _, s := range held {
		s.res <- ir.Result{Rejected: ownRejections(*s.held, res.Rejected)}
		s.held = nil
	}
}

// ownRejections picks the verdicts on ch's objects out of a merged result.
func ownRejections(ch ir.Change, rej map[ir.Key]error) map[ir.Key]error {
	out := map[ir.Key]error{}
	if len(rej) == 0 {
		return out
	}
	for _, o := range ch.Upserts {
		if err, ok := rej[o.Key]; ok {
			out[o.Key] = err
		}
	}
	for _, k := range ch.Deletes {
		if err, ok := rej[k]; ok {
			out[k] = err
		}
	}
	return out
}
