package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// TestKubeSplitControlPlane runs the split deployment: a controller
// (--kubernetes --kubernetes-publish) translates the cluster's Ingresses and
// publishes them to etcd, and a gateway node that has never seen the
// apiserver (--store on the same etcd) serves them, endpoints included.
// A controller restarted after an Ingress was deleted behind its back
// removes it from the fleet.
func TestKubeSplitControlPlane(t *testing.T) {
	t.Parallel()
	kube, netns, etcd := testenv.StartKube(t), testenv.StartNetns(t), testenv.StartEtcd(t, testenv.WithoutFsync())
	netns.StartEcho(t, "web1", 8081)
	netns.StartEcho(t, "web2", 8082)
	env := &kubeEnv{t: t, kube: kube, netns: netns}
	ns := env.namespace(t, "split")
	env.service(t, ns, "app", 8081)
	env.create(t, ingress(ns, "shop", "shop.example.com", "/", networkingv1.PathTypePrefix, "app"))
	env.create(t, ingress(ns, "blog", "blog.example.com", "/", networkingv1.PathTypePrefix, "app"))

	store := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	ctlListen := testenv.FreeAddr(t)
	ctlCfg := fmt.Sprintf("listeners:\n  - name: web\n    address: %s\n    protocol: http\n", ctlListen)
	ctlArgs := []string{"--kubernetes", "--kubeconfig", kube.Kubeconfig, "--kubernetes-publish", store}
	ctl := startGateway(t, ctlCfg, ctlArgs...)
	node := startNode(t, "fleet-1", backends.StartHTTP(t, "file"), store, "")

	get := func(addr, host string) answer {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		return doKube(&http.Client{Timeout: 3 * time.Second}, req)
	}
	for _, host := range []string{"shop.example.com", "blog.example.com"} {
		soon(t, "the node serves "+host, func() string { return want(get(node.listen, host), 200, "web1") })
	}
	if msg := want(get(ctlListen, "shop.example.com"), 200, "web1"); msg != "" {
		t.Errorf("the controller serves what it publishes too: %s", msg)
	}
	// Endpoints reach the fleet through the store, without a translation.
	env.slice(t, ns, "app", "app", 8082, true)
	soon(t, "the node follows the EndpointSlice", func() string { return want(get(node.listen, "shop.example.com"), 200, "web2") })

	// The controller stops; an Ingress is deleted meanwhile; a restarted
	// controller takes the lead again and removes it from the store.
	if err := ctl.proc.Stop(); err != nil {
		t.Logf("controller stop: %v", err)
	}
	if err := kube.Client.NetworkingV1().Ingresses(ns).Delete(env.ctx(), "blog", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if msg := want(get(node.listen, "blog.example.com"), 200, "web2"); msg != "" {
		t.Errorf("with no controller the node keeps serving the last published config: %s", msg)
	}
	ctl = startGateway(t, ctlCfg, ctlArgs...)
	soon(t, "the deleted Ingress leaves the fleet", func() string {
		if a := get(node.listen, "blog.example.com"); a.err != nil || a.status != 404 {
			return fmt.Sprintf("blog: %d %v, want 404", a.status, a.err)
		}
		return ""
	})
	if msg := want(get(node.listen, "shop.example.com"), 200, "web2"); msg != "" {
		t.Errorf("shop after the controller's restart: %s", msg)
	}
	// A new Ingress after the restart is published as it comes.
	env.create(t, ingress(ns, "news", "news.example.com", "/", networkingv1.PathTypePrefix, "app"))
	soon(t, "a new Ingress reaches the node", func() string { return want(get(node.listen, "news.example.com"), 200, "web2") })
}
