package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/upstream"
)

// EndpointSink takes the endpoints of discovered services, by pool name;
// the upstream registry implements it, and so does a Publisher.
type EndpointSink interface {
	SetEndpoints(pool string, endpoints []upstream.EndpointConfig) error
}

// Publisher is the control-plane half of a split deployment: the
// controller translates and checks Ingresses as when it serves them (its
// local compile stage is the judge: what it rejects is reported on the
// Ingress and never published), and the leader among the controllers
// writes what was accepted to a store that a fleet of gateway nodes
// watches. Services go out with their current endpoints, so an
// EndpointSlice change is one write of one service.
//
// The publisher keeps the whole accepted state. A replica that becomes
// leader compares it with the store and writes the difference, which also
// removes what Ingresses deleted while no controller was leading.
type Publisher struct {
	st    store.Store
	local Sink
	pools EndpointSink
	log   *slog.Logger

	mu      sync.Mutex
	desired map[ir.Key][]byte           // store key → the object's JSON
	svcs    map[string]publishedService // pool name → its service
	// held are upserts the local compile stage rejected for want of
	// another object: published once it lets them in (ir.Result.Revived).
	held    map[ir.Key]ir.Object
	revived atomic.Pointer[func([]ir.Key)] // the watcher's, see OnRevived
	// hears is set when local tells OnRevived of every revival (the start
	// gate does): Apply then leaves ir.Result.Revived to that path.
	hears   bool
	leading bool
	dirty   bool          // a write failed: reconcile before trusting the store
	kick    chan struct{} // wakes the reconcile loop
}

type publishedService struct {
	key ir.Key
	svc ir.Service
}

// maxPublishOps and maxPublishBytes keep one transaction inside etcd's
// default --max-txn-ops and --max-request-bytes.
const (
	maxPublishOps   = 128
	maxPublishBytes = 1 << 20
)

// NewPublisher returns a publisher writing to st what local accepts;
// endpoints also go to pools (the controller's own, for its checks).
func NewPublisher(st store.Store, local Sink, pools EndpointSink, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	p := &Publisher{st: st, local: local, pools: pools, log: log.With("component", "publisher"),
		desired: map[ir.Key][]byte{}, svcs: map[string]publishedService{}, held: map[ir.Key]ir.Object{}, kick: make(chan struct{}, 1)}
	if r, ok := local.(interface{ OnRevived(func([]ir.Key)) }); ok {
		r.OnRevived(p.revive) // objects let in on any source's change
		p.hears = true
	}
	return p
}

// OnRevived makes f hear of the objects the local compile stage let in
// after rejecting them, as the sink the Source feeds (see Source.Run).
func (p *Publisher) OnRevived(f func([]ir.Key)) { p.revived.Store(&f) }

// revive publishes the held objects among keys, which the local compile
// stage has just let in, and passes keys on to the watcher.
func (p *Publisher) revive(keys []ir.Key) {
	p.mu.Lock()
	var ops []store.Op
	for _, k := range keys {
		if o, ok := p.held[k]; ok {
			delete(p.held, k)
			ops = p.set(ops, storeKey(k), o.Resource)
		}
	}
	p.write(ops)
	p.mu.Unlock()
	if f := p.revived.Load(); f != nil {
		(*f)(keys)
	}
}

// storeKey is an object's key in the store, which keeps no source.
func storeKey(k ir.Key) ir.Key {
	k.Source = ""
	return k
}

// Apply applies ch to the local compile stage and publishes what it
// accepted.
func (p *Publisher) Apply(ch ir.Change) ir.Result {
	res := p.local.Apply(ch)
	p.mu.Lock()
	var ops []store.Op
	for _, o := range ch.Upserts {
		if _, bad := res.Rejected[o.Key]; bad {
			p.held[o.Key] = o
			continue
		}
		delete(p.held, o.Key)
		if s, ok := o.Resource.(*ir.Service); ok && s.Discovered {
			p.svcs[o.Key.DisplayName()] = publishedService{key: o.Key, svc: *s}
		}
		ops = p.set(ops, storeKey(o.Key), o.Resource)
	}
	for _, k := range ch.Deletes {
		if _, refused := res.Rejected[k]; refused {
			continue
		}
		delete(p.held, k)
		if k.Kind == ir.KindService {
			delete(p.svcs, k.DisplayName())
		}
		sk := storeKey(k)
		if _, ok := p.desired[sk]; ok {
			delete(p.desired, sk)
			ops = append(ops, store.Op{Key: sk})
		}
	}
	p.write(ops)
	p.mu.Unlock()
	if !p.hears && len(res.Revived) > 0 {
		p.revive(res.Revived)
	}
	return res
}

// SetEndpoints sets a discovered service's endpoints locally and publishes
// the service with them.
func (p *Publisher) SetEndpoints(pool string, eps []upstream.EndpointConfig) error {
	err := p.pools.SetEndpoints(pool, eps)
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.svcs[pool]
	if !ok {
		return err
	}
	// Zones, nodes and hints go too: each gateway node decides against its
	// own zone and node.
	ps.svc.Endpoints = irEndpoints(eps)
	p.svcs[pool] = ps
	p.write(p.set(nil, storeKey(ps.key), &ps.svc))
	return err
}

// set records res as the desired value of k and returns ops with a put of
// it, unless it is unchanged. The caller holds p.mu.
func (p *Publisher) set(ops []store.Op, k ir.Key, res ir.Resource) []store.Op {
	data, err := json.Marshal(res)
	if err != nil {
		p.log.Error("publisher: cannot encode object; not published", "object", k.String(), "error", err.Error())
		return ops
	}
	if bytes.Equal(p.desired[k], data) {
		return ops
	}
	p.desired[k] = data
	return append(ops, store.Op{Key: k, Value: data})
}

// write commits ops if this replica leads; a failure leaves the store to
// the reconcile loop. The caller holds p.mu.
func (p *Publisher) write(ops []store.Op) {
	if len(ops) == 0 || !p.leading || p.dirty {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := commitOrdered(ctx, p.st, ops); err != nil {
		p.log.Error("publisher: store write failed; will reconcile", "error", err.Error())
		p.dirty = true
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// commitOrdered writes ops in transactions etcd accepts: services and
// certificates before the routes that use them, routes deleted before
// their services, so gateway nodes rarely see a route wait for a service.
func commitOrdered(ctx context.Context, st store.Store, ops []store.Op) error {
	rank := map[ir.Kind]int{}
	for i, k := range ir.Kinds {
		rank[k] = i
	}
	slices.SortStableFunc(ops, func(a, b store.Op) int {
		ra, rb := rank[a.Key.Kind], rank[b.Key.Kind]
		if (a.Value == nil) != (b.Value == nil) {
			if a.Value == nil {
				return 1 // puts first, then deletes
			}
			return -1
		}
		if a.Value == nil {
			return rb - ra
		}
		return ra - rb
	})
	for len(ops) > 0 {
		n, size := 0, 0
		for n < len(ops) && n < maxPublishOps && (n == 0 || size+len(ops[n].Value) <= maxPublishBytes) {
			size += len(ops[n].Value)
			n++
		}
		if _, err := st.Commit(ctx, ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// reconcile makes the store hold exactly the desired state.
func (p *Publisher) reconcile(ctx context.Context) error {
	current := map[ir.Key][]byte{}
	for _, kind := range ir.Kinds {
		recs, _, err := p.st.List(ctx, kind, "", 0)
		if err != nil {
			return err
		}
		for _, r := range recs {
			current[storeKey(r.Key)] = r.Value
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ops []store.Op
	for k, v := range p.desired {
		if !bytes.Equal(current[k], v) {
			ops = append(ops, store.Op{Key: k, Value: v})
		}
	}
	for k := range current {
		if _, ok := p.desired[k]; !ok {
			ops = append(ops, store.Op{Key: k})
		}
	}
	if err := commitOrdered(ctx, p.st, ops); err != nil {
		return err
	}
	p.dirty = false
	p.log.Info("publisher: store reconciled", "objects", len(p.desired), "written", len(ops))
	return nil
}

// lead publishes while ctx lasts: it reconciles the store, then keeps it
// reconciled after failed writes.
func (p *Publisher) lead(ctx context.Context) {
	p.mu.Lock()
	p.leading, p.dirty = true, true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.leading = false
		p.mu.Unlock()
	}()
	for wait := 100 * time.Millisecond; ctx.Err() == nil; {
		p.mu.Lock()
		dirty := p.dirty
		p.mu.Unlock()
		if dirty {
			if err := p.reconcile(ctx); err != nil {
				p.log.Error("publisher: reconcile failed; retrying", "error", err.Error(), "in", wait.String())
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				wait = min(2*wait, 5*time.Second)
				continue
			}
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-p.kick:
		}
	}
}

// Run publishes while this replica holds the publishing Lease (namespace
// leaseNS, named after the class), so one controller of several writes.
// It waits for ready (the first full translation) before leading, so a new
// leader never deletes what it has not translated yet.
func (p *Publisher) Run(ctx context.Context, src *Source, ready <-chan struct{}) error {
	select {
	case <-ready:
	case <-ctx.Done():
		return nil
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: src.o.LeaseNamespace, Name: "pylon-publish-" + src.o.IngressClass},
		Client:     src.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: src.o.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true, Name: "pylon-publish",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					p.log.Info("publisher: leading; publishing to the store", "identity", src.o.Identity)
					p.lead(ctx)
				},
				OnStoppedLeading: func() { p.log.Info("publisher: no longer leading", "identity", src.o.Identity) },
			},
		})
	}
	return nil
}
