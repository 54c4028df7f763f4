package kubernetes

import (
	"errors"
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig finds the API server as kubectl does, with client-go's
// loading rules: the kubeconfig file given (--kubeconfig), else the files
// listed in $KUBECONFIG, else ~/.kube/config, else the pod's service
// account (in-cluster config). Every command that talks to a cluster
// connects through it, so `pylon run --kubernetes` and `pylon ingress
// check --kubernetes` reach the same cluster from the same shell.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	switch {
	case err == nil:
		return cfg, nil
	case clientcmd.IsEmptyConfig(err):
		// client-go's own message names KUBERNETES_MASTER, which Pylon
		// does not read; say where Pylon looked instead.
		return nil, errors.New("kubernetes: no cluster to connect to: no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, and not in a pod with a service account")
	case kubeconfig != "":
		return nil, fmt.Errorf("kubernetes: kubeconfig %s: %w", kubeconfig, err)
	default:
		return nil, fmt.Errorf("kubernetes: kubeconfig: %w", err)
	}
}

// NewClient connects to the cluster RESTConfig finds, for watchers outside
// the source (the gateway's own Node); client-go's log lines go to log.
func NewClient(kubeconfig string, log *slog.Logger) (kubernetes.Interface, error) {
	if log != nil {
		routeClientLogs(log)
	}
	cfg, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	return cs, nil
}
