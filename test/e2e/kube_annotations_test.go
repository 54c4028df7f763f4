package e2e

import (
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// getWith sends GET path with Host: host and extra headers ("Name", "value"
// pairs) to the HTTP listener.
func (e *kubeEnv) getWith(host, path string, kv ...string) answer {
	req, _ := http.NewRequest("GET", "http://"+e.http+path, nil)
	req.Host = host
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return doKube(&http.Client{Timeout: 3 * time.Second}, req)
}

// TestKubeAnnotations checks, through a real API server, the annotations
// that tie objects together: a canary Ingress folded into the main
// Ingress's route, and basic auth following its Secret.
func TestKubeAnnotations(t *testing.T) {
	t.Parallel()
	env := startKubeEnv(t)

	t.Run("Canary", func(t *testing.T) {
		ns := env.namespace(t, "canary")
		env.service(t, ns, "stable", 8081)
		env.service(t, ns, "preview", 8082)
		env.create(t, ingress(ns, "main", "canary.kube.test", "/", networkingv1.PathTypePrefix, "stable"))
		soon(t, "main served", func() string { return want(env.get("canary.kube.test", "/"), 200, "web1") })
		c := ingress(ns, "preview", "canary.kube.test", "/", networkingv1.PathTypePrefix, "preview")
		c.Annotations = map[string]string{
			"nginx.ingress.kubernetes.io/canary":           "true",
			"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
			"nginx.ingress.kubernetes.io/canary-weight":    "0",
		}
		env.create(t, c)
		soon(t, "header always goes to the canary", func() string {
			return want(env.getWith("canary.kube.test", "/", "X-Canary", "always"), 200, "web2")
		})
		if msg := want(env.get("canary.kube.test", "/"), 200, "web1"); msg != "" {
			t.Errorf("without the header: %s", msg)
		}
		env.update(t, ns, "preview", func(ing *networkingv1.Ingress) {
			ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = "100"
		})
		soon(t, "weight 100 sends everyone", func() string { return want(env.get("canary.kube.test", "/"), 200, "web2") })
		if msg := want(env.getWith("canary.kube.test", "/", "X-Canary", "never"), 200, "web1"); msg != "" {
			t.Errorf("header never: %s", msg)
		}
		if err := env.kube.Client.NetworkingV1().Ingresses(ns).Delete(env.ctx(), "preview", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "canary gone", func() string {
			return want(env.getWith("canary.kube.test", "/", "X-Canary", "always"), 200, "web1")
		})
	})

	t.Run("BasicAuthFollowsSecret", func(t *testing.T) {
		ns := env.namespace(t, "auth")
		env.service(t, ns, "web", 8081)
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
			Data: map[string][]byte{"auth": []byte("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")}} // secret
		if _, err := env.kube.Client.CoreV1().Secrets(ns).Create(env.ctx(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ing := ingress(ns, "guarded", "auth.kube.test", "/", networkingv1.PathTypePrefix, "web")
		ing.Annotations = map[string]string{
			"nginx.ingress.kubernetes.io/auth-type":   "basic",
			"nginx.ingress.kubernetes.io/auth-secret": "users",
		}
		env.create(t, ing)
		const alice = "Basic YWxpY2U6c2VjcmV0" // alice:secret
		soon(t, "credentials accepted", func() string { return want(env.getWith("auth.kube.test", "/", "Authorization", alice), 200, "web1") })
		if msg := want(env.get("auth.kube.test", "/"), 401, ""); msg != "" {
			t.Errorf("without credentials: %s", msg)
		}
		// A new password in the Secret takes effect without touching the Ingress.
		sec.Data["auth"] = []byte("alice:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n") // test
		if _, err := env.kube.Client.CoreV1().Secrets(ns).Update(env.ctx(), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		soon(t, "old password refused", func() string { return want(env.getWith("auth.kube.test", "/", "Authorization", alice), 401, "") })
		if msg := want(env.getWith("auth.kube.test", "/", "Authorization", "Basic YWxpY2U6dGVzdA=="), 200, "web1"); msg != "" { // alice:test
			t.Errorf("new password: %s", msg)
		}
	})
}
