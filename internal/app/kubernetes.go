package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"pylon.io/pylon/internal/plugin"
	kubesource "pylon.io/pylon/internal/source/kubernetes"
	"pylon.io/pylon/internal/store/etcd"
	"pylon.io/pylon/internal/upstream"
)

// KubernetesOptions are `pylon run --kubernetes`'s settings.
type KubernetesOptions struct {
	Enabled        bool
	Kubeconfig     string // empty: $KUBECONFIG, ~/.kube/config, then in-cluster
	IngressClass   string
	WatchNamespace string
	PublishAddress []string // written to Ingress status by the leader
	// PeersService is NAMESPACE/NAME of the gateway's own Service: its ready
	// endpoints are the replicas cluster-aware plugins divide limits by
	// (when no etcd cluster gives the membership).
	PeersService string
	// Publish, etcd://host:port[,host:port], makes this process the control
	// plane of a split deployment: what it translates and accepts goes to
	// etcd, where gateway nodes started with --store on the same etcd read
	// it. Listeners are then optional here.
	Publish string
}

// kubernetesPrefix is where a controller publishes, under etcdPrefix: apart
// from the admin API's objects, so neither overwrites the other.
const kubernetesPrefix = etcdPrefix + "/kubernetes"

// kubernetesRunner builds the Kubernetes source: its runner, and a channel
// closed once its informers have synced and their Ingresses are live. comp
// is the compile stage (through the start gate) it feeds.
func kubernetesRunner(ctx context.Context, o KubernetesOptions, comp sink, pools *upstream.Registry, members *plugin.Members, log *slog.Logger) ([]Runner, <-chan struct{}, func(), error) {
	src, err := kubesource.New(kubesource.Options{
		Kubeconfig: o.Kubeconfig, IngressClass: o.IngressClass, WatchNamespace: o.WatchNamespace,
		PublishAddress: o.PublishAddress, Log: log,
	}, pools)
	if err != nil {
		return nil, nil, nil, err
	}
	var sink kubesource.Sink = comp
	closer := func() {}
	var runners []Runner
	if o.Publish != "" {
		eps, ok := strings.CutPrefix(o.Publish, "etcd://")
		if !ok || eps == "" {
			return nil, nil, nil, fmt.Errorf("--kubernetes-publish: want etcd://host:port[,host:port] (got %q)", o.Publish)
		}
		st, err := etcd.Open(ctx, strings.Split(eps, ","), kubernetesPrefix)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--kubernetes-publish: %w", err)
		}
		closer = func() { st.Close() }
		pub := kubesource.NewPublisher(st, comp, pools, log)
		src.SetEndpointSink(pub)
		sink = pub
		runners = append(runners, Runner{Name: "kubernetes-publisher", Start: func(ctx context.Context) error { return pub.Run(ctx, src, src.Ready()) }})
	}
	runners = append(runners, Runner{Name: "kubernetes-source", Start: func(ctx context.Context) error { return src.Run(ctx, sink) }})
	if o.PeersService != "" {
		ns, name, ok := strings.Cut(o.PeersService, "/")
		if !ok || ns == "" || name == "" {
			closer()
			return nil, nil, nil, fmt.Errorf("--peers-service: want NAMESPACE/NAME (got %q)", o.PeersService)
		}
		peers := kubesource.NewPeers(src.Client(), ns, name, log)
		members.Set(peers)
		runners = append(runners, Runner{Name: "kubernetes-peers", Start: peers.Run})
	}
	return runners, src.Ready(), closer, nil
}
