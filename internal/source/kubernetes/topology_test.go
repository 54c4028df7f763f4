package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/upstream"
	"pylon.io/pylon/test/testenv"
)

// TestTopologyReachesThePool: the EndpointSlices' zone, nodeName and hints
// and the Service's trafficDistribution reach the pool, which prefers by
// them; a trafficDistribution change updates the same pool in place.
func TestTopologyReachesThePool(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	ns := "topo"
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	svc := service(ns, "web")
	svc.Spec.TrafficDistribution = ptrTo(corev1.ServiceTrafficDistributionPreferSameNode)
	mustCreate(t, cs.CoreV1().Services(ns).Create, svc)
	mustCreate(t, cs.NetworkingV1().Ingresses(ns).Create, testIngress(ns, "web", "web.test", "web"))
	ready, port := true, int32(8080)
	at := func(ip, zone, node string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}, Zone: &zone, NodeName: &node}
	}
	// No hints: trafficDistribution decides over the zones and nodes.
	mustCreate(t, cs.DiscoveryV1().EndpointSlices(ns).Create, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{at("10.1.0.1", "zone-a", "n1"), at("10.1.0.2", "zone-a", "n2"), at("10.1.0.3", "zone-b", "n3")},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: &port}},
	})
	c := startSource(t, kube, Options{})
	c.pools.SetLocality(upstream.Locality{Zone: "zone-a", Node: "n1"})
	var name string
	for _, o := range c.comp.Objects() {
		if o.Key.Kind == ir.KindService {
			name = o.Key.DisplayName()
		}
	}
	pool := func() *upstream.Pool { return c.pools.Get(name) }
	picked := func() string {
		p := pool()
		if p == nil {
			return "(no pool " + name + ")"
		}
		got := map[string]bool{}
		for range 200 {
			if e := p.Pick(nil, nil); e != nil {
				got[e.Address()] = true
			}
		}
		var out []string
		for a := range got {
			out = append(out, strings.TrimSuffix(a, ":8080"))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	waitFor(t, "the node's endpoint only (PreferSameNode)", func() bool { return pool() != nil && picked() == "10.1.0.1" })
	p := pool()
	setTD := func(td *string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := cs.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Spec.TrafficDistribution = td
			_, err = cs.CoreV1().Services(ns).Update(context.Background(), s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setTD(ptrTo(corev1.ServiceTrafficDistributionPreferSameZone))
	waitFor(t, "the zone's endpoints (PreferSameZone)", func() bool { return picked() == "10.1.0.1 10.1.0.2" })
	setTD(nil)
	waitFor(t, "every endpoint (no trafficDistribution)", func() bool { return picked() == "10.1.0.1 10.1.0.2 10.1.0.3" })
	if pool() != p {
		t.Error("a trafficDistribution change replaced the pool")
	}
	// Hints on every endpoint count without a trafficDistribution, as
	// kube-proxy reads them (here: the controller's topology-mode Auto
	// lent zone-b's endpoint to zone-a).
	s, err := cs.DiscoveryV1().EndpointSlices(ns).Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range []string{"zone-b", "zone-b", "zone-a"} {
		s.Endpoints[i].Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: z}}}
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the endpoint hinted for zone-a", func() bool { return picked() == "10.1.0.3" })
	if pool() != p {
		t.Error("an EndpointSlice change replaced the pool")
	}
}
