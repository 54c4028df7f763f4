package kubernetes

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
	"pylon.io/pylon/internal/source/kubernetes/ingress"
)

// svcRef is the Kubernetes Service port an IR service stands for; its
// endpoints come from that Service's EndpointSlices, whose ports carry the
// Service port's name.
type svcRef struct {
	ns, name string
	portName string
}

// translated is what one Ingress becomes, in the form the source keeps.
type translated struct {
	routes   []ir.Resource
	shared   []sharedRes // services and certificates
	canaries []ingress.Canary
	notes    []note // Events to record on the Ingress
	err      error  // the whole Ingress is rejected; its last good version stays
	// deps are the Services and Secrets the translation looked at, found or
	// not: a change to any of them translates the Ingress again.
	services, secrets []nsName
}

type sharedRes struct {
	res ir.Resource
	svc *svcRef // for services: where their endpoints come from
}

// note is one Event to record on an Ingress; key (default reason) dedups.
type note struct {
	warning      bool
	reason, text string
	key          string
}

// noteKinds is the Event each annotation status is reported with; honoured
// annotations are not reported.
var noteKinds = map[annotations.Status]struct {
	warning bool
	reason  string
}{
	annotations.Approximated: {false, "AnnotationApproximated"},
	annotations.Unsupported:  {true, "AnnotationUnsupported"},
	annotations.Rejected:     {true, "AnnotationRejected"},
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

// translate runs the pure Ingress translation with the informer caches as
// its lookup, and sorts its output for the source.
func (w *watcher) translate(ing *networkingv1.Ingress) translated {
	l := &lookup{w: w}
	w.s.translations.Add(1)
	res := ingress.Translate(ing, l, ingress.Options{})
	t := translated{err: res.Err, canaries: append([]ingress.Canary(nil), res.Canaries...), services: l.services, secrets: l.secrets}
	for _, n := range res.Notes {
		if k, ok := noteKinds[n.Status]; ok {
			t.notes = append(t.notes, note{warning: k.warning, reason: k.reason, key: n.Annotation, text: n.Annotation + ": " + n.Message})
		}
	}
	if res.Err != nil {
		return t
	}
	refs := make(map[string]*svcRef, len(res.Services))
	ports := make(map[string]int32, len(res.Services))
	for _, r := range res.Services {
		refs[r.Name] = &svcRef{ns: r.Namespace, name: r.Service, portName: r.Port.Name}
		ports[r.Name] = r.Port.Port
	}
	// Identical services are shared between Ingresses (see sharedName): the
	// routes and canaries are pointed at the shared name.
	rename := map[string]string{}
	for _, o := range res.Objects {
		if s, ok := o.(*ir.Service); ok && s.Discovered && refs[s.Name] != nil {
			c := *s
			c.Name = sharedName(refs[s.Name], ports[s.Name], s)
			rename[s.Name] = c.Name
			t.shared = append(t.shared, sharedRes{res: &c, svc: refs[s.Name]})
		}
	}
	for _, o := range res.Objects {
		switch r := o.(type) {
		case *ir.Route:
			t.routes = append(t.routes, renameBackends(r, rename))
		case *ir.Service:
			if _, done := rename[r.Name]; !done {
				t.shared = append(t.shared, sharedRes{res: r})
			}
		default:
			t.shared = append(t.shared, sharedRes{res: o})
		}
	}
	for i, c := range t.canaries {
		if n, ok := rename[c.Service]; ok {
			t.canaries[i].Service = n
		}
	}
	return t
}

// sharedName names a service fed by EndpointSlices after what it is: the
// Kubernetes Service, its port and the hash of its shape (load balancing,
// protocol, TLS, timeouts from annotations). Translation makes one service
// per Ingress; Ingresses with the same backend and shape then share one
// upstream pool (its connections, health state and endpoint updates)
// instead of holding one each: 100,000 Ingresses of one Service are one
// pool, not 100,000.
//
// The Service's trafficDistribution is left out of the name: a change of it
// updates the pool in place, as an endpoint change does.
func sharedName(r *svcRef, port int32, s *ir.Service) string {
	c := *s
	c.Name, c.TrafficDistribution = "", ""
	return fmt.Sprintf("service/%s/%d/%08x", r.name, port, uint32(ir.Hash(&c)))
}

// renameBackends points r's backends at the shared names. r is the
// translation's own fresh object, so it is changed in place; routes that
// share a backends slice are renamed once (a shared name is not renamed
// again).
func renameBackends(r *ir.Route, rename map[string]string) *ir.Route {
	for i, b := range r.Backends {
		if n, ok := rename[b.Service]; ok {
			r.Backends[i].Service = n
		}
	}
	return r
}
