package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/plugin"
	kubesource "pylon.io/pylon/internal/source/kubernetes"
	"pylon.io/pylon/internal/upstream"
)

// KubernetesOptions are `pylon run --kubernetes`'s settings.
type KubernetesOptions struct {
	Enabled        bool
	Kubeconfig     string // empty: in-cluster config
	IngressClass   string
	WatchNamespace string
	PublishAddress []string // written to Ingress status by the leader
	// PeersService is NAMESPACE/NAME of the gateway's own Service: its ready
	// endpoints are the replicas cluster-aware plugins divide limits by
	// (when no etcd cluster gives the membership).
	PeersService string
}

// kubernetesRunner builds the Kubernetes source: its runner, and a channel
// closed once its informers have synced and their Ingresses are live.
func kubernetesRunner(o KubernetesOptions, comp *compile.Compiler, pools *upstream.Registry, members *plugin.Members, log *slog.Logger) ([]Runner, <-chan struct{}, error) {
	src, err := kubesource.New(kubesource.Options{
		Kubeconfig: o.Kubeconfig, IngressClass: o.IngressClass, WatchNamespace: o.WatchNamespace,
		PublishAddress: o.PublishAddress, Log: log,
	}, pools)
	if err != nil {
		return nil, nil, err
	}
	runners := []Runner{{Name: "kubernetes-source", Start: func(ctx context.Context) error { return src.Run(ctx, comp) }}}
	if o.PeersService != "" {
		ns, name, ok := strings.Cut(o.PeersService, "/")
		if !ok || ns == "" || name == "" {
			return nil, nil, fmt.Errorf("--peers-service: want NAMESPACE/NAME (got %q)", o.PeersService)
		}
		peers := kubesource.NewPeers(src.Client(), ns, name, log)
		members.Set(peers)
		runners = append(runners, Runner{Name: "kubernetes-peers", Start: peers.Run})
	}
	return runners, src.Ready(), nil
}

// errKubeNoListeners: with --kubernetes the listeners still come from a file.
var errKubeNoListeners = errors.New("--kubernetes needs --config with the listeners")
