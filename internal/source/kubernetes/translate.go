package kubernetes

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
)

// svcRef is the Kubernetes Service port an IR service stands for; its
// endpoints come from that Service's EndpointSlices.
type svcRef struct {
	ns, name string
	number   int32  // the Service port's number, or 0 when named
	portName string // the Service port's name when number is 0
}

// translated is what one Ingress becomes.
type translated struct {
	routes []ir.Resource
	shared []sharedRes // services and certificates, shared between Ingresses
	notes  []note      // Events to record on the Ingress
	err    error       // the whole Ingress is rejected; its last good version stays
	// deps are the Services and Secrets the translation looked at, found or
	// not: a change to any of them translates the Ingress again.
	services, secrets []nsName
}

type sharedRes struct {
	res ir.Resource
	svc *svcRef // for services: where their endpoints come from
}

// note is one Event to record on an Ingress.
type note struct {
	warning      bool
	reason, text string
}

// lookup reads Services and Secrets from the informer caches and remembers
// what was asked, found or not.
type lookup struct {
	w                 *watcher
	services, secrets []nsName
}

func (l *lookup) Service(ns, name string) (*corev1.Service, bool) {
	l.services = append(l.services, nsName{ns, name})
	obj, ok, err := l.w.in.services.GetStore().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	s, ok := obj.(*corev1.Service)
	return s, ok
}

func (l *lookup) Secret(ns, name string) (*corev1.Secret, bool) {
	l.secrets = append(l.secrets, nsName{ns, name})
	obj, ok, err := l.w.in.secrets.GetStore().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	s, ok := obj.(*corev1.Secret)
	return s, ok
}

// translate turns one Ingress into IR objects: a route per rule path (an
// element-wise Prefix path becomes an exact and a prefix route), a service
// per referenced Service port, a certificate per TLS Secret, and a
// catch-all route for spec.defaultBackend.
func (w *watcher) translate(ing *networkingv1.Ingress) translated {
	l := &lookup{w: w}
	t := translated{}
	fail := func(format string, args ...any) translated {
		return translated{err: fmt.Errorf(format, args...), services: l.services, secrets: l.secrets}
	}
	seenSvc := map[string]bool{}
	backend := func(field string, b *networkingv1.IngressBackend) (string, error) {
		if b == nil || b.Service == nil {
			return "", fmt.Errorf("ingress %s/%s: %s: only service backends are supported", ing.Namespace, ing.Name, field)
		}
		s, ok := l.Service(ing.Namespace, b.Service.Name)
		if !ok {
			return "", fmt.Errorf("ingress %s/%s: %s.service.name: unknown service %q", ing.Namespace, ing.Name, field, b.Service.Name)
		}
		ref := svcRef{ns: ing.Namespace, name: b.Service.Name, number: b.Service.Port.Number, portName: b.Service.Port.Name}
		if servicePort(s, ref) == nil {
			return "", fmt.Errorf("ingress %s/%s: %s.service.port: service %q has no port %s", ing.Namespace, ing.Name, field, b.Service.Name, ref.port())
		}
		name := "svc/" + b.Service.Name + "/" + ref.port()
		if !seenSvc[name] {
			seenSvc[name] = true
			t.shared = append(t.shared, sharedRes{res: &ir.Service{Name: name, Discovered: true}, svc: &ref})
		}
		return name, nil
	}
	for i, tls := range ing.Spec.TLS {
		if tls.SecretName == "" {
			continue
		}
		sec, ok := l.Secret(ing.Namespace, tls.SecretName)
		if !ok {
			return fail("ingress %s/%s: spec.tls[%d].secretName: missing Secret %q", ing.Namespace, ing.Name, i, tls.SecretName)
		}
		crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
		if len(crt) == 0 || len(key) == 0 {
			return fail("ingress %s/%s: spec.tls[%d].secretName: Secret %q has no tls.crt/tls.key", ing.Namespace, ing.Name, i, tls.SecretName)
		}
		t.shared = append(t.shared, sharedRes{res: &ir.Certificate{Name: "tls/" + tls.SecretName, Cert: string(crt), Key: string(key)}})
	}
	if db := ing.Spec.DefaultBackend; db != nil {
		svc, err := backend("spec.defaultBackend", db)
		if err != nil {
			return fail("%w", err)
		}
		t.routes = append(t.routes, &ir.Route{Name: "ing/" + ing.Name + "/default", Priority: -1000, Backends: []ir.Backend{{Service: svc}}})
	}
	for ri, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var hosts []string
		if rule.Host != "" {
			hosts = []string{rule.Host}
		}
		for pi, p := range rule.HTTP.Paths {
			field := fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi)
			svc, err := backend(field+".backend", &p.Backend)
			if err != nil {
				return fail("%w", err)
			}
			path := p.Path
			if path == "" {
				path = "/"
			}
			if !strings.HasPrefix(path, "/") {
				return fail("ingress %s/%s: %s.path: must start with '/' (got %q)", ing.Namespace, ing.Name, field, path)
			}
			name := "ing/" + ing.Name + "/" + strconv.Itoa(ri) + "/" + strconv.Itoa(pi)
			mk := func(suffix string, m ir.PathMatch) {
				t.routes = append(t.routes, &ir.Route{Name: name + suffix, Hosts: hosts, Match: ir.RouteMatch{Path: &m}, Backends: []ir.Backend{{Service: svc}}})
			}
			pt := networkingv1.PathTypeImplementationSpecific
			if p.PathType != nil {
				pt = *p.PathType
			}
			switch {
			case pt == networkingv1.PathTypeExact:
				mk("", ir.PathMatch{Exact: path})
			case pt == networkingv1.PathTypePrefix && path != "/":
				// Prefix matches by path element: /foo serves /foo and
				// /foo/bar, not /foobar.
				base := strings.TrimRight(path, "/")
				mk("/e", ir.PathMatch{Exact: base})
				mk("/p", ir.PathMatch{Prefix: base + "/"})
			default:
				mk("", ir.PathMatch{Prefix: path})
			}
		}
	}
	t.services, t.secrets = l.services, l.secrets
	return t
}

func (r svcRef) port() string {
	if r.number != 0 {
		return strconv.Itoa(int(r.number))
	}
	return r.portName
}

// servicePort finds the Service port a reference names.
func servicePort(s *corev1.Service, r svcRef) *corev1.ServicePort {
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if (r.number != 0 && p.Port == r.number) || (r.number == 0 && p.Name == r.portName) {
			return p
		}
	}
	return nil
}
