package app

import (
	"context"
	"errors"
	"log/slog"

	"pylon.io/pylon/internal/dataplane/compile"
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
}

// kubernetesRunner builds the Kubernetes source: its runner, and a channel
// closed once its informers have synced and their Ingresses are live.
func kubernetesRunner(o KubernetesOptions, comp *compile.Compiler, pools *upstream.Registry, log *slog.Logger) (Runner, <-chan struct{}, error) {
	src, err := kubesource.New(kubesource.Options{
		Kubeconfig: o.Kubeconfig, IngressClass: o.IngressClass, WatchNamespace: o.WatchNamespace,
		PublishAddress: o.PublishAddress, Log: log,
	}, pools)
	if err != nil {
		return Runner{}, nil, err
	}
	return Runner{Name: "kubernetes-source", Start: func(ctx context.Context) error { return src.Run(ctx, comp) }}, src.Ready(), nil
}

// errKubeNoListeners: with --kubernetes the listeners still come from a file.
var errKubeNoListeners = errors.New("--kubernetes needs --config with the listeners")
