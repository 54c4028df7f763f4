package kubernetes

import "sync"

// qkind is what a queued key names.
type qkind uint8

const (
	kIngress qkind = iota
	kClass
	kService
	kSlice // the EndpointSlices of the Service ns/name
	kSecret
	kRevived // a route of ours the compile stage let in on another change (ns, name: the route key's)
	kPod     // a Pod whose tag label changed (see podtags.go)
)

// qkey is one queued change: a kind and the object's namespace and name.
type qkey struct {
	kind     qkind
	ns, name string
}

func (k qkey) nn() nsName { return nsName{k.ns, k.name} }

// nsName is a namespaced Kubernetes object name.
type nsName struct{ ns, name string }

func (n nsName) String() string { return n.ns + "/" + n.name }

// queue is a set of pending keys and a signal. Informer handlers add; the
// one worker drains everything at once, so a burst (the first list, a
// rollout touching many EndpointSlices) becomes one change for the compile
// stage, and a key changed twice before the worker runs is handled once.
type queue struct {
	mu      sync.Mutex
	pending map[qkey]struct{}
	signal  chan struct{}
}

func newQueue() *queue {
	return &queue{pending: map[qkey]struct{}{}, signal: make(chan struct{}, 1)}
}

func (q *queue) add(k qkey) {
	q.mu.Lock()
	q.pending[k] = struct{}{}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *queue) drain() map[qkey]struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = make(map[qkey]struct{}, 16)
	return out
}
