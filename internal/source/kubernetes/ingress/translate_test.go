package ingress

import (
	"testing"

	"pylon.io/pylon/internal/ir"
)

func TestNoDefaultSSLRedirect(t *testing.T) {
	ing, l := readInput(t, "testdata/tls.in.yaml")
	for _, tc := range []struct {
		opts Options
		ann  string
		want bool
	}{
		{Options{}, "", true},
		{Options{NoDefaultSSLRedirect: true}, "", false},
		{Options{NoDefaultSSLRedirect: true}, "true", true}, // the annotation turns it back on
	} {
		in := ing.DeepCopy()
		if tc.ann != "" {
			in.Annotations = map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": tc.ann}
		}
		res := Translate(in, l, tc.opts)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		got := false
		for _, o := range res.Objects {
			if r, ok := o.(*ir.Route); ok {
				for _, p := range r.Plugins {
					got = got || p.Name == "redirect"
				}
			}
		}
		if got != tc.want {
			t.Errorf("%+v with ssl-redirect %q: redirect %v, want %v", tc.opts, tc.ann, got, tc.want)
		}
	}
}

func TestTranslateIsDeterministic(t *testing.T) {
	ing, l := readInput(t, "testdata/nginx-plugins.in.yaml")
	a, b := Translate(ing, l, Options{}), Translate(ing.DeepCopy(), l, Options{})
	if len(a.Objects) != len(b.Objects) {
		t.Fatal("object counts differ")
	}
	for i := range a.Objects {
		if ir.Hash(a.Objects[i]) != ir.Hash(b.Objects[i]) {
			t.Errorf("%s differs between two translations", a.Objects[i].ResourceName())
		}
	}
}

func TestApplyCanaryLeavesOtherRoutes(t *testing.T) {
	c := Canary{Service: "canary", Weight: 10, Total: 100}
	for _, r := range []*ir.Route{
		{Name: "redirect", Redirect: &ir.Redirect{Path: "/x"}},
		{Name: "split", Backends: []ir.Backend{{Service: "a"}, {Service: "b"}}},
	} {
		if got := ApplyCanary(r, c); got != r {
			t.Errorf("%s changed", r.Name)
		}
	}
	main := &ir.Route{Name: "main", Backends: []ir.Backend{{Service: "main"}}, Plugins: []ir.PluginRef{{Name: "cors"}}}
	got := ApplyCanary(main, c)
	if len(main.Plugins) != 1 || len(got.Plugins) != 2 || got.Plugins[1].Name != "traffic-split" {
		t.Errorf("plugins: main %v, applied %v", main.Plugins, got.Plugins)
	}
	if got := ApplyCanary(main, Canary{Service: "canary"}); got != main {
		t.Error("a canary without rules changed the route")
	}
}
