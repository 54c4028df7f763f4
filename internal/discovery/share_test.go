package discovery

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// countingProvider counts the watches it runs by query name, and sends
// each watch of a name the sets put on that name's channel.
type countingProvider struct {
	mu      sync.Mutex
	running map[string]int
	started map[string]int
	sets    map[string]chan Set
	fail    error // returned by every Watch at once when set
}

func newCountingProvider() *countingProvider {
	return &countingProvider{running: map[string]int{}, started: map[string]int{}, sets: map[string]chan Set{}}
}

func (p *countingProvider) ch(name string) chan Set {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sets[name] == nil {
		p.sets[name] = make(chan Set)
	}
	return p.sets[name]
}

func (p *countingProvider) Watch(ctx context.Context, q Query, update func(Set)) error {
	p.mu.Lock()
	p.running[q.Name]++
	p.started[q.Name]++
	fail := p.fail
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running[q.Name]--
		p.mu.Unlock()
	}()
	if fail != nil {
		return fail
	}
	ch := p.ch(q.Name)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-ch:
			update(s)
		}
	}
}

func (p *countingProvider) Resolve(context.Context, Query) (Set, error) { return Set{}, nil }
func (p *countingProvider) Close() error                                { return nil }

func (p *countingProvider) counts(name string) (running, started int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running[name], p.started[name]
}

// sharedWatch is one Watch of a Shared provider, its sets on a channel.
type sharedWatch struct {
	sets   chan Set
	cancel context.CancelFunc
	done   chan error
}

func watchShared(s *Shared, name string) *sharedWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &sharedWatch{sets: make(chan Set, 16), cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- s.Watch(ctx, Query{Name: name}, func(set Set) { w.sets <- set }) }()
	return w
}

func (w *sharedWatch) next(t *testing.T, what string) Set {
	t.Helper()
	select {
	case s := <-w.sets:
		return s
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: no set", what)
		return Set{}
	}
}

func (w *sharedWatch) quiet(t *testing.T, what string) {
	t.Helper()
	select {
	case s := <-w.sets:
		t.Errorf("%s: got a set of %d, want none", what, len(s.Instances))
	case <-time.After(50 * time.Millisecond):
	}
}

// TestSharedWatches: the watches of one query share one watch of the
// provider, every one of them gets each set, one that joins late gets the
// last set at once, and the provider's watch ends with the last of them;
// another query has its own.
func TestSharedWatches(t *testing.T) {
	p := newCountingProvider()
	s := Share(p)
	a1, a2, b := watchShared(s, "a"), watchShared(s, "a"), watchShared(s, "b")
	eventually(t, "two watches of the provider", func() bool {
		ra, _ := p.counts("a")
		rb, _ := p.counts("b")
		return ra == 1 && rb == 1 && s.Watches() == 2
	})
	p.ch("a") <- set("10.0.0.1:80")
	for i, w := range []*sharedWatch{a1, a2} {
		if got := w.next(t, "a's watch"); len(got.Instances) != 1 || got.Instances[0].Address != "10.0.0.1:80" {
			t.Errorf("watch %d of a: %+v", i, got)
		}
	}
	b.quiet(t, "b, after a's set")

	a3 := watchShared(s, "a")
	if got := a3.next(t, "a late watch of a"); len(got.Instances) != 1 {
		t.Errorf("a late watch of a: %+v, want the last set", got)
	}
	if _, started := p.counts("a"); started != 1 {
		t.Errorf("the provider started %d watches of a, want 1", started)
	}

	a1.cancel()
	a2.cancel()
	for _, w := range []*sharedWatch{a1, a2} {
		if err := <-w.done; !errors.Is(err, context.Canceled) {
			t.Errorf("a cancelled watch returned %v", err)
		}
	}
	p.ch("a") <- set("10.0.0.2:80", "10.0.0.3:80")
	if got := a3.next(t, "the watch left of a"); len(got.Instances) != 2 {
		t.Errorf("the watch left of a: %+v", got)
	}
	a3.cancel()
	<-a3.done
	eventually(t, "a's provider watch ended with its last watch", func() bool {
		ra, _ := p.counts("a")
		return ra == 0 && s.Watches() == 1
	})

	a4 := watchShared(s, "a")
	eventually(t, "a new watch of a after all left starts one afresh", func() bool {
		ra, started := p.counts("a")
		return ra == 1 && started == 2
	})
	a4.quiet(t, "a fresh watch of a: no stale set")
	a4.cancel()
	b.cancel()
	<-a4.done
	<-b.done

	p.fail = errors.New("unknown field")
	f := watchShared(s, "c")
	select {
	case err := <-f.done:
		if err == nil || err.Error() != "unknown field" {
			t.Errorf("a query the provider refuses: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a query the provider refuses: the watch did not return")
	}
	eventually(t, "no watch left", func() bool { return s.Watches() == 0 })
}
