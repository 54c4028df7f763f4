package kubernetes

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// ours reports whether Pylon serves ing:
//   - spec.ingressClassName names the --ingress-class, and the IngressClass
//     of that name either does not exist or has controller
//     pylon.io/ingress-controller (a class of that name owned by another
//     controller is not ours);
//   - without a class name, the legacy kubernetes.io/ingress.class
//     annotation equals the --ingress-class;
//   - with neither, the --ingress-class IngressClass is ours and carries
//     ingressclass.kubernetes.io/is-default-class: "true".
func (w *watcher) ours(ing *networkingv1.Ingress) bool {
	want := w.s.o.IngressClass
	if cn := ing.Spec.IngressClassName; cn != nil && *cn != "" {
		if *cn != want {
			return false
		}
		c, ok := w.class(want)
		return !ok || c.Spec.Controller == ControllerName
	}
	if a, ok := ing.Annotations[legacyClassAnnotation]; ok {
		return a == want
	}
	c, ok := w.class(want)
	return ok && c.Spec.Controller == ControllerName && c.Annotations[defaultClassAnnotation] == "true"
}

func (w *watcher) class(name string) (*networkingv1.IngressClass, bool) {
	obj, ok, err := w.in.classes.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	c, ok := obj.(*networkingv1.IngressClass)
	return c, ok
}
