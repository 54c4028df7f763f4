package ingress

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	_ "pylon.io/pylon/internal/plugins/all" // the plugins routes name, to check their configs
	"pylon.io/pylon/internal/source/kubernetes/annotations"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the translator's output")

// objects is an in-memory Lookup.
type objects struct {
	services map[string]*corev1.Service
	secrets  map[string]*corev1.Secret
}

func (o *objects) Service(ns, name string) (*corev1.Service, bool) {
	s, ok := o.services[ns+"/"+name]
	return s, ok
}

func (o *objects) Secret(ns, name string) (*corev1.Secret, bool) {
	s, ok := o.secrets[ns+"/"+name]
	return s, ok
}

// readInput decodes a multi-document YAML file of one Ingress and the
// Services and Secrets it refers to.
func readInput(t testing.TB, path string) (*networkingv1.Ingress, *objects) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sch := runtime.NewScheme()
	_ = corev1.AddToScheme(sch)
	_ = networkingv1.AddToScheme(sch)
	dec := serializer.NewCodecFactory(sch).UniversalDeserializer()
	o := &objects{services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
	var ing *networkingv1.Ingress
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch x := obj.(type) {
		case *networkingv1.Ingress:
			if x.Namespace == "" {
				x.Namespace = "default"
			}
			ing = x
		case *corev1.Service:
			if x.Namespace == "" {
				x.Namespace = "default"
			}
			o.services[x.Namespace+"/"+x.Name] = x
		case *corev1.Secret:
			if x.Namespace == "" {
				x.Namespace = "default"
			}
			if x.Data == nil {
				x.Data = map[string][]byte{}
			}
			for k, v := range x.StringData { // as the API server does
				x.Data[k] = []byte(v)
			}
			o.secrets[x.Namespace+"/"+x.Name] = x
		}
	}
	if ing == nil {
		t.Fatalf("%s: no Ingress", path)
	}
	return ing, o
}

// golden is the out file's shape.
type golden struct {
	Error    string         `json:"error,omitempty"`
	Notes    []Note         `json:"notes,omitempty"`
	Services []goldenRef    `json:"services,omitempty"`
	Canaries []goldenCanary `json:"canaries,omitempty"`
	Objects  []goldenObj    `json:"objects,omitempty"`
}

type goldenRef struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Port    string `json:"port"`
}

// goldenCanary is a canary part with what ApplyCanary makes of a main
// route (to service "main-svc") with it.
type goldenCanary struct {
	Canary  `json:",inline"`
	Applied []ir.PluginRef `json:"appliedToMain"`
}

type goldenObj struct {
	Kind     ir.Kind     `json:"kind"`
	Conflict string      `json:"conflictKey,omitempty"`
	Object   ir.Resource `json:"object"`
}

func render(res Result) golden {
	var g golden
	if res.Err != nil {
		g.Error = res.Err.Error()
	}
	g.Notes = res.Notes
	for _, c := range res.Canaries {
		main := &ir.Route{Name: "main", Backends: []ir.Backend{{Service: "main-svc"}}}
		g.Canaries = append(g.Canaries, goldenCanary{c, ApplyCanary(main, c).Plugins})
	}
	for _, s := range res.Services {
		g.Services = append(g.Services, goldenRef{s.Name, s.Namespace + "/" + s.Service, s.Port.Name + ":" + itoa(s.Port.Port)})
	}
	for _, o := range res.Objects {
		obj := goldenObj{Kind: o.ResourceKind(), Object: o}
		if r, ok := o.(*ir.Route); ok {
			obj.Conflict = ConflictKey(r)
		}
		g.Objects = append(g.Objects, obj)
	}
	return g
}

func itoa(n int32) string {
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(b))
}

func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/*.in.yaml")
	if len(ins) == 0 {
		t.Fatal("no testdata")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			ing, l := readInput(t, in)
			res := Translate(ing, l, Options{})
			if res.Err == nil {
				for _, o := range res.Objects {
					if _, cert := o.(*ir.Certificate); cert {
						continue // test certificates are placeholders
					}
					if err := o.Validate(); err != nil {
						t.Errorf("%s does not validate: %v", o.ResourceName(), err)
					}
					if r, ok := o.(*ir.Route); ok {
						for _, c := range res.Canaries {
							r = ApplyCanary(r, c)
						}
						for _, p := range r.Plugins {
							if _, err := plugin.DecodeConfig(p.Name, p.Config); err != nil {
								t.Errorf("%s: plugin %s: %v", r.Name, p.Name, err)
							}
						}
					}
				}
			} else if len(res.Objects) > 0 {
				t.Errorf("rejected Ingress returned objects")
			}
			for _, c := range res.Canaries {
				main := &ir.Route{Name: "main", Backends: []ir.Backend{{Service: "main-svc"}}}
				for _, p := range ApplyCanary(main, c).Plugins {
					if _, err := plugin.DecodeConfig(p.Name, p.Config); err != nil {
						t.Errorf("canary %s: plugin %s: %v", c.Route, p.Name, err)
					}
				}
			}
			got, err := yaml.Marshal(render(res))
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the translation (run with -update and review the diff):\n%s", out, got)
			}
		})
	}
}

// TestEveryAnnotationHasGolden keeps the golden files covering the whole
// support table.
func TestEveryAnnotationHasGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/*.in.yaml")
	var all []byte
	for _, in := range ins {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, s := range annotations.Table() {
		if !bytes.Contains(all, []byte(annotations.NginxPrefix+s.Name+":")) && !bytes.Contains(all, []byte(annotations.PylonPrefix+s.Name+":")) {
			t.Errorf("annotation %s has no golden test", s.Name)
		}
	}
}
