package kubernetes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"pylon.io/pylon/internal/ir"
)

// TagLabel is the Pod label whose value tags the Pod's endpoints for
// full-link gray (see ir.Route.TagHeader): a request tagged "gray" goes to
// the endpoints of Pods labelled pylon.io/tag: gray. One tag per Pod: a
// label value cannot hold a list.
//
// Only Pods carrying the label are watched (a label selector), and of
// them only name, namespace and this label are kept: a cluster's other
// Pods, 100,000 of them, never enter a cache. The price is that a Pod the
// cache does not hold is either unlabelled or not seen yet: the two look
// alike. Pylon reads it as unlabelled, and tags the Pod's endpoints when
// its event arrives. At start no endpoint is set before the Pod list is
// in; after, a Pod is listed from its creation, seconds before its
// endpoint becomes ready, so the window is the lag between the Pod and
// the EndpointSlice watches, or a relabel's own propagation.
const TagLabel = "pylon.io/tag"

// sliceByPodIndex indexes EndpointSlices by the Pods their endpoints
// name ("namespace/name"), so a Pod whose tag changes finds the slices to
// read again. It costs an index entry per Pod behind any slice (the index
// cannot know which Pods are tagged), about what the slice's own copy of
// the reference costs.
const sliceByPodIndex = "pylon-pod"

// slicePodKeys lists the Pods an EndpointSlice's endpoints name.
func slicePodKeys(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, e := range s.Endpoints {
		if r := e.TargetRef; r != nil && r.Kind == "Pod" && r.Name != "" {
			ns := r.Namespace
			if ns == "" {
				ns = s.Namespace
			}
			out = append(out, ns+"/"+r.Name)
		}
	}
	return out, nil
}

// podTransform keeps what the tag needs of a Pod: its name, namespace,
// version (updates are told apart by it) and TagLabel.
func podTransform(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, ResourceVersion: p.ResourceVersion}}
	if v, ok := p.Labels[TagLabel]; ok {
		out.Labels = map[string]string{TagLabel: v}
	}
	return out, nil
}

// newPodInformer watches the Pods that carry TagLabel, in the watched
// namespace if one is set.
func (w *watcher) newPodInformer() (informers.SharedInformerFactory, cache.SharedIndexInformer) {
	opts := []informers.SharedInformerOption{
		informers.WithTransform(podTransform),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = TagLabel }),
	}
	if ns := w.s.o.WatchNamespace; ns != "" {
		opts = append(opts, informers.WithNamespace(ns))
	}
	f := informers.NewSharedInformerFactoryWithOptions(w.s.client, 0, opts...)
	inf := f.Core().V1().Pods().Informer()
	_ = inf.SetWatchErrorHandler(func(r *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) {
			if !w.podsForbidden.Swap(true) {
				w.s.log.Error("kubernetes: pods cannot be listed (RBAC: list and watch on pods); endpoints are not tagged from the "+TagLabel+" label until they can", "error", err.Error())
			}
			return
		}
		cache.DefaultWatchErrorHandler(context.Background(), r, err)
	})
	return f, inf
}

// podLabel returns a cached Pod's TagLabel, and whether it has one.
func podLabel(obj any) (string, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return "", false
	}
	v, ok := p.Labels[TagLabel]
	return v, ok
}

// podTag returns the tag of the Pod ns/name: its TagLabel if the Pod is
// cached and the value is a valid tag (retag reports invalid ones), else
// "".
func (w *watcher) podTag(ns, name string) string {
	obj, ok, err := w.in.pods.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return ""
	}
	if v, _ := podLabel(obj); ir.ValidTag(v) {
		return v
	}
	return ""
}

// retag handles a change of the Pod nn's tag (labelled, relabelled,
// unlabelled or deleted): the slices naming it are read again and their
// Services' endpoints set. A value that cannot be a tag is dropped with a
// message, and the Pod's endpoints stay untagged.
func (w *watcher) retag(nn nsName, endpoints map[nsName]struct{}) {
	if obj, ok, _ := w.in.pods.GetIndexer().GetByKey(nn.String()); ok {
		if v, _ := podLabel(obj); !ir.ValidTag(v) {
			w.s.log.Warn("kubernetes: pod tag dropped: "+TagLabel+" must be 1-63 printable ASCII characters without spaces or commas", "pod", nn.String(), "tag", fmt.Sprintf("%q", v))
		}
	}
	objs, err := w.in.slices.GetIndexer().ByIndex(sliceByPodIndex, nn.String())
	if err != nil {
		return
	}
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		svc := s.Labels[serviceNameLabel]
		if svc == "" {
			continue
		}
		sn := nsName{s.Namespace, svc}
		w.slices.invalidate(sn, s.Name)
		if len(w.svcObjs[sn]) > 0 {
			endpoints[sn] = struct{}{} // else no route uses it: no pool to set
		}
	}
}
