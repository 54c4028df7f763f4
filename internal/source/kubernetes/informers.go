package kubernetes

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"pylon.io/pylon/internal/source/kubernetes/ingress"
)

// Annotations Pylon reads on an Ingress; the informer cache drops the rest.
var keptAnnotationPrefixes = []string{"nginx.ingress.kubernetes.io/", "pylon.io/"}

// secretKeysRead are the keys of non-TLS Secrets that Pylon reads.
var secretKeysRead = map[string]bool{"auth": true, "ca.crt": true, "ca.crl": true, corev1.TLSCertKey: true, corev1.TLSPrivateKeyKey: true}

const (
	legacyClassAnnotation  = "kubernetes.io/ingress.class"
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	serviceNameLabel       = discoveryv1.LabelServiceName
	sliceByServiceIndex    = "pylon-service"
)

// transform trims every object before it enters an informer cache: at
// 100,000 Ingresses the managedFields alone would be most of the memory,
// and a cluster's non-TLS Secrets (tokens, dockerconfigs) are not ours to
// hold.
func transform(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		o.Annotations = keepAnnotations(o.Annotations, func(k string) bool {
			if k == legacyClassAnnotation {
				return true
			}
			for _, p := range keptAnnotationPrefixes {
				if strings.HasPrefix(k, p) {
					return true
				}
			}
			return false
		})
	case *networkingv1.IngressClass:
		o.Annotations = keepAnnotations(o.Annotations, func(k string) bool { return k == defaultClassAnnotation })
	case *corev1.Service:
		// The spec stays: ports, type, and trafficDistribution.
		o.Annotations = keepAnnotations(o.Annotations, func(k string) bool { return k == ingress.DiscoveryAnnotation })
		o.Status = corev1.ServiceStatus{}
	case *discoveryv1.EndpointSlice:
		o.Annotations = nil
		for i := range o.Endpoints {
			// Addresses, conditions, ports, and where the endpoint runs
			// (zone, nodeName, hints) are read; of the target, only which
			// Pod it is (its tag label, see podtags.go).
			e := &o.Endpoints[i]
			if r := e.TargetRef; r != nil && r.Kind == "Pod" {
				e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: r.Namespace, Name: r.Name}
			} else {
				e.TargetRef = nil
			}
			e.DeprecatedTopology = nil
		}
	case *corev1.Secret:
		o.Annotations = nil
		o.StringData = nil
		switch o.Type {
		case corev1.SecretTypeTLS:
		case corev1.SecretTypeOpaque, "":
			// Opaque Secrets may hold what annotations name (an htpasswd
			// file for auth-secret, a CA for proxy-ssl-secret, one password
			// hash per user for auth-secret-type: auth-map): only those
			// keys, and values shaped like a password hash, stay.
			for k, v := range o.Data {
				if !secretKeysRead[k] && !passwordHash(v) {
					delete(o.Data, k)
				}
			}
		default:
			o.Data = nil
		}
	}
	return obj, nil
}

// passwordHash reports whether v looks like one htpasswd hash (bcrypt,
// Apache MD5, SHA-1): what an auth-map Secret holds per user. Anything else
// in an Opaque Secret (tokens, keys, config) is not kept.
func passwordHash(v []byte) bool {
	if len(v) > 128 {
		return false
	}
	for _, p := range []string{"$2y$", "$2a$", "$2b$", "$apr1$", "{SHA}"} {
		if strings.HasPrefix(string(v), p) {
			return true
		}
	}
	return false
}

func keepAnnotations(in map[string]string, keep func(string) bool) map[string]string {
	var out map[string]string
	for k, v := range in {
		if keep(k) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// sliceServiceKey indexes EndpointSlices by the Service they belong to, so
// a Service's endpoints are found without scanning its namespace.
func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[serviceNameLabel]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

// informerSet holds the shared informers of one watcher. Namespaced kinds
// come from a factory limited to --watch-namespace when it is set, so a
// restricted controller never lists Secrets cluster-wide; IngressClasses
// are cluster-scoped.
type informerSet struct {
	factory   informers.SharedInformerFactory
	cluster   informers.SharedInformerFactory
	ingresses cache.SharedIndexInformer
	classes   cache.SharedIndexInformer
	services  cache.SharedIndexInformer
	slices    cache.SharedIndexInformer
	secrets   cache.SharedIndexInformer
	// pods holds only the Pods that carry TagLabel, from a factory of
	// their own (its list options select them).
	podFactory informers.SharedInformerFactory
	pods       cache.SharedIndexInformer
}

func (w *watcher) newInformers() *informerSet {
	opts := []informers.SharedInformerOption{informers.WithTransform(transform)}
	if ns := w.s.o.WatchNamespace; ns != "" {
		opts = append(opts, informers.WithNamespace(ns))
	}
	f := informers.NewSharedInformerFactoryWithOptions(w.s.client, 0, opts...)
	cf := informers.NewSharedInformerFactoryWithOptions(w.s.client, 0, informers.WithTransform(transform))
	in := &informerSet{
		factory:   f,
		cluster:   cf,
		ingresses: f.Networking().V1().Ingresses().Informer(),
		classes:   cf.Networking().V1().IngressClasses().Informer(),
		services:  f.Core().V1().Services().Informer(),
		slices:    f.Discovery().V1().EndpointSlices().Informer(),
		secrets:   f.Core().V1().Secrets().Informer(),
	}
	_ = in.slices.AddIndexers(cache.Indexers{sliceByServiceIndex: sliceServiceKey, sliceByPodIndex: slicePodKeys})
	in.podFactory, in.pods = w.newPodInformer()
	return in
}

// handler turns informer notifications into queued keys. Updates whose
// object did not change (resyncs) are dropped here.
func (w *watcher) handler(kind qkind) cache.ResourceEventHandler {
	key := func(obj any) (qkey, bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return qkey{}, false
		}
		if kind == kSlice {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				name := s.Labels[serviceNameLabel]
				if name == "" {
					return qkey{}, false
				}
				return qkey{kind: kSlice, ns: m.GetNamespace(), name: name}, true
			}
		}
		return qkey{kind: kind, ns: m.GetNamespace(), name: m.GetName()}, true
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if k, ok := key(obj); ok {
				w.q.add(k)
			}
		},
		UpdateFunc: func(old, obj any) {
			if a, b := metaOf(old), metaOf(obj); a != nil && b != nil && a.GetResourceVersion() == b.GetResourceVersion() {
				return
			}
			if kind == kPod {
				// A Pod's status changes often; only its tag counts.
				a, okA := podLabel(old)
				b, okB := podLabel(obj)
				if a == b && okA == okB {
					return
				}
			}
			if statusOnly(old, obj) {
				// Nothing to translate; the status writer still checks
				// it, so a status someone wiped or changed is put back.
				if m := metaOf(obj); m != nil && w.onApplied != nil {
					w.onApplied(nsName{m.GetNamespace(), m.GetName()})
				}
				return
			}
			if k, ok := key(obj); ok {
				w.q.add(k)
			}
			if kind == kSlice {
				// A slice relabelled to another Service changes both.
				if k, ok := key(old); ok {
					w.q.add(k)
				}
			}
		},
		DeleteFunc: func(obj any) {
			if k, ok := key(obj); ok {
				w.q.add(k)
			}
		},
	}
}

// statusOnly reports an Ingress update that changed neither its spec
// (generation) nor its annotations: the leader's own status writes, which
// would otherwise translate every Ingress again.
func statusOnly(old, obj any) bool {
	a, ok1 := old.(*networkingv1.Ingress)
	b, ok2 := obj.(*networkingv1.Ingress)
	return ok1 && ok2 && a.Generation == b.Generation && a.Generation != 0 && maps.Equal(a.Annotations, b.Annotations)
}

func metaOf(obj any) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}
