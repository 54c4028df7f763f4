package ingress

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
)

// FuzzTranslate varies the path, path type, host and one annotation of an
// Ingress: translation never panics, a rejection returns no objects, and
// whatever it accepts passes IR validation.
func FuzzTranslate(f *testing.F) {
	f.Add("/api(/|$)(.*)", uint8(2), "app.example.com", "rewrite-target", "/$2")
	f.Add("/foo/", uint8(1), "", "canary", "true")
	f.Add("/", uint8(0), "*.example.com", "app-root", "/app")
	f.Add("/x", uint8(1), "a.example.com", "use-regex", "true")
	ing, l := readInput(f, "testdata/nginx-plugins.in.yaml")
	f.Fuzz(func(t *testing.T, path string, kind uint8, host, ann, value string) {
		in := ing.DeepCopy()
		types := []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific}
		rule := &in.Spec.Rules[0]
		rule.Host = host
		rule.HTTP.Paths[0].Path = path
		rule.HTTP.Paths[0].PathType = &types[int(kind)%len(types)]
		in.Annotations[annotations.NginxPrefix+ann] = value
		res := Translate(in, l, Options{})
		if res.Err != nil {
			if len(res.Objects) > 0 {
				t.Fatal("rejected with objects")
			}
			return
		}
		for _, o := range res.Objects {
			if err := o.Validate(); err != nil {
				t.Fatalf("accepted an invalid object: %v", err)
			}
			if r, ok := o.(*ir.Route); ok && !strings.HasPrefix(r.Name, "ingress/default/plugins/") {
				t.Fatalf("route name %q", r.Name)
			}
		}
	})
}
