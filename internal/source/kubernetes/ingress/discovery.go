package ingress

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"pylon.io/pylon/internal/ir"
)

// DiscoveryAnnotation on a Service makes it a backend whose endpoints come
// from a discovery provider of the config's discovery list instead of
// EndpointSlices, as an ExternalName Service names a host outside the
// cluster: its value is a service's discovery block,
// `{provider: nacos, name: orders, group: shop}`.
const DiscoveryAnnotation = "pylon.io/discovery"

// serviceDiscovery reads svc's discovery annotation: nil when it has none.
// Unknown fields are refused, so a typo is not a silently ignored query.
func serviceDiscovery(svc *corev1.Service) (*ir.ServiceDiscovery, error) {
	v, ok := svc.Annotations[DiscoveryAnnotation]
	if !ok {
		return nil, nil
	}
	var d ir.ServiceDiscovery
	if err := yaml.UnmarshalStrict([]byte(v), &d); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", DiscoveryAnnotation, err)
	}
	if d.Provider == "" {
		return nil, fmt.Errorf("annotation %s: provider is required (a name from the discovery list)", DiscoveryAnnotation)
	}
	return &d, nil
}
