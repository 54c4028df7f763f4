// Package kubernetes serves Kubernetes Ingresses: client-go informers watch
// Ingress, IngressClass, Service, EndpointSlice and Secret objects, and
// the Pods labelled pylon.io/tag (whose tag their endpoints carry); each
// Ingress of Pylon's class is translated on its own into IR routes, services
// and certificates and fed to the compile stage; EndpointSlices go straight
// into the upstream pools, never through translation. A change to one
// Ingress (or to a Service or Secret) re-translates only the Ingresses that
// use it, so a change costs the same at 100 Ingresses as at 100,000.
//
// The leader among the replicas (a coordination.k8s.io Lease) writes
// status.loadBalancer; every replica serves.
package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"

	"pylon.io/pylon/internal/ir"
)

// SourceName is the Source of every object this package produces.
const SourceName = "kubernetes"

// ControllerName is the spec.controller of the IngressClasses Pylon serves.
const ControllerName = "pylon.io/ingress-controller"

// Options configure the Kubernetes source.
type Options struct {
	Kubeconfig     string   // empty: $KUBECONFIG, ~/.kube/config, then in-cluster (see RESTConfig)
	IngressClass   string   // the class name served; default "pylon"
	WatchNamespace string   // empty: all namespaces
	PublishAddress []string // status.loadBalancer.ingress; empty: status is not written
	// LeaseNamespace holds the leader-election Lease; default the pod's
	// namespace ($POD_NAMESPACE), else WatchNamespace, else "default".
	LeaseNamespace string
	Identity       string // this replica in the Lease; default the hostname
	Log            *slog.Logger
}

// Sink is what the source feeds; the compile stage implements it.
type Sink interface {
	Apply(ir.Change) ir.Result
}

// Source is the Kubernetes source. Build it with New, then Run it.
type Source struct {
	o      Options
	log    *slog.Logger
	client kubernetes.Interface
	pools  EndpointSink
	ready  chan struct{}
	once   sync.Once

	w            *watcher     // set by Run before Ready closes
	translations atomic.Int64 // Ingress translations so far
}

// Translations returns how many times an Ingress was translated: a change
// to one Ingress adds one, whatever the cluster's size.
func (s *Source) Translations() int64 { return s.translations.Load() }

// New connects to the API server described by o (it does not list yet).
// pools receives the endpoints of discovered services (the upstream
// registry, or a Publisher).
func New(o Options, pools EndpointSink) (*Source, error) {
	if o.Log != nil {
		routeClientLogs(o.Log)
	}
	cfg, err := RESTConfig(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	// Watches carry the load; the budget matters for status writes at
	// 100k Ingresses and for the first lists.
	cfg.QPS, cfg.Burst = 100, 200
	// Protobuf lists decode several times faster than JSON: at 100k
	// Ingresses the first list is most of the start.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	return NewWithClient(o, cs, pools), nil
}

// NewWithClient is New with a client built by the caller.
func NewWithClient(o Options, cs kubernetes.Interface, pools EndpointSink) *Source {
	if o.IngressClass == "" {
		o.IngressClass = "pylon"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Identity == "" {
		h, _ := os.Hostname()
		o.Identity = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = os.Getenv("POD_NAMESPACE")
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = o.WatchNamespace
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = "default"
	}
	return &Source{o: o, log: o.Log.With("source", SourceName), client: cs, pools: pools, ready: make(chan struct{})}
}

// SetEndpointSink sends the endpoints of discovered services to e instead
// (a Publisher, which also passes them on); call it before Run.
func (s *Source) SetEndpointSink(e EndpointSink) { s.pools = e }

// Ready is closed once the informers have synced and their content is live.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Run watches the cluster and feeds sink until ctx ends.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	w := newWatcher(s, sink)
	s.w = w
	if r, ok := sink.(interface{ OnRevived(func([]ir.Key)) }); ok {
		r.OnRevived(w.revive) // a sink that hears of revived objects passes ours on
	}
	st := newStatusWriter(s, w)
	w.onApplied = st.enqueue // before the informers start: their handlers call it
	if err := w.start(ctx); err != nil {
		return err
	}
	start := time.Now()
	if !w.waitSynced(ctx) {
		return ctx.Err()
	}
	w.processAll()
	s.log.Info("kubernetes: informers synced and applied", "ingresses", len(w.ings), "took", time.Since(start).String())
	s.once.Do(func() { close(s.ready) })
	// The status writer starts once the whole cluster is applied: before,
	// it would take every Ingress for one that does not serve.
	go st.run(ctx)
	w.loop(ctx)
	w.events.Shutdown()
	return ctx.Err()
}
