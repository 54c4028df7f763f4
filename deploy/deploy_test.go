// Package deploy holds Pylon's Kubernetes manifests and Helm chart; its
// tests check that they decode as Kubernetes objects and that the RBAC
// rules grant what the controller needs and nothing more.
package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	pylonfile "pylon.io/pylon/internal/source/file"
)

// decodeAll decodes every YAML document in data with the client-go scheme,
// strictly: an unknown field or kind is an error.
func decodeAll(t *testing.T, name string, data []byte) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		obj, _, err := strictDecoder.Decode(js, nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v\n%s", name, i, err, doc)
		}
		out = append(out, obj)
	}
	return out
}

// strictDecoder refuses unknown and duplicate fields, which the default
// decoder silently drops.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

func TestManifestsDecode(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	kinds := map[string]bool{}
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, f, data) {
			kinds[o.GetObjectKind().GroupVersionKind().Kind] = true
			checkObject(t, f, o)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "IngressClass"} {
		if !kinds[k] {
			t.Errorf("deploy/ has no %s", k)
		}
	}
}

// checkObject checks what the controller relies on in the objects.
func checkObject(t *testing.T, file string, o runtime.Object) {
	t.Helper()
	switch x := o.(type) {
	case *networkingv1.IngressClass:
		if x.Spec.Controller != "pylon.io/ingress-controller" {
			t.Errorf("%s: IngressClass controller %q", file, x.Spec.Controller)
		}
	case *corev1.ConfigMap:
		data, ok := x.Data["listeners.yaml"]
		if !ok {
			t.Errorf("%s: ConfigMap %s has no listeners.yaml", file, x.Name)
		}
		entries, errs, _ := pylonfile.ParseFile("listeners.yaml", []byte(data))
		if len(errs) > 0 || len(entries) == 0 {
			t.Errorf("%s: listeners.yaml: %v (%d objects)", file, errs, len(entries))
		}
		for _, e := range entries {
			if err := e.Object.Resource.Validate(); err != nil {
				t.Errorf("%s: listeners.yaml: %v", file, err)
			}
		}
	case *appsv1.Deployment:
		c := x.Spec.Template.Spec.Containers[0]
		args := strings.Join(c.Args, " ")
		for _, want := range []string{"run", "--kubernetes", "--config=/etc/pylon/listeners.yaml", "--metrics-address=0.0.0.0:9100"} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: args %q lack %q", file, args, want)
			}
		}
		nodeName := false
		for _, e := range c.Env {
			nodeName = nodeName || e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
		}
		if !nodeName {
			t.Errorf("%s: no NODE_NAME from spec.nodeName: the gateway cannot learn its zone", file)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "ops" {
			t.Errorf("%s: readiness probe %+v, want /readyz on the ops port", file, p)
		}
	case *rbacv1.ClusterRole:
		for _, r := range x.Rules {
			for _, v := range r.Verbs {
				if v == "*" || v == "delete" || (v == "update" && !allStatus(r.Resources)) && !contains(r.Resources, "leases") {
					t.Errorf("%s: %s grants %s on %v", file, x.Name, v, r.Resources)
				}
			}
		}
	}
}

func allStatus(rs []string) bool {
	for _, r := range rs {
		if !strings.HasSuffix(r, "/status") {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// renderChart renders the Helm chart's templates with the few template
// functions it uses, as Helm would, so template and YAML mistakes fail here.
func renderChart(t *testing.T, values map[string]any) ([]byte, error) {
	t.Helper()
	dir := filepath.Join("helm", "pylon")
	var chart, vals map[string]any
	for _, f := range []struct {
		name string
		dst  *map[string]any
	}{{"Chart.yaml", &chart}, {"values.yaml", &vals}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, f.dst); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
	}
	for k, v := range values {
		vals[k] = v
	}
	tpl := template.New("chart")
	tpl.Funcs(template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := tpl.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
		},
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSpace(string(b)), err
		},
		"quote": func(v any) string {
			b, _ := yaml.Marshal(v)
			return `"` + strings.TrimSpace(strings.Trim(strings.TrimSpace(string(b)), `"'`)) + `"`
		},
		"default": func(def, v any) any {
			if v == nil || v == "" || v == false || v == 0 {
				return def
			}
			return v
		},
		"trunc": func(n int, s string) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
		"trimSuffix": func(suf, s string) string { return strings.TrimSuffix(s, suf) },
		"fail":       func(msg string) (string, error) { return "", errors.New(msg) },
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	})
	files, _ := filepath.Glob(filepath.Join(dir, "templates", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.New(filepath.Base(f)).Parse(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	data := map[string]any{
		"Values":  vals,
		"Chart":   map[string]any{"AppVersion": chart["appVersion"], "Name": chart["name"]},
		"Release": map[string]any{"Name": "pylon", "Namespace": "ingress"},
	}
	var out bytes.Buffer
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "_") {
			continue
		}
		out.WriteString("\n---\n")
		if err := tpl.ExecuteTemplate(&out, filepath.Base(f), data); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out.Bytes(), nil
}

// A namespaced Role without a watched namespace would leave the controller
// unable to list what it watches: the chart refuses it.
func TestHelmChartRefusesNamespacedRBACWithoutNamespace(t *testing.T) {
	_, err := renderChart(t, map[string]any{"rbac": map[string]any{"create": true, "namespaced": true}})
	if err == nil || !strings.Contains(err.Error(), "rbac.namespaced needs watchNamespace") {
		t.Fatalf("error %v", err)
	}
}

func TestHelmChartRenders(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"namespaced": {
			"rbac":             map[string]any{"create": true, "namespaced": true},
			"watchNamespace":   "apps",
			"publishAddresses": []any{"203.0.113.7"},
			"nodeSelector":     map[string]any{"kubernetes.io/os": "linux"},
			"ingressClass":     map[string]any{"name": "edge", "create": true, "default": true},
			"publishTo":        "etcd://etcd-0.etcd:2379,etcd-1.etcd:2379",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := renderChart(t, values)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, "chart", out)
			seen := map[string]bool{}
			nodes, pods := false, false
			for _, o := range objs {
				seen[o.GetObjectKind().GroupVersionKind().Kind] = true
				if cr, ok := o.(*rbacv1.ClusterRole); ok {
					for _, r := range cr.Rules {
						nodes = nodes || contains(r.Resources, "nodes") && contains(r.Verbs, "watch") && contains(r.Verbs, "get")
					}
				}
				var rules []rbacv1.PolicyRule
				switch r := o.(type) {
				case *rbacv1.ClusterRole:
					rules = r.Rules
				case *rbacv1.Role:
					rules = r.Rules
				}
				for _, r := range rules {
					pods = pods || contains(r.Resources, "pods") && contains(r.Verbs, "list") && contains(r.Verbs, "watch")
				}
				checkObject(t, "chart", o)
				if d, ok := o.(*appsv1.Deployment); ok && name == "namespaced" {
					args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
					for _, want := range []string{"--watch-namespace=apps", "--publish-address=203.0.113.7", "--ingress-class=edge", "--kubernetes-publish=etcd://etcd-0.etcd:2379,etcd-1.etcd:2379"} {
						if !strings.Contains(args, want) {
							t.Errorf("args %q lack %q", args, want)
						}
					}
				}
				if r, ok := o.(*rbacv1.Role); ok && name == "namespaced" && r.Name == "pylon" && r.Namespace != "apps" {
					t.Errorf("namespaced Role in %q, want apps", r.Namespace)
				}
			}
			if !nodes {
				t.Error("no ClusterRole lets the replicas read their Node (its zone)")
			}
			if !pods {
				t.Error("no Role or ClusterRole lets the replicas list and watch Pods (their pylon.io/tag label)")
			}
			for _, k := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "IngressClass"} {
				if !seen[k] {
					t.Errorf("chart renders no %s", k)
				}
			}
		})
	}
}
