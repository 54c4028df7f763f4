package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pylon.io/pylon/test/testenv"
)

func runIngressCheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := ingressCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"check"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// TestIngressCheckJSON checks a directory of real-world shaped Ingresses and
// reads the verdicts a migrating user would act on.
func TestIngressCheckJSON(t *testing.T) {
	out, err := runIngressCheck(t, "-f", "../source/kubernetes/ingress/testdata", "-o", "json")
	if err != exitError(1) {
		t.Fatalf("exit = %v, want 1 (some Ingresses are rejected)", err)
	}
	var reports []ingressReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]ingressReport{}
	for _, r := range reports {
		got[r.Ingress] = r
	}
	for name, want := range map[string]string{
		"web/shop":               verdictReady,
		"default/snippets":       verdictRejected, // its snippets are refused, though the rest is served
		"default/bad-annotation": verdictRejected,
		"default/mtls":           verdictRejected,
		"default/missing-secret": verdictApproximate, // the Secret is assumed, not rejected; its host and path are served by an older Ingress
	} {
		if got[name].Verdict != want {
			t.Errorf("%s: verdict %q, want %q (%+v)", name, got[name].Verdict, want, got[name])
		}
	}
	if a := got["default/missing-secret"].Assumed; len(a) != 1 || !strings.Contains(a[0], "secret default/nope") {
		t.Errorf("assumed = %v", a)
	}
	if c := got["default/missing-secret"].Conflicts; len(c) != 1 || !strings.Contains(c[0], "served by the older Ingress default/affinity") {
		t.Errorf("conflicts = %v", c)
	}
}

func TestIngressCheckTable(t *testing.T) {
	dir := t.TempDir()
	doc := `apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: {name: web, namespace: shop, annotations: {nginx.ingress.kubernetes.io/server-snippet: "return 200;", nginx.ingress.kubernetes.io/proxy-connect-timeout: "3"}}
  spec:
    rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: ignored}
`
	if err := os.WriteFile(filepath.Join(dir, "list.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runIngressCheck(t, "-f", dir)
	if err != exitError(1) {
		t.Fatalf("exit = %v, want 1 (a snippet is refused)\n%s", err, out)
	}
	for _, want := range []string{
		"shop/web  nginx.ingress.kubernetes.io/server-snippet",
		"rejected", "injection risk",
		"nginx.ingress.kubernetes.io/proxy-connect-timeout  honoured",
		"1 Ingress(es): 0 ready, 0 approximated, 1 rejected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestIngressCheckKubernetes checks Ingresses read from a real API server:
// a Service missing there is a real rejection, not an assumption.
func TestIngressCheckKubernetes(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	prefix := networkingv1.PathTypePrefix
	mk := func(name, svc string, ann map[string]string) {
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: name + ".example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		}
		if _, err := k.Client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := k.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mk("good", "web", map[string]string{"nginx.ingress.kubernetes.io/proxy-connect-timeout": "3"})
	mk("orphan", "gone", nil)
	out, err := runIngressCheck(t, "--kubernetes", "--kubeconfig", k.Kubeconfig, "-o", "json")
	if err != exitError(1) {
		t.Fatalf("exit = %v, want 1\n%s", err, out)
	}
	var reports []ingressReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(reports) != 2 || reports[0].Ingress != "default/good" || reports[0].Verdict != verdictReady ||
		reports[1].Verdict != verdictRejected || !strings.Contains(reports[1].Error, "unknown service default/gone") {
		t.Errorf("reports = %+v", reports)
	}
}

func TestIngressAnnotationsList(t *testing.T) {
	cmd := ingressCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"annotations"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"canary-weight", "auth-tls-secret", "*-snippet", "injection risk"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// Two Ingresses for the same host and path: the check says which one the
// controller will serve, as the controller decides (the oldest).
func TestIngressCheckConflicts(t *testing.T) {
	dir := t.TempDir()
	doc := func(name, created string) string {
		return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ` + name + `, namespace: shop, creationTimestamp: "` + created + `"}
spec:
  rules:
  - host: shop.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
`
	}
	data := doc("newer", "2026-02-01T00:00:00Z") + "---\n" + doc("older", "2026-01-01T00:00:00Z")
	if err := os.WriteFile(filepath.Join(dir, "ingresses.yaml"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runIngressCheck(t, "-f", dir, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var reports []ingressReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || len(reports[1].Conflicts) != 0 || len(reports[0].Conflicts) != 1 ||
		!strings.Contains(reports[0].Conflicts[0], "served by the older Ingress shop/older") {
		t.Fatalf("reports = %+v", reports)
	}
}

// TestIngressCheckVerdicts: the verdict is the worst annotation's. A
// refused annotation makes the Ingress rejected, even a snippet the
// controller serves the rest of the Ingress without.
func TestIngressCheckVerdicts(t *testing.T) {
	for _, c := range []struct {
		name        string
		annotations string
		want        string
	}{
		{"none", `{}`, verdictReady},
		{"honoured", `{nginx.ingress.kubernetes.io/proxy-connect-timeout: "3"}`, verdictReady},
		{"approximated", `{nginx.ingress.kubernetes.io/use-regex: "true"}`, verdictApproximate},
		{"unsupported", `{nginx.ingress.kubernetes.io/no-such-annotation: "x"}`, verdictApproximate},
		{"snippet", `{nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers x;"}`, verdictRejected},
		{"snippet after an approximation", `{nginx.ingress.kubernetes.io/use-regex: "true", nginx.ingress.kubernetes.io/server-snippet: "return 200;"}`, verdictRejected},
		{"invalid value", `{nginx.ingress.kubernetes.io/proxy-connect-timeout: "soon"}`, verdictRejected},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop, annotations: ` + c.annotations + `}
spec:
  rules:
  - host: shop.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
`
			if err := os.WriteFile(filepath.Join(dir, "ingress.yaml"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runIngressCheck(t, "-f", dir, "-o", "json")
			wantErr := error(nil)
			if c.want == verdictRejected {
				wantErr = exitError(1)
			}
			if err != wantErr {
				t.Fatalf("exit = %v, want %v\n%s", err, wantErr, out)
			}
			var reports []ingressReport
			if err := json.Unmarshal([]byte(out), &reports); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(reports) != 1 || reports[0].Verdict != c.want {
				t.Errorf("reports = %+v, want verdict %q", reports, c.want)
			}
		})
	}
}
