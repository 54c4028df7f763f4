package kubernetes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTransformDropsWhatPylonDoesNotRead(t *testing.T) {
	mf := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{ManagedFields: mf, Annotations: map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": "{...}",
		"nginx.ingress.kubernetes.io/rewrite-target":       "/",
		"pylon.io/limit-rps":                               "5",
		"kubernetes.io/ingress.class":                      "pylon",
	}}}
	if _, err := transform(ing); err != nil {
		t.Fatal(err)
	}
	if ing.ManagedFields != nil {
		t.Error("ingress: managedFields kept")
	}
	if len(ing.Annotations) != 3 || ing.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" {
		t.Errorf("ingress annotations: %v", ing.Annotations)
	}

	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ManagedFields: mf}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("x"), "auth": []byte("u:h"),
		"alice": []byte("$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"), "token": []byte("$apr1$" + strings.Repeat("x", 200))}}
	docker := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}}
	tls := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}
	for _, o := range []any{opaque, tls, docker} {
		if _, err := transform(o); err != nil {
			t.Fatal(err)
		}
	}
	// An auth-map Secret holds one password hash per user: those stay too.
	if len(opaque.Data) != 2 || opaque.Data["auth"] == nil || opaque.Data["alice"] == nil || opaque.ManagedFields != nil {
		t.Errorf("opaque secret: kept %v / managedFields; want only the auth key and the hash", opaque.Data)
	}
	if docker.Data != nil {
		t.Errorf("docker config secret kept its data")
	}
	if len(tls.Data) != 2 {
		t.Errorf("tls secret lost its data: %v", tls.Data)
	}

	td := corev1.ServiceTrafficDistributionPreferSameNode
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"a": "b"}}, Spec: corev1.ServiceSpec{TrafficDistribution: &td}}
	zone, node := "eu-1a", "n1"
	slice := &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Name: "p"},
		Zone: &zone, NodeName: &node, Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: zone}}, ForNodes: []discoveryv1.ForNode{{Name: node}}}}}}
	_, _ = transform(svc)
	_, _ = transform(slice)
	if svc.Annotations != nil || slice.Endpoints[0].TargetRef != nil || slice.Endpoints[0].Addresses[0] != "10.0.0.1" {
		t.Errorf("service/slice not trimmed: %v %v", svc.Annotations, slice.Endpoints[0])
	}
	// Where the endpoint runs, and what the Service prefers, are read.
	e := slice.Endpoints[0]
	if svc.Spec.TrafficDistribution == nil || e.Zone == nil || e.NodeName == nil || e.Hints == nil || len(e.Hints.ForZones) != 1 || len(e.Hints.ForNodes) != 1 {
		t.Errorf("topology dropped: trafficDistribution %v, endpoint %+v", svc.Spec.TrafficDistribution, e)
	}
}

func TestUsableEndpointConditions(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name string
		c    discoveryv1.EndpointConditions
		want bool
	}{
		{"unset counts as ready", discoveryv1.EndpointConditions{}, true},
		{"ready", discoveryv1.EndpointConditions{Ready: &yes}, true},
		{"not ready", discoveryv1.EndpointConditions{Ready: &no}, false},
		{"serving, not terminating", discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &no}, true},
		{"serving but terminating", discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}, false},
		{"not serving", discoveryv1.EndpointConditions{Ready: &no, Serving: &no}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := usable(c.c); got != c.want {
				t.Errorf("usable = %v, want %v", got, c.want)
			}
		})
	}
}
