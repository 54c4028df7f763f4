package zookeeper

import (
	"context"
	"errors"
	"path"
	"reflect"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"pylon.io/pylon/internal/discovery"
)

// A watch keeps a view of its service node (its children, and for
// Curator each child's data) and the ZooKeeper watches that report
// changes to it. ZooKeeper watches fire once: an event marks the part of
// the view it concerns stale, and the next refresh reads that part again,
// setting a new watch with the read. Every watch is set once per
// session: an expired session took them all, so a new session sets them
// again.
type watcher struct {
	p      *provider
	q      discovery.Query
	base   string
	curate bool // Curator layout: each child's data is read and watched

	mu     sync.Mutex
	events []zk.Event    // delivered by the client's callback, not yet applied
	kick   chan struct{} // a wake-up is pending

	// Owned by the Watch goroutine.
	session int64            // the session the watches were set in
	listed  bool             // base's child list (or, base missing, its existence) is read and watched
	names   []string         // base's children at the last read
	nodes   map[string]*node // by child name
}

// node is one child of the service node, decoded.
type node struct {
	rec    record
	err    error // the node is not an instance record; left out
	loaded bool  // rec or err is current (for Curator: a data watch is set)
}

// maxRetry bounds the wait between reads that fail.
const maxRetry = 30 * time.Second

func (p *provider) newWatcher(q discovery.Query) *watcher {
	return &watcher{p: p, q: q, base: p.cfg.servicePath(q), curate: q.Layout == LayoutCurator,
		kick: make(chan struct{}, 1), nodes: map[string]*node{}}
}

// concerns reports whether an event on path is about the service node or
// one of its children.
func (w *watcher) concerns(p string) bool { return p == w.base || path.Dir(p) == w.base }

// push queues an event; called by the client's callback.
func (w *watcher) push(ev zk.Event) {
	w.mu.Lock()
	w.events = append(w.events, ev)
	w.mu.Unlock()
	w.wake()
}

func (w *watcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Watch sends q's set once it is read and again at each change, until ctx
// ends or the provider closes.
func (p *provider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := checkQuery(q); err != nil {
		return err
	}
	w := p.newWatcher(q)
	p.mu.Lock()
	p.subs[w] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, w)
		p.mu.Unlock()
	}()
	poll := time.NewTicker(p.cfg.PollInterval.D())
	defer poll.Stop()
	var last *discovery.Set
	var retry <-chan time.Time
	backoff, failing := time.Second, false
	for {
		if ok, _, _ := p.readiness(); ok {
			set, dropped, err := w.refresh()
			switch {
			case err != nil:
				if !failing && ctx.Err() == nil && p.ctx.Err() == nil {
					p.log.Warn("zookeeper: reading the service failed; keeping its last set", "path", w.base, "error", err.Error())
				}
				failing = true
				retry = time.After(backoff)
				backoff = min(backoff*2, maxRetry)
			default:
				if failing {
					p.log.Info("zookeeper: reading the service works again", "path", w.base)
				}
				failing, retry, backoff = false, nil, time.Second
				if last == nil || !reflect.DeepEqual(*last, set) {
					if dropped > 0 {
						p.log.Warn("zookeeper: dropped metadata that is not valid UTF-8", "path", w.base, "entries", dropped)
					}
					last = &set
					update(set)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return errClosed
		case <-w.kick:
		case <-retry:
		case <-poll.C:
			w.verify(last)
		}
	}
}

// verify reads the service once without watches and, should that differ
// from what the watches built, makes the next refresh read and watch
// everything again: a backstop for a watch that was lost.
func (w *watcher) verify(last *discovery.Set) {
	if ok, _, _ := w.p.readiness(); !ok || last == nil {
		return
	}
	fresh, err := w.p.read(w.q)
	if err != nil || reflect.DeepEqual(fresh, *last) {
		return
	}
	w.p.log.Info("zookeeper: a re-read found a change no watch reported; watching again", "path", w.base)
	w.forget()
}

// forget marks the whole view stale.
func (w *watcher) forget() {
	w.listed = false
	for _, n := range w.nodes {
		n.loaded = false
	}
}

// apply marks stale what queued events say changed.
func (w *watcher) apply() {
	w.mu.Lock()
	evs := w.events
	w.events = nil
	w.mu.Unlock()
	for _, ev := range evs {
		switch {
		case ev.Type == zk.EventNotWatching: // the client dropped its watches (session gone, or closing)
			w.forget()
		case ev.Path == w.base:
			// NodeCreated (the exists watch), NodeChildrenChanged and
			// NodeDeleted (the child watch) all mean: list again.
			if ev.Type != zk.EventNodeDataChanged {
				w.listed = false
			}
		default:
			if n := w.nodes[path.Base(ev.Path)]; n != nil && w.curate {
				n.loaded = false // data changed, or deleted (the list shows which)
			}
		}
	}
}

// refresh brings the view up to date, setting the watches that are
// missing, and returns the set it makes.
func (w *watcher) refresh() (discovery.Set, int, error) {
	w.apply()
	if sid := w.p.conn.SessionID(); sid != w.session {
		w.session = sid
		w.forget()
	}
	if !w.listed {
		if err := w.list(); err != nil {
			return discovery.Set{}, 0, err
		}
	}
	if err := overBound(w.base, len(w.names)); err != nil {
		return discovery.Set{}, 0, err
	}
	listed := make(map[string]bool, len(w.names))
	for _, name := range w.names {
		listed[name] = true
	}
	for name := range w.nodes {
		if !listed[name] {
			delete(w.nodes, name)
		}
	}
	recs := make([]record, 0, len(w.names))
	for _, name := range w.names {
		n := w.nodes[name]
		if n == nil {
			n = &node{}
			w.nodes[name] = n
		}
		if !n.loaded {
			gone, err := w.load(name, n)
			if err != nil {
				return discovery.Set{}, 0, err
			}
			if gone {
				continue
			}
		}
		if n.err == nil {
			recs = append(recs, n.rec)
		}
	}
	set, dropped := w.p.cfg.toSet(w.q.Layout, recs)
	return set, dropped, nil
}

// list reads base's children with a child watch or, when base does not
// exist yet, sets an exists watch that reports its creation.
func (w *watcher) list() error {
	for range 3 { // base may come and go between the two calls
		names, _, _, err := w.p.conn.ChildrenW(w.base)
		if err == nil {
			w.names, w.listed = names, true
			return nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return w.p.wrap(w.base, err)
		}
		exists, _, _, err := w.p.conn.ExistsW(w.base)
		if err != nil {
			return w.p.wrap(w.base, err)
		}
		if !exists {
			w.names, w.listed = nil, true
			return nil
		}
	}
	return w.p.wrap(w.base, errors.New("created and deleted while being read; trying again"))
}

// load decodes one child: for Dubbo its name, for Curator its data, read
// with a data watch. gone reports a child deleted since the list was read.
func (w *watcher) load(name string, n *node) (gone bool, err error) {
	if !w.curate {
		n.rec, n.err = decodeDubbo(name)
	} else {
		data, _, _, err := w.p.conn.GetW(w.base + "/" + name)
		if errors.Is(err, zk.ErrNoNode) {
			return true, nil // the child watch reports the deletion
		}
		if err != nil {
			return false, w.p.wrap(w.base+"/"+name, err)
		}
		n.rec, n.err = decodeCurator(name, data)
	}
	n.loaded = true
	if n.err != nil {
		w.p.log.Warn("zookeeper: node left out: not an instance record", "path", w.base, "node", truncate(name, 200), "error", n.err.Error())
	}
	return false, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
