package kubernetes

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// statusWriter sets status.loadBalancer.ingress of Pylon's Ingresses that
// serve to the --publish-address list, and clears it on those that do not.
// Only the leader writes (a coordination.k8s.io Lease), so N replicas do not
// race each other; every replica serves.
type statusWriter struct {
	s    *Source
	w    *watcher
	want []networkingv1.IngressLoadBalancerIngress

	mu      sync.Mutex
	pending map[nsName]struct{}
	signal  chan struct{}
	leading bool
}

func newStatusWriter(s *Source, w *watcher) *statusWriter {
	st := &statusWriter{s: s, w: w, pending: map[nsName]struct{}{}, signal: make(chan struct{}, 1)}
	for _, a := range s.o.PublishAddress {
		if net.ParseIP(a) != nil {
			st.want = append(st.want, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			st.want = append(st.want, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	return st
}

// enqueue asks for the status of nn to be checked (by the leader).
func (st *statusWriter) enqueue(nn nsName) {
	if len(st.want) == 0 {
		return
	}
	st.mu.Lock()
	if !st.leading {
		st.mu.Unlock()
		return
	}
	st.pending[nn] = struct{}{}
	st.mu.Unlock()
	select {
	case st.signal <- struct{}{}:
	default:
	}
}

func (st *statusWriter) run(ctx context.Context) {
	if len(st.want) == 0 {
		st.s.log.Info("kubernetes: no --publish-address; Ingress status is not written")
		return
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: st.s.o.LeaseNamespace, Name: "pylon-ingress-" + st.s.o.IngressClass},
		Client:     st.s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: st.s.o.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true, Name: "pylon-ingress-status",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: st.lead,
				OnStoppedLeading: func() {
					st.mu.Lock()
					st.leading = false
					st.mu.Unlock()
					st.s.log.Info("kubernetes: no longer the status leader", "identity", st.s.o.Identity)
				},
			},
		})
	}
}

// lead runs while this replica holds the Lease: it checks every Ingress
// once, then those the source reports.
func (st *statusWriter) lead(ctx context.Context) {
	st.s.log.Info("kubernetes: leading; writing Ingress status", "identity", st.s.o.Identity)
	st.mu.Lock()
	st.leading = true
	for _, obj := range st.w.in.ingresses.GetStore().List() {
		ing := obj.(*networkingv1.Ingress)
		st.pending[nsName{ing.Namespace, ing.Name}] = struct{}{}
	}
	st.mu.Unlock()
	for {
		st.mu.Lock()
		batch := st.pending
		st.pending = map[nsName]struct{}{}
		st.mu.Unlock()
		for nn := range batch {
			if ctx.Err() != nil {
				return
			}
			st.write(ctx, nn)
		}
		select {
		case <-ctx.Done():
			return
		case <-st.signal:
		}
	}
}

func (st *statusWriter) write(ctx context.Context, nn nsName) {
	obj, ok, err := st.w.in.ingresses.GetStore().GetByKey(nn.String())
	if err != nil || !ok {
		return
	}
	ing := obj.(*networkingv1.Ingress)
	want := st.want
	if !st.w.ours(ing) {
		// It left Pylon's class: the addresses Pylon wrote go, so the
		// Ingress does not point at a gateway that no longer serves it.
		// Any other status is another controller's and is left alone.
		if len(ing.Status.LoadBalancer.Ingress) == 0 || !apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, st.want) {
			return
		}
		want = []networkingv1.IngressLoadBalancerIngress{}
	} else if !st.w.serving.has(nn) {
		// Ours but not served (rejected before it ever served, refused by
		// the compile stage, or every route served by an older Ingress):
		// an address would send clients to a gateway that answers 404.
		// The Ingress's Events say why.
		if len(ing.Status.LoadBalancer.Ingress) == 0 {
			return
		}
		want = []networkingv1.IngressLoadBalancerIngress{}
	} else if apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
		return
	}
	// A merge patch of the status alone: the cached copy is trimmed
	// (annotations, managedFields) and must never be written back.
	body, _ := json.Marshal(map[string]any{"status": map[string]any{"loadBalancer": map[string]any{"ingress": want}}})
	_, err = st.s.client.NetworkingV1().Ingresses(nn.ns).Patch(ctx, nn.name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
	default:
		st.s.log.Warn("kubernetes: ingress status not written", "ingress", nn.String(), "error", err.Error())
	}
}
