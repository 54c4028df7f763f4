package kubernetes

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/testenv"
)

// The replicas a cluster-mode limit divides by follow the ready endpoints
// of Pylon's own Service in a real apiserver.
func TestPeersFollowReadyEndpoints(t *testing.T) {
	kube := testenv.StartKube(t)
	cs := kube.Client
	mustCreate(t, cs.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pylon-system"}})
	p := NewPeers(cs, "pylon-system", "pylon", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = p.Run(ctx) }()
	if p.Live() != 1 {
		t.Fatalf("before any endpoint: %d, want 1 (this replica)", p.Live())
	}
	yes, no := true, false
	endpoint := func(addr string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "pylon-system", Name: "pylon-1", Labels: map[string]string{discoveryv1.LabelServiceName: "pylon"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{endpoint("10.9.0.1", &yes), endpoint("10.9.0.2", &yes), endpoint("10.9.0.3", &yes)},
	}
	changed := p.Changed()
	mustCreate(t, cs.DiscoveryV1().EndpointSlices("pylon-system").Create, slice)
	// Another Service's endpoints do not count.
	other := slice.DeepCopy()
	other.Name, other.Labels = "web-1", map[string]string{discoveryv1.LabelServiceName: "web"}
	mustCreate(t, cs.DiscoveryV1().EndpointSlices("pylon-system").Create, other)
	<-changed
	waitFor(t, "3 replicas", func() bool { return p.Live() == 3 })

	slice.Endpoints[2] = endpoint("10.9.0.3", &no)
	if _, err := cs.DiscoveryV1().EndpointSlices("pylon-system").Update(context.Background(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 replicas once one is not ready", func() bool { return p.Live() == 2 })
}
