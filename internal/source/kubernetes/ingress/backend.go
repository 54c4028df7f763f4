package ingress

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
)

// backend resolves an Ingress backend to an IR service, creating it on
// first use, and returns its name ("" after recording an error).
func (t *translator) backend(b *networkingv1.IngressBackend, field string) string {
	if b.Resource != nil {
		t.fail("%s.resource: only Service backends are supported", field)
		return ""
	}
	sb := b.Service
	if sb == nil || sb.Name == "" {
		t.fail("%s.service.name: required", field)
		return ""
	}
	return t.service(sb.Name, sb.Port, field+".service")
}

// service resolves a Service port of the Ingress's namespace to an IR
// service, creating it on first use; field names it for errors.
func (t *translator) service(svcName string, bp networkingv1.ServiceBackendPort, field string) string {
	sb := networkingv1.IngressServiceBackend{Name: svcName, Port: bp}
	ns := t.ing.Namespace
	svc, ok := t.l.Service(ns, sb.Name)
	if !ok || svc == nil {
		t.fail("%s.name: unknown service %s/%s", field, ns, sb.Name)
		return ""
	}
	label := sb.Port.Name
	if label == "" {
		label = strconv.Itoa(int(sb.Port.Number))
	}
	name := t.prefix() + sb.Name + "/" + label
	if _, ok := t.svcs[name]; ok {
		return name
	}
	port, found := servicePort(svc, sb.Port)
	s := &ir.Service{Name: name, Discovered: true}
	d, err := serviceDiscovery(svc)
	if err != nil {
		t.fail("%s.name: service %s/%s: %v", field, ns, sb.Name, err)
		return ""
	}
	if d != nil {
		// A discovery provider's service: the provider feeds the pool,
		// not EndpointSlices.
		if !found {
			port = corev1.ServicePort{Port: sb.Port.Number, Name: sb.Port.Name}
		}
		s.Discovered = false
		s.Discovery = d
	} else if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// No EndpointSlices: the external name is the endpoint.
		if !found && sb.Port.Number == 0 {
			t.fail("%s.port: service %s/%s has no port named %q", field, ns, sb.Name, sb.Port.Name)
			return ""
		}
		if !found {
			port = corev1.ServicePort{Port: sb.Port.Number}
		}
		s.Discovered = false
		s.Endpoints = []ir.Endpoint{{Address: net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port.Port)))}}
	} else if !found {
		t.fail("%s.port: service %s/%s has no port %s", field, ns, sb.Name, label)
		return ""
	}
	if s.Discovered {
		s.TrafficDistribution = trafficDistribution(svc)
	}
	t.shapeService(s)
	t.svcs[name] = s
	t.refs = append(t.refs, ServiceRef{Name: name, Namespace: ns, Service: sb.Name, Port: port})
	return name
}

// trafficDistribution is the Service's spec.trafficDistribution when Pylon
// knows the value. An unknown one (a later Kubernetes) is ignored, as the
// EndpointSlice controller ignores values it does not know.
func trafficDistribution(svc *corev1.Service) string {
	td := svc.Spec.TrafficDistribution
	if td == nil {
		return ""
	}
	switch *td {
	case ir.TrafficPreferClose, ir.TrafficPreferSameZone, ir.TrafficPreferSameNode:
		return *td
	}
	return ""
}

// servicePort finds the Service port an Ingress backend names.
func servicePort(svc *corev1.Service, p networkingv1.ServiceBackendPort) (corev1.ServicePort, bool) {
	for _, sp := range svc.Spec.Ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && sp.Port == p.Number) {
			return sp, true
		}
	}
	return corev1.ServicePort{}, false
}

// shapeService applies the annotations that concern the upstream.
func (t *translator) shapeService(s *ir.Service) {
	c := t.cfg
	s.ConnectTimeout = ir.Duration(c.ConnectTimeout)
	s.SendTimeout = ir.Duration(c.SendTimeout)
	tlsUp := false
	switch c.BackendProtocol {
	case "HTTPS":
		tlsUp = true
	case "GRPC", "H2C":
		s.Protocol = ir.UpstreamH2C
	case "GRPCS":
		s.Protocol, tlsUp = ir.UpstreamHTTP2, true
	}
	if tlsUp {
		s.TLS = t.upstreamTLS()
	} else if ps := c.ProxySSL; ps.Secret != nil || ps.Verify != nil || ps.Name != "" || ps.ServerName != nil {
		t.note("proxy-ssl-", annotations.Unsupported, "no effect: backend-protocol is not HTTPS or GRPCS")
	}
	s.TagFallback = c.TagFallback
	s.ZoneAware = c.ZoneAware
	switch c.LoadBalance {
	case "round_robin":
		s.LoadBalancer = ir.LBRoundRobin
	case "ewma":
		s.LoadBalancer = ir.LBEWMA
	case "least_conn":
		s.LoadBalancer = ir.LBLeastRequest
	}
	if h := c.HashBy; h != nil {
		s.LoadBalancer = ir.LBConsistentHash
		s.HashOn = &ir.HashOn{Header: h.Header, Cookie: h.Cookie, ClientIP: h.ClientIP, Path: h.Path}
	}
	if a := c.Affinity; a != nil {
		s.LoadBalancer = ir.LBConsistentHash
		s.HashOn = &ir.HashOn{Cookie: a.CookieName}
	}
}

// upstreamTLS builds TLS toward the upstream. As in ingress-nginx the
// upstream's certificate is not verified unless proxy-ssl-verify is on.
func (t *translator) upstreamTLS() *ir.UpstreamTLS {
	ps := t.cfg.ProxySSL
	u := &ir.UpstreamTLS{InsecureSkipVerify: ps.Verify == nil || !*ps.Verify, ServerName: ps.Name}
	if ps.Secret == nil {
		return u
	}
	ns := ps.Secret.Namespace
	if ns != "" && ns != t.ing.Namespace {
		t.fail("annotation proxy-ssl-secret: secret %s/%s is in another namespace; only the Ingress's own namespace is allowed", ns, ps.Secret.Name)
		return u
	}
	sec, ok := t.l.Secret(t.ing.Namespace, ps.Secret.Name)
	if !ok || sec == nil {
		t.fail("annotation proxy-ssl-secret: secret %s/%s not found", t.ing.Namespace, ps.Secret.Name)
		return u
	}
	crt, key, ca := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey], sec.Data["ca.crt"]
	if (len(crt) == 0) != (len(key) == 0) {
		t.fail("annotation proxy-ssl-secret: secret %s/%s needs both tls.crt and tls.key", t.ing.Namespace, ps.Secret.Name)
	}
	if len(crt) == 0 && len(ca) == 0 {
		t.fail("annotation proxy-ssl-secret: secret %s/%s has neither tls.crt/tls.key nor ca.crt", t.ing.Namespace, ps.Secret.Name)
	}
	u.Cert, u.Key, u.CA = string(crt), string(key), string(ca)
	return u
}
