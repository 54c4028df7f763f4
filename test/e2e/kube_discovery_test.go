package e2e

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/testenv"
)

// TestKubeDiscoveryService: a Service annotated pylon.io/discovery is an
// Ingress backend whose endpoints come from a provider of pylon's
// discovery list (here a real dnsmasq) instead of EndpointSlices, as an
// ExternalName Service names a host outside the cluster. The provider's
// changes move the traffic with no Kubernetes write; editing the
// annotation points the backend elsewhere; a bad annotation is reported
// on the Ingress, naming the annotation, and the route keeps serving. Two
// Ingresses using the Service have a pool each and share one watch of the
// provider.
func TestKubeDiscoveryService(t *testing.T) {
	t.Parallel()
	env := startKubeEnv(t)
	port := testenv.FreePort(t)
	for i, ip := range []string{"127.0.0.71", "127.0.0.72", "127.0.0.73"} {
		backendAt(t, fmt.Sprintf("d%d", i+1), ip, port)
	}
	env.dns.SetHosts("127.0.0.71 orders.service.test\n127.0.0.73 billing.service.test\n")
	ns := env.namespace(t, "disc")
	annotate := func(v string) {
		t.Helper()
		c := env.kube.Client.CoreV1().Services(ns)
		svc, err := c.Get(env.ctx(), "orders", metav1.GetOptions{})
		if err != nil {
			svc = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		}
		svc.Annotations = map[string]string{"pylon.io/discovery": v}
		if svc.ResourceVersion == "" {
			_, err = c.Create(env.ctx(), svc, metav1.CreateOptions{})
		} else {
			_, err = c.Update(env.ctx(), svc, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	annotate(fmt.Sprintf("{provider: test-dns, name: orders.service.test, port: %d}", port))
	env.create(t, ingress(ns, "orders", "orders.kube.test", "/", networkingv1.PathTypePrefix, "orders"))
	soon(t, "the provider's endpoint served", func() string { return want(env.get("orders.kube.test", "/"), 200, "d1") })

	env.create(t, ingress(ns, "orders-b", "orders-b.kube.test", "/", networkingv1.PathTypePrefix, "orders"))
	soon(t, "a second Ingress on the Service served", func() string { return want(env.get("orders-b.kube.test", "/"), 200, "d1") })
	shared := func(step string) {
		t.Helper()
		soon(t, step+": two pools, one watch of the provider", func() string {
			m := env.gw.get("/metrics")
			if !strings.Contains(m, `pylon_discovery_endpoints{provider="test-dns",service="`+ns+`/ingress/`+ns+`/orders/orders/80"} 1`) ||
				!strings.Contains(m, `pylon_discovery_endpoints{provider="test-dns",service="`+ns+`/ingress/`+ns+`/orders-b/orders/80"} 1`) {
				return "want a discovered pool per Ingress, each with 1 endpoint:\n" + grepLines(m, "pylon_discovery")
			}
			if w := grepLines(m, `pylon_discovery_provider_watches{provider="test-dns"}`); w != `pylon_discovery_provider_watches{provider="test-dns"} 1` {
				return "provider watches: " + w
			}
			return ""
		})
	}
	shared("one Service, two Ingresses")

	env.dns.SetHosts("127.0.0.72 orders.service.test\n127.0.0.73 billing.service.test\n")
	for _, host := range []string{"orders.kube.test", "orders-b.kube.test"} {
		soon(t, host+": the provider's new endpoint served", func() string { return want(env.get(host, "/"), 200, "d2") })
	}

	annotate(fmt.Sprintf("{provider: test-dns, name: billing.service.test, port: %d}", port))
	for _, host := range []string{"orders.kube.test", "orders-b.kube.test"} {
		soon(t, host+": the annotation's new query served", func() string { return want(env.get(host, "/"), 200, "d3") })
	}
	shared("the annotation re-pointed")

	annotate("{provider: test-dns, nmae: billing.service.test}")
	soon(t, "the bad annotation reported on the Ingress", func() string {
		if ev := env.events(t, ns, "orders"); !strings.Contains(ev, "pylon.io/discovery") {
			return "events: " + ev
		}
		return ""
	})
	if msg := want(env.get("orders.kube.test", "/"), 200, "d3"); msg != "" {
		t.Errorf("with a bad annotation, the route stopped serving its last good backend: %s", msg)
	}
}
