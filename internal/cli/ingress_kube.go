package cli

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	kubesource "pylon.io/pylon/internal/source/kubernetes"
)

// kubeObjects lists Ingresses from a cluster and looks up Services and
// Secrets there, one GET each: a check reads far fewer than a controller.
type kubeObjects struct {
	ctx       context.Context
	c         kubernetes.Interface
	ingresses []*networkingv1.Ingress
	denied    map[string]bool // Secrets the user may not read
}

// kubeInventory connects as `pylon run --kubernetes` and kubectl do (see
// kubesource.RESTConfig) and lists Ingresses.
func kubeInventory(ctx context.Context, kubeconfig, namespace string) (*kubeObjects, error) {
	cfg, err := kubesource.RESTConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("ingress check: %w", err)
	}
	cfg.Timeout = 30 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("ingress check: %w", err)
	}
	k := &kubeObjects{ctx: ctx, c: c, denied: map[string]bool{}}
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := c.NetworkingV1().Ingresses(namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("ingress check: list ingresses: %w", err)
		}
		for i := range list.Items {
			k.ingresses = append(k.ingresses, &list.Items[i])
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return k, nil
		}
	}
}

func (k *kubeObjects) Service(ns, name string) (*corev1.Service, bool) {
	s, err := k.c.CoreV1().Services(ns).Get(k.ctx, name, metav1.GetOptions{})
	return s, err == nil
}

func (k *kubeObjects) Secret(ns, name string) (*corev1.Secret, bool) {
	s, err := k.c.CoreV1().Secrets(ns).Get(k.ctx, name, metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		k.denied[ns+"/"+name] = true
	}
	return s, err == nil
}

// forbidden reports whether reading the Secret was refused.
func (k *kubeObjects) forbidden(ns, name string) bool { return k.denied[ns+"/"+name] }
