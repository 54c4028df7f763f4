package ingress

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func annotated(v string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{DiscoveryAnnotation: v}}}
}

func TestServiceDiscoveryAnnotation(t *testing.T) {
	d, err := serviceDiscovery(annotated("{provider: nacos, name: orders, group: shop, clusters: [a, b]}"))
	if err != nil || d.Provider != "nacos" || d.Name != "orders" || d.Group != "shop" || len(d.Clusters) != 2 {
		t.Fatalf("got %+v, %v", d, err)
	}
	if d, err := serviceDiscovery(&corev1.Service{}); d != nil || err != nil {
		t.Fatalf("no annotation: %+v, %v", d, err)
	}
	for v, want := range map[string]string{
		"{provider: nacos, nmae: orders}": `unknown field "nmae"`,
		"{name: orders}":                  "provider is required",
		"[nacos]":                         "cannot unmarshal",
		"{provider: [x]}":                 "cannot unmarshal",
	} {
		if _, err := serviceDiscovery(annotated(v)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), DiscoveryAnnotation) {
			t.Errorf("%s: %v, want an error naming the annotation and %q", v, err, want)
		}
	}
}

func FuzzServiceDiscoveryAnnotation(f *testing.F) {
	for _, s := range []string{"{provider: nacos, name: orders}", "{provider: d, srv: _http._tcp.x, keepLastKnown: false}", "", "{", "provider: x\nport: 99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := serviceDiscovery(annotated(v))
		if err == nil && (d == nil || d.Provider == "") {
			t.Fatalf("%q: accepted without a provider: %+v", v, d)
		}
	})
}
