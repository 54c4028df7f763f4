package kubernetes

import (
	"context"
	"log/slog"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Peers counts the gateway's own replicas in Kubernetes: the ready
// endpoints of its Service. It is the membership cluster-aware plugins
// divide by (a fleet-wide rate limit enforces limit ÷ Live on each
// replica) when there is no etcd cluster, and it follows scale-ups,
// scale-downs and failing readiness as the EndpointSlices do.
type Peers struct {
	client    kubernetes.Interface
	namespace string
	service   string
	log       *slog.Logger

	mu      sync.Mutex
	live    int
	changed chan struct{}
}

// NewPeers watches the EndpointSlices of namespace/service.
func NewPeers(client kubernetes.Interface, namespace, service string, log *slog.Logger) *Peers {
	if log == nil {
		log = slog.Default()
	}
	return &Peers{client: client, namespace: namespace, service: service, log: log, changed: make(chan struct{})}
}

// Client returns the source's API client, for watchers that share it.
func (s *Source) Client() kubernetes.Interface { return s.client }

// Run watches until ctx ends.
func (p *Peers) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(p.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + p.service
		}))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	recount := func(any) { p.recount(inf.GetStore().List()) }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: recount, UpdateFunc: func(_, o any) { recount(o) }, DeleteFunc: recount,
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	return nil
}

// recount sets Live to the ready addresses across the Service's slices.
func (p *Peers) recount(objs []any) {
	addrs := map[string]struct{}{}
	for _, o := range objs {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			if usable(e.Conditions) && len(e.Addresses) > 0 {
				addrs[e.Addresses[0]] = struct{}{}
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(addrs) == p.live {
		return
	}
	p.log.Info("kubernetes: gateway replicas changed", "service", p.namespace+"/"+p.service, "live", len(addrs))
	p.live = len(addrs)
	close(p.changed)
	p.changed = make(chan struct{})
}

// Live returns the number of ready replicas, at least 1 (this one).
func (p *Peers) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.live, 1)
}

// Changed returns a channel closed when Live changes; call it again after.
func (p *Peers) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}
